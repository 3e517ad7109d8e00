"""Errors a user can act on: each message says what went wrong and what to do.

They subclass the SDK's ``FatalAPIError`` so the SDK stops the stream instead of retrying, and the
CLI prints them as one line (no traceback, never a secret).
"""

from __future__ import annotations

from singer_sdk.exceptions import FatalAPIError


class AphexError(FatalAPIError):
    """A failure the user can fix; its message is safe to print."""


class AuthenticationError(AphexError):
    """The API refused the credentials."""


class CursorRejectedError(AphexError):
    """The Data API refused the ``startAfter`` cursor we sent."""


class UnexpectedResponseError(AphexError):
    """A response that is not the documented JSON."""


class PaginationLoopError(AphexError):
    """The Data API returned events but no way forward."""


class ProjectsFailedError(AphexError):
    """Some published-plans projects could not be read; the others landed."""
