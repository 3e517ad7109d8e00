"""What reaches the log: the SDK's chatter demoted, URLs without query values, never a secret.

One filter (`TapLogFilter`), on the console handlers and on the loggers that speak during a run
(the tap's, its streams', the SDK's, urllib3's), whether the tap runs as a command or in-process:

- the SDK's misleading or per-page lines (`sdk_seam.SDK_CHATTER`) become DEBUG lines;
- METRIC lines are logged at `metrics_log_level` (DEBUG by default: `LOGLEVEL=DEBUG` shows them);
- every URL in every line, at any level, loses its query values and any ``user:password@``;
- no line, at any level, holds the run's keys or tokens, in any form (`secret_forms`).

Messages that quote an error the tap did not word go through `printable` with `run_secrets()`.
"""

from __future__ import annotations

import base64
import functools
import logging
import os.path
import re
import typing as t
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from tap_aphex.sdk_seam import METRICS_LOGGER_NAME, SDK_CHATTER, SDK_METRIC_TEMPLATE, plain_logger

if t.TYPE_CHECKING:
    from collections.abc import Iterable

# --- URLs -------------------------------------------------------------------------------------

#: A URL inside free text (a log line, an exception message), up to its first space or quote,
#: or a bare path with a query (urllib3 logs `"GET /path?query HTTP/1.1"`).
_URL_IN_TEXT = re.compile(r"""(?i)https?://[^\s'"<>]+|[^\s'"<>?]*\?[^\s'"<>]+""")
_QUERY_VALUE = re.compile(r"=[^&#\s'\"]*")
#: A `;name=value` path parameter (RFC 3986 allows them in every segment): its value, or a bare one.
_PATH_PARAM = re.compile(r";([^/;=?#]*)(=[^/;?#]*)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_REDACTED = "…"


def _without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``, found as text (also in URLs urllib cannot parse): up
    to the last ``@`` (a password may hold one) between ``//`` and the next ``/?#``."""
    scheme, slashes, rest = url.partition("//")
    if not slashes:
        return url
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0], default=len(rest))
    return scheme + slashes + rest[:end].rpartition("@")[2] + rest[end:]


def safe_url(url: str) -> str:
    """``url`` without ``user:password@``, its query and ``;param`` values replaced by "…"."""
    url = _without_userinfo(url)  # first, as text: whatever else is wrong with the URL
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
    """``text`` with the query values of every URL in it replaced by "…" (credentials dropped)."""
    if "?" not in text and "@" not in text and ";" not in text:
        return text  # the common case, kept cheap: the log filter calls this for every line
    return _URL_IN_TEXT.sub(lambda match: _safe_fragment(match.group(0)), text)


def _safe_fragment(fragment: str) -> str:
    if "://" in fragment:
        return safe_url(fragment)
    path, _, query = fragment.partition("?")  # a path with a query, as urllib3 logs it
    return f"{path}?{_QUERY_VALUE.sub('=' + _REDACTED, query)}"


# --- secrets ----------------------------------------------------------------------------------

#: The run's keys and tokens, once read from the config (`remember_secrets`).
_RUN_SECRETS: tuple[str, ...] = ()
#: Shorter ones are not kept: hiding every "k" garbles a message; no real key is that short.
MIN_RUN_SECRET = 6
#: Any run of this many characters of a secret (in any of its forms) is hidden: a server echoing
#: the first characters of a key, or a 403 quoting a prefix, gives away no more than 7 of them,
#: and 8 characters of a random key do not occur in ordinary text by chance.
MIN_FRAGMENT = 8
_UPPER_HEX = re.compile(r"%[0-9A-F]{2}")


def remember_secrets(*secrets: object) -> None:
    """The run's config's keys and tokens (strings), for `run_secrets`; replace earlier ones."""
    global _RUN_SECRETS  # one run's secrets, read by every message
    kept = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_RUN_SECRET}
    _RUN_SECRETS = tuple(sorted(kept))
    _redactor(_RUN_SECRETS)  # its regex built now, once, not on the first message


def run_secrets() -> tuple[str, ...]:
    """The keys and tokens of the configs read in this process (`remember_secrets`)."""
    return _RUN_SECRETS


def secret_forms(secret: str) -> list[str]:
    """The ways a secret can appear in a message, longest first: as is, and escaped as repr() and
    bytes show it (`Invalid header value b'K3Y\\nZZQ'`); base64, standard and URL-safe, padded or
    not, at each of the three alignments (a server echoing `base64("user:" + key)`, or Basic auth,
    encodes the key from an offset); percent-encoded as `quote` (`/` kept or not) and `quote_plus`
    do, with upper- or lower-case hex digits."""
    escaped = {
        secret,
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        repr(secret.encode("latin-1", "backslashreplace"))[2:-1],
    }
    raw = secret.encode("utf-8", "surrogatepass")
    encoded: set[str] = set()
    for start in range(min(3, len(raw))):
        # From `start`, the encoding lines up with the secret's bytes as some longer text
        # (`user:key`) would encode them; its last group differs with what follows, so only
        # whole groups are kept, and fragments of them are caught by `MIN_FRAGMENT`.
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(raw[start:]).decode("ascii")
            encoded |= {text, text.rstrip("=")}
    percent = {quote(raw, safe=""), quote(raw), quote_plus(raw)}
    percent |= {_UPPER_HEX.sub(lambda m: m.group(0).lower(), form) for form in percent}
    return sorted(filter(None, escaped | encoded | percent), key=len, reverse=True)


class _Redactor:
    """Hides every form of some secrets, and every run of `MIN_FRAGMENT` characters of one.

    One compiled regex (a trie of all `MIN_FRAGMENT`-character pieces of all forms, so matching
    costs the same however many there are) finds the leftmost piece; from there the hidden span
    grows as far as the text goes on matching that form. A shorter form is hidden only whole.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # piece -> (form, where the piece starts in it), for growing a match
        self._where: dict[str, list[tuple[str, int]]] = {}
        forms = [form for secret in secrets for form in secret_forms(secret)]
        self._longest = max(map(len, forms), default=0)
        for form in forms:
            for start in range(max(1, len(form) - MIN_FRAGMENT + 1)):
                piece = form[start : start + MIN_FRAGMENT]
                self._where.setdefault(piece, []).append((form, start))
        # With no forms, a pattern that matches nothing: "(?!)".
        self._pattern = re.compile(_trie_pattern(self._where) if self._where else "(?!)")

    def sub(self, text: str) -> str:
        match = self._pattern.search(text)
        if match is None:
            return text  # the common case: one search, in C
        kept: list[str] = []
        position = 0
        while match is not None:
            begin, end = match.span()
            whole, ahead = False, text[begin : begin + self._longest]
            for form, start in self._where[match.group()]:  # how far the text goes on as it does
                grown = len(os.path.commonprefix([form[start:], ahead]))  # noqa: RUF071 (characters)
                end = max(end, begin + grown)
                whole = whole or (start == 0 and grown == len(form))
            if whole or not _inside_a_word(text, begin, end):
                kept += [text[position:begin], _REDACTED]
                position = next_search = end
            else:  # a word of the text: a piece of the secret may still begin inside it
                next_search = begin + 1
            match = self._pattern.search(text, next_search)
        kept.append(text[position:])
        return "".join(kept)


def _inside_a_word(text: str, begin: int, end: int) -> bool:
    """A piece of a secret that is a word of the text, not an echo: letters of one case only,
    and the text's word goes on past it (`redirect` of a key `secret-key-for-redirect`, in
    "redirected"). A random key's pieces mix case, digits or signs; an echoed prefix ends where
    the echo does. The whole secret is hidden even so."""
    piece = text[begin:end]
    if not (piece.isascii() and piece.isalpha() and (piece.islower() or piece.isupper())):
        return False
    before = text[begin - 1] if begin else ""
    after = text[end] if end < len(text) else ""
    return before.isalpha() or after.isalpha()


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words``, the longest where several match, as a trie: each
    position of the text costs one step per character instead of one per word."""
    root: dict[str, t.Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, t.Any]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body  # a shorter word ends here: the rest optional

    return pattern(root)


@functools.lru_cache(maxsize=64)
def _redactor(secrets: tuple[str, ...]) -> _Redactor:
    """Built once per set of secrets (the run's, a request's credentials), then reused."""
    return _Redactor(secrets)


def without_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every form (`secret_forms`) of each of ``secrets`` hidden, and every run of
    `MIN_FRAGMENT` characters or more of one of those forms."""
    if not secrets or not text:
        return text
    return _redactor(tuple(sorted({s for s in secrets if s}))).sub(text)


def printable(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """``text`` on one line: control characters gone, ``secrets`` and URL query values hidden."""
    text = _CONTROL.sub(" ", without_query_values(without_secrets(text, secrets)))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + _REDACTED


# --- the log filter ---------------------------------------------------------------------------

#: Loggers that speak during a run besides the tap's own: the SDK's, and urllib3's DEBUG request
#: lines (which carry the query string).
OTHER_LOGGERS = ("singer_sdk", METRICS_LOGGER_NAME, "urllib3.connectionpool", "urllib3.util.retry")


class TapLogFilter(logging.Filter):
    """Demotes the SDK's chatter (and, unless asked for, METRIC lines) and redacts every line."""

    def __init__(self, gate: logging.Logger, *, metrics_level: int = logging.DEBUG) -> None:
        super().__init__()
        self.gate = gate  # the tap's logger: whether DEBUG lines are wanted in this run
        self.metrics_level = metrics_level

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        if record.levelno > logging.DEBUG and (
            message in SDK_CHATTER
            or (message == SDK_METRIC_TEMPLATE and self.metrics_level == logging.DEBUG)
        ):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            if not self.gate.isEnabledFor(logging.DEBUG):
                return False
        text = record.getMessage()
        safe = without_secrets(without_query_values(text), run_secrets())
        if safe != text:
            record.msg, record.args = safe, ()
        return True


def install(tap_logger: logging.Logger) -> TapLogFilter:
    """Put the filter on the tap's logger, the SDK's and urllib3's, and the console handlers."""
    log_filter = TapLogFilter(tap_logger)
    others = [logging.getLogger(name) for name in OTHER_LOGGERS]
    attach(log_filter, [tap_logger, *others, *logging.getLogger().handlers])
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
