"""What reaches the log, and every message: no secret in any form, URLs without query values.

`TapLogFilter` (on the console handlers and every logger that speaks in a run) hides both in each
line, puts it on one line, and demotes the SDK's chatter and METRIC lines to DEBUG. Errors the
tap did not word go through `printable`; Airbyte messages through its writer.
"""

from __future__ import annotations

import base64
import functools
import logging
import os.path
import re
import typing as t
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

from tap_aphex.sdk_seam import METRICS_LOGGER_NAME, SDK_CHATTER, SDK_METRIC_TEMPLATE, plain_logger

_REDACTED = "…"

#: A URL in text, up to a space or quote, or a path with a query (urllib3: `"GET /p?q HTTP/1.1"`).
# A URL in prose: punctuation right after it (";", ",", ".", ")") is the sentence's, not the URL's.
# A path is tried from its first character only: from every one, a long word took quadratic time.
_URL_IN_TEXT = re.compile(
    r"""(?i)https?://[^\s'"<>]*[^\s'"<>;,.)]"""
    r"""|(?<![^\s'"<>?])[^\s'"<>?]*\?[^\s'"<>]*[^\s'"<>;,.)]"""
)
_QUERY_VALUE = re.compile(r"=[^&#\s'\"]*")
#: A `;name=value` path parameter (RFC 3986 allows one in every segment), or a bare `;name`.
_PATH_PARAM = re.compile(r";(?:([^/;=?#]*)=[^/;?#]*|[^/;=?#]+)")


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
    # `;name=value` keeps its name; a bare `;` (prose after a URL) carries nothing and stays.
    path = _PATH_PARAM.sub(
        lambda param: f";{param[1]}={_REDACTED}" if param[1] is not None else ";" + _REDACTED,
        parts.path,
    )
    query = _QUERY_VALUE.sub("=" + _REDACTED, parts.query)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


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


_RUN_SECRETS: tuple[str, ...] = ()
#: Shorter ones are not kept: hiding every "k" garbles a message; no real key is that short.
MIN_RUN_SECRET = 6
#: Any run this long of a secret's form is hidden: an echoed prefix gives away at most 7
#: characters, and 8 of a random key do not occur in ordinary text by chance.
MIN_FRAGMENT = 8


def remember_secrets(*secrets: object) -> None:
    """The run's keys and tokens from its config, for `run_secrets`; replace earlier ones."""
    global _RUN_SECRETS  # one run's secrets, read by every message
    kept = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_RUN_SECRET}
    _RUN_SECRETS = tuple(sorted(kept))
    _redactor(_RUN_SECRETS)  # build its regex now, not on the first message


def run_secrets() -> tuple[str, ...]:
    return _RUN_SECRETS


def secret_forms(secret: str) -> list[str]:
    """The ways a secret can appear in a message, longest first: as is; escaped as repr() and
    bytes show it (`b'K3Y\\nZZQ'`); its bytes in hex (`_byte_dumps`); base64 and base32 at each
    alignment, since Basic auth or an echoed `base64("user:" + key)` encodes it from an offset;
    percent-encoded. Letter case is the search's (`_folded`); character references (`\\u004b`,
    `&#75;`, `%4B`) it reads first (`_references_read`)."""
    escaped = {
        secret,
        secret.upper(),  # upper-cased, when that is longer or another letter (ß: SS, micro: mu)
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        repr(secret.encode("latin-1", "backslashreplace"))[2:-1],
    }
    raw = secret.encode("utf-8", "surrogatepass")
    encoded = {form for form, _ in _byte_dumps(secret)}
    for encode, alignments in (
        (base64.b64encode, 3),
        (base64.urlsafe_b64encode, 3),
        (base64.b32encode, 1),  # no protocol base32-encodes a key after other text
    ):
        for start in range(min(alignments, len(raw))):
            # The last group depends on what follows the secret; `MIN_FRAGMENT` catches the rest.
            text = encode(raw[start:]).decode("ascii")
            encoded |= {text, text.rstrip("=")}
    percent = {quote(raw, safe=""), quote(raw), quote_plus(raw)}
    return sorted(filter(None, escaped | encoded | percent), key=len, reverse=True)


def _byte_dumps(secret: str) -> list[tuple[str, int]]:
    """Its bytes written out in hex (bare, spaced, ``0x``-prefixed, its UTF-16), each with the
    width one byte (or UTF-16 unit) takes: an echo of whole bytes starts on that width."""
    pairs = [f"{byte:02x}" for byte in secret.encode("utf-8", "surrogatepass")]
    dumps = [("".join(pairs), 2)]
    dumps += [(separator.join(pairs), 3) for separator in (" ", ":", "-")]
    dumps.append((" ".join(f"0x{pair}" for pair in pairs), 5))
    dumps.append((secret.encode("utf-16-be", "surrogatepass").hex(), 4))
    return dumps


class _Redactor:
    """Hides every form of some secrets (a shorter one only whole), and every run of `MIN_FRAGMENT`
    characters of one: a trie regex of all forms' pieces (its cost does not grow with their
    number) finds the leftmost, and the span hidden grows as far as the text follows that form."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # piece -> (form, where the piece starts in it), for growing a match
        self._where: dict[str, list[tuple[str, int]]] = {}
        # In any case: a server may echo a key upper-cased (an error page, a normalised header).
        # A piece at every character; of a hex dump, at every byte only (a third to a fifth of
        # the pieces: the regex for 200 projects' tokens is built in a second, not in six).
        steps = {_folded(form): 1 for secret in secrets for form in secret_forms(secret)}
        steps |= {_folded(form): width for s in secrets for form, width in _byte_dumps(s)}
        self._longest = max(map(len, steps), default=0)
        for form, step in steps.items():
            for start in range(0, max(1, len(form) - MIN_FRAGMENT + 1), step):
                piece = form[start : start + MIN_FRAGMENT]
                self._where.setdefault(piece, []).append((form, start))
        # "(?!)" never matches: there is nothing to hide.
        self._pattern = re.compile(_trie_pattern(self._where) if self._where else "(?!)")

    def sub(self, text: str) -> str:
        spans = self._spans(text)
        # And as the text reads with its character references read, twice over at most (a
        # reference that a proxy or a JSON body encoded again: `%5CU0000004b`).
        decoded, starts = text, list(range(len(text) + 1))
        for _ in range(2):
            if not _REFERENCE.search(decoded):
                break
            decoded, inner = _references_read(decoded)
            starts = [starts[at] for at in inner]
            spans += [(starts[begin], starts[end]) for begin, end in self._spans(decoded)]
        kept: list[str] = []
        position = 0
        for begin, end in sorted(spans):  # overlapping or touching spans: one "…"
            if not kept or begin > position:
                kept += [text[position:begin], _REDACTED]
            position = max(position, end)
        return "".join([*kept, text[position:]])

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` shows a secret, each span as far as the text follows the form."""
        folded = _folded(text)  # searched; its offsets are the text's
        match = self._pattern.search(folded)
        spans = []
        while match is not None:
            begin, end = match.span()
            whole, ahead = False, folded[begin : begin + self._longest]
            for form, start in self._where[match.group()]:
                grown = len(os.path.commonprefix([form[start:], ahead]))  # noqa: RUF071 (characters)
                end = max(end, begin + grown)
                whole = whole or (start == 0 and grown == len(form))
            if whole or not _inside_a_word(text, begin, end):
                spans.append((begin, end))
                next_search = end
            else:  # a word of the text: a piece of the secret may still begin inside it
                next_search = begin + 1
            match = self._pattern.search(folded, next_search)
        return spans


#: A character reference: a JSON or Python escape (its backslash itself escaped or not, as an
#: escape quoted in JSON is), an HTML one (padded, with or without its `;`), a percent-encoded
#: byte (or its `%` encoded again). Echoed keys come in these, whole or mixed with plain ones.
_REFERENCE = re.compile(
    r"\\+(?:u(?P<u>[0-9a-fA-F]{4})|U(?P<U>[0-9a-fA-F]{8})|x(?P<x>[0-9a-fA-F]{2})|(?P<o>[0-7]{3}))"
    r"|&#(?:[xX](?P<hx>[0-9a-fA-F]{1,8})|(?P<d>[0-9]{1,10}));?|%(?:25)?(?P<p>[0-9a-fA-F]{2})"
)
_REFERENCE_OR_CHARACTER = re.compile(_REFERENCE.pattern + "|(?s:.)")
_BASES = {"u": 16, "U": 16, "x": 16, "o": 8, "hx": 16, "d": 10, "p": 16}


def _references_read(text: str) -> tuple[str, list[int]]:
    """``text`` with its character references read, and where in ``text`` each character of
    that starts (and, last, where ``text`` ends: a character ends where the next starts)."""
    chars: list[str] = []
    starts: list[int] = []
    for match in _REFERENCE_OR_CHARACTER.finditer(text):
        kind = match.lastgroup  # the reference's, or None for a plain character
        code = int(match[kind], _BASES[kind]) if kind else ord(match[0])
        chars.append(chr(code) if code <= 0x10FFFF else "\ufffd")
        starts.append(match.start())
    return "".join(chars), [*starts, len(text)]


# The letters lower() leaves apart from their plain one, makes two characters of ("İ") or lowers
# by their place (Σ ends a word as ς): a Turkish upper case, a long s, the Kelvin sign, sigma.
_FOLD = str.maketrans("\u0130\u0131\u017f\u212a\u03a3\u03c2", "iisk\u03c3\u03c3")


def _folded(text: str) -> str:
    """``text`` in one letter case, a character for a character (offsets stay the text's)."""
    return text.translate(_FOLD).lower()


def _inside_a_word(text: str, begin: int, end: int) -> bool:
    """A piece that is part of a word of the text, not an echo: letters of one case, the word
    going on past it (`redirect` of the key `secret-key-for-redirect`, in "redirected"). A random
    key's pieces mix case, digits or signs. The whole secret is hidden even so."""
    piece = text[begin:end]
    if not (piece.isascii() and piece.isalpha() and (piece.islower() or piece.isupper())):
        return False
    return text[begin - 1 : begin].isalpha() or text[end : end + 1].isalpha()


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching the longest of ``words``, as a trie: one step per character, not word."""
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
    """Built once per set of secrets (the run's, a request's credentials)."""
    return _Redactor(secrets)


def without_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every form of ``secrets``, and every `MIN_FRAGMENT` run of one, hidden."""
    if not secrets or not text:
        return text
    return _redactor(tuple(sorted({s for s in secrets if s}))).sub(text)


#: What would break a line or recolour a terminal (a tab stays): C0 and C1 controls, and the
#: Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_ESCAPES = {"\n": "\\n", "\r": "\\r"}


def one_line(text: str) -> str:
    """A message on one line: a control character a server sent (in an id, a key) shown as its
    escape, so that it neither forges a log line nor recolours a terminal."""
    if text.isprintable():  # nearly always: one pass at C speed
        return text
    return _CONTROL.sub(lambda m: _ESCAPES.get(m[0], f"\\u{ord(m[0]):04x}"), text)


def printable(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """``text`` on one line of at most ``limit`` characters, its whitespace and control
    characters made single spaces, ``secrets`` and URL query values hidden."""
    text = _CONTROL.sub(" ", without_query_values(without_secrets(text, secrets)))
    text = " ".join(text.split())  # a tab and the line separators too: split() takes them
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
