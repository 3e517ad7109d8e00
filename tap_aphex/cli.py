"""The `tap-aphex` command: the SDK's CLI, with errors a user can act on printed as one line."""

from __future__ import annotations

import logging
import sys

from tap_aphex.errors import AphexError
from tap_aphex.tap import TapAphex


def main() -> None:
    """Run the tap; an `AphexError` ends it with its message and exit code 1, no traceback."""
    try:
        TapAphex.cli()
    except AphexError as error:
        logging.getLogger(TapAphex.name).error("%s", error)
        sys.exit(1)
