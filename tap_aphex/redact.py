"""Text that is safe to print: URLs without credentials or query values, bodies without secrets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

#: A URL inside free text (a log line, an exception message), up to its first space or quote,
#: or a bare path with a query (urllib3 logs `"GET /path?query HTTP/1.1"`).
_URL_IN_TEXT = re.compile(r"""(?i)https?://[^\s'"<>]+|[^\s'"<>?]*\?[^\s'"<>]+""")
_QUERY_VALUE = re.compile(r"=[^&#\s'\"]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_REDACTED = "…"


def safe_url(url: str) -> str:
    """``url`` with any ``user:password@`` dropped and every query value replaced by "…"."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL we can take apart: show none of its query
        return url.split("?", 1)[0]
    netloc = f"[{host}]{port}" if ":" in host else f"{host}{port}"
    query = _QUERY_VALUE.sub("=" + _REDACTED, parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def url_credentials(url: str) -> str | None:
    """What in ``url`` carries credentials (``user:password@``, a query string), or None."""
    try:
        parts = urlsplit(url)
        has_userinfo = bool(parts.username or parts.password)
    except ValueError:
        return None
    if has_userinfo:
        return "a user name or password (user:password@)"
    if parts.query:
        return "a query string"
    return None


def without_query_values(text: str) -> str:
    """``text`` with the query values of every URL in it replaced by "…" (credentials dropped)."""
    if "?" not in text and "@" not in text:
        return text  # the common case, kept cheap: log filters call this for every line
    return _URL_IN_TEXT.sub(lambda match: _safe_fragment(match.group(0)), text)


def _safe_fragment(fragment: str) -> str:
    if "://" not in fragment:  # a path with a query, as urllib3 logs it
        path, _, query = fragment.partition("?")
        return f"{path}?{_QUERY_VALUE.sub('=' + _REDACTED, query)}"
    return safe_url(fragment)


def printable(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """``text`` on one line: control characters gone, ``secrets`` and URL query values hidden."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)
    text = _CONTROL.sub(" ", without_query_values(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + _REDACTED
