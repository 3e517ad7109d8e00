"""The one place tap-aphex touches the Singer SDK's internals (singer-sdk 0.54).

Everything else uses the SDK's public, documented API. Each function here says which 0.54 behaviour
it relies on, and `tests/test_sdk_seam.py` fails loudly when an SDK upgrade moves one of them. Keep
it that way: a new reach into the SDK goes here, with its one line of why, and a check in that test.
"""

from __future__ import annotations
