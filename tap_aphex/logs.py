"""What reaches the log: the SDK's chatter demoted, URLs without query values, never a secret.

`TapLogFilter`, on the console handlers and every logger that speaks during a run, demotes the
SDK's misleading or per-page lines (`sdk_seam.SDK_CHATTER`) and METRIC lines to DEBUG, strips
every URL's query values and ``user:password@``, hides the run's keys and tokens in any form
(`redaction.py`), and puts every line on one line (`one_line`). Errors the tap did not word go
through `printable` with `run_secrets()`.
"""

from __future__ import annotations

import logging
import re
import typing as t
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

from tap_aphex.redaction import run_secrets, without_secrets
from tap_aphex.sdk_seam import METRICS_LOGGER_NAME, SDK_CHATTER, SDK_METRIC_TEMPLATE, plain_logger

#: A URL in text, up to a space or quote, or a path with a query (urllib3: `"GET /p?q HTTP/1.1"`).
# A URL in prose: punctuation right after it (";", ",", ".", ")") is the sentence's, not the URL's.
# A path is tried from its first character only: from every one, a long word took quadratic time.
_URL_IN_TEXT = re.compile(
    r"""(?i)https?://[^\s'"<>]*[^\s'"<>;,.)]"""
    r"""|(?<![^\s'"<>?])[^\s'"<>?]*\?[^\s'"<>]*[^\s'"<>;,.)]"""
)
_QUERY_VALUE = re.compile(r"=[^&#\s'\"]*")
#: A `;name=value` path parameter (RFC 3986 allows one in every segment), or a bare `;name`.
_PATH_PARAM = re.compile(r";([^/;=?#]*)(=[^/;?#]*)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_REDACTED = "…"


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``, cut as text so that URLs urllib cannot parse lose it
    too: up to the last ``@`` (a password may hold one) before the first ``/?#``."""
    scheme, slashes, rest = url.partition("//")
    if not slashes:
        return url
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0], default=len(rest))
    return scheme + slashes + rest[:end].rpartition("@")[2] + rest[end:]


def safe_url(url: str) -> str:
    """``url`` without ``user:password@``, its query and ``;param`` values replaced by "…"."""
    url = _without_userinfo(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL we can take apart: show none of its query nor parameters
        return re.split(r"[?;#]", url, maxsplit=1)[0]
    netloc = f"[{host}]{port}" if ":" in host else f"{host}{port}"
    path = _PATH_PARAM.sub(_param_without_value, parts.path)
    query = _QUERY_VALUE.sub("=" + _REDACTED, parts.query)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _param_without_value(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if not name and value is None:
        return ";"  # a bare `;` (prose after a URL) carries nothing
    return f";{name}={_REDACTED}" if value is not None else f";{_REDACTED}"


def url_credentials(url: str) -> str | None:
    """What in ``url`` carries credentials (``user:password@``, a query, ``;`` parameters)."""
    if _without_userinfo(url) != url:
        return "a user name or password (user:password@)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.query:
        return "a query string"
    return "path parameters (;name=value)" if ";" in parts.path else None


def without_query_values(text: str) -> str:
    """``text`` with every URL in it made `safe_url`."""
    if "?" not in text and "@" not in text and ";" not in text:
        return text  # cheap: the log filter calls this for every line
    return _URL_IN_TEXT.sub(lambda match: _safe_fragment(match.group(0)), text)


def _safe_fragment(fragment: str) -> str:
    if "://" in fragment:
        return safe_url(fragment)
    path, _, query = fragment.partition("?")  # a path with a query, as urllib3 logs it
    return f"{path}?{_QUERY_VALUE.sub('=' + _REDACTED, query)}"


def printable(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """``text`` on one line: control characters gone, ``secrets`` and URL query values hidden."""
    text = _CONTROL.sub(" ", without_query_values(without_secrets(text, secrets)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + _REDACTED


class TapLogFilter(logging.Filter):
    """Demotes the SDK's chatter (and, unless asked for, METRIC lines) and redacts every line."""

    metrics_level = logging.DEBUG  # the tap sets it from `metrics_log_level`

    def __init__(self, gate: logging.Logger) -> None:
        super().__init__()
        self.gate = gate  # the tap's logger: whether this run wants DEBUG lines

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG and (
            record.msg in SDK_CHATTER
            or (record.msg == SDK_METRIC_TEMPLATE and self.metrics_level == logging.DEBUG)
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not self.gate.isEnabledFor(logging.DEBUG):
                return False
        text = record.getMessage()
        safe = one_line(without_secrets(without_query_values(text), run_secrets()))
        if safe != text:
            record.msg, record.args = safe, ()
        return True


def one_line(text: str) -> str:
    """A message on one line: a control character a server sent (in an id, a key) shown as its
    escape, so that it neither forges a log line nor recolours a terminal (a tab stays)."""
    if text.isprintable():  # nearly always: one pass at C speed
        return text
    return _LINE_CONTROL.sub(lambda m: _ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), text)


_LINE_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def install(tap_logger: logging.Logger) -> TapLogFilter:
    """Put the filter on the tap's logger, the SDK's and urllib3's, and the console handlers."""
    log_filter = TapLogFilter(tap_logger)
    # urllib3's DEBUG request lines carry the query string.
    names = ("singer_sdk", METRICS_LOGGER_NAME, "urllib3.connectionpool", "urllib3.util.retry")
    attach(log_filter, [tap_logger, *map(logging.getLogger, names), *logging.getLogger().handlers])
    return log_filter


def attach(
    log_filter: TapLogFilter,
    targets: Iterable[logging.Logger | logging.LoggerAdapter[t.Any] | logging.Handler],
) -> None:
    """Attach ``log_filter`` (e.g. to each stream's logger), replacing an earlier tap's filter."""
    for given in targets:
        # A stream's logger may be an adapter (SDK 0.55): the filter goes on the logger inside.
        target = given if isinstance(given, logging.Handler) else plain_logger(given)
        for old in [f for f in target.filters if isinstance(f, TapLogFilter)]:
            target.removeFilter(old)
        target.addFilter(log_filter)
