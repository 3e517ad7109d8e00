"""No secret in any form, and URLs without query values, in the log (`TapLogFilter`, which also
demotes the SDK's chatter), errors the tap did not word (`printable`) and Airbyte messages."""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import os.path
import quopri
import re
import typing as t
import unicodedata
from collections.abc import Iterable, Mapping
from urllib.parse import quote_plus, urlsplit, urlunsplit

from tap_aphex.sdk_seam import METRICS_LOGGER_NAME, SDK_CHATTER, SDK_METRIC_TEMPLATE, plain_logger

_REDACTED = "…"

#: A URL in text, or a path with a query (urllib3: `"GET /p?q HTTP/1.1"`); punctuation after it is
#: the sentence's. A path is tried from its first character only: from every one was quadratic.
_URL_IN_TEXT = re.compile(
    r"""(?i)https?://[^\s'"<>]*[^\s'"<>;,.)]"""
    r"""|(?<![^\s'"<>?])[^\s'"<>?]*\?[^\s'"<>]*[^\s'"<>;,.)]"""
)
_QUERY_VALUE = re.compile(r"=[^&#\s'\"]*")
#: `;name=value` or `;name` (RFC 3986 allows one in every path segment); a bare `;` is prose's.
_PATH_PARAM = re.compile(r";(?:([^/;=?#]*=)[^/;?#]*|[^/;=?#]+)")
#: `user:password@`: after the first `//`, to the last `@` before `/?#`; cut as text, so a URL
#: urllib cannot parse loses it too.
_USERINFO = re.compile(r"(?s)^((?:(?!//).)*//)[^/?#]*@")


def safe_url(url: str) -> str:
    """``url`` without ``user:password@``, its query and ``;param`` values replaced by "…"."""
    url = _USERINFO.sub(r"\1", url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL we can take apart: show none of its query nor parameters
        return re.split(r"[?;#]", url, maxsplit=1)[0]
    netloc = f"[{host}]{port}" if ":" in host else f"{host}{port}"
    path = _PATH_PARAM.sub(rf";\1{_REDACTED}", parts.path)  # the name stays (an unmatched \1: "")
    query = _QUERY_VALUE.sub("=" + _REDACTED, parts.query)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def url_credentials(url: str) -> str | None:
    """What in ``url`` carries credentials (``user:password@``, a query, ``;`` parameters)."""
    if _USERINFO.match(url):
        return "a user name or password (user:password@)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.query:
        return "a query string"
    return "path parameters (;name=value)" if ";" in parts.path else None


def without_query_values(text: str) -> str:
    if "?" not in text and "@" not in text and ";" not in text:
        return text  # cheap: the log filter calls this for every line
    return _URL_IN_TEXT.sub(lambda match: safe_url(match[0]), text)


_RUN_SECRETS: tuple[str, ...] = ()
#: Shorter ones are not kept: hiding every "k" garbles a message; no real key is that short.
MIN_RUN_SECRET = 6
#: Any run this long of a secret's form is hidden: an echoed prefix gives away at most 7
#: characters, and 8 of a random key do not occur in ordinary text by chance.
MIN_FRAGMENT = 8


def remember_secrets(*secrets: str) -> None:
    """The run's keys and tokens, as `settings.config_secrets` keeps them, replacing any."""
    global _RUN_SECRETS
    _RUN_SECRETS = secrets
    _Redactor(secrets)  # built now, not on the first message


def run_secrets() -> tuple[str, ...]:
    return _RUN_SECRETS


def secret_forms(secret: str) -> dict[str, int]:
    """The ways a message can show a secret, each with the step between its pieces searched for.
    Escaped only where the search's reading of references leaves it (`\\n`); a byte referenced
    alone is one character (`%E2%82%AC`: 3), so its bytes read as Latin-1 stand for them all."""
    forms = {secret, secret.upper(), repr(secret)[1:-1]}  # upper-cased: `ß` as `SS`
    forms |= {unicodedata.normalize(form, secret) for form in ("NFC", "NFD")}  # `Ä` or `A` + `¨`
    dumps: dict[str, int] = {}
    raws = [secret.encode("utf-8", "surrogatepass")]
    if not secret.isascii() and max(map(ord, secret)) < 256:  # as a header carries it (`ü`: 1 byte)
        raws.append(secret.encode("latin-1"))
    for raw in raws:
        forms |= {raw.decode("latin-1"), quote_plus(raw), quopri.encodestring(raw).decode()}
        for encode, alignments in (
            (base64.b64encode, 3),  # at each alignment: Basic auth encodes "user:" before it
            (base64.urlsafe_b64encode, 3),
            (base64.b32encode, 1),  # no protocol base32-encodes a key after other text
        ):
            for start in range(min(alignments, len(raw))):
                # The last group depends on what follows: `MIN_FRAGMENT` catches the rest.
                text = encode(raw[start:]).decode("ascii")
                forms |= {text, text.rstrip("=")}
        dumps |= {raw.hex(): 2, "0x" + raw.hex(" ").replace(" ", " 0x"): 5}
        dumps |= {raw.hex(separator): 3 for separator in " :-"}
    dumps[secret.encode("utf-16-be", "surrogatepass").hex()] = 4
    return {form: 1 for form in forms if form} | dumps


@functools.lru_cache(maxsize=64)  # one per set of secrets (the run's, a request's credentials)
class _Redactor:
    """Hides every form of some secrets, and every `MIN_FRAGMENT` run of one: pieces looked up
    at each position (not slower for more), each span grown as far as the text follows."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._where: dict[str, list[tuple[str, int]]] = {}  # piece -> [(form, its start there)]
        # In any case: a server may echo a key upper-cased (an error page, a normalised header).
        # Hex pieces start at every byte only: a third to a fifth as many to build and keep.
        steps = {f.translate(_FOLD).lower(): n for s in secrets for f, n in secret_forms(s).items()}
        self._longest = max(map(len, steps), default=0)
        for form, step in steps.items():
            for start in range(0, max(1, len(form) - MIN_FRAGMENT + 1), step):
                piece = form[start : start + MIN_FRAGMENT]
                self._where.setdefault(piece, []).append((form, start))
        # Pieces are `MIN_FRAGMENT` long, but a short secret's forms whole: longest tried first.
        self._lengths = sorted({len(piece) for piece in self._where}, reverse=True)

    def sub(self, text: str) -> str:
        spans = self._spans(text)
        # And with its character references read, twice at most (`%5CU0000004b`: encoded again).
        # `starts`: where in ``text`` each character of `decoded` starts, and where ``text`` ends.
        decoded, starts = text, list(range(len(text) + 1))
        for _ in range(2):
            if not _REFERENCE.search(decoded):
                break
            chars, inner = [], []
            for match in _REFERENCE_OR_CHARACTER.finditer(decoded):  # matches tile the text
                kind = match.lastgroup  # the reference's, or None for a plain character
                code = int(match[kind], {"o": 8, "d": 10}.get(kind, 16)) if kind else ord(match[0])
                chars.append(chr(code) if code <= 0x10FFFF else "\ufffd")
                inner.append(starts[match.start()])
            decoded, starts = "".join(chars), [*inner, len(text)]
            spans += [(starts[begin], starts[end]) for begin, end in self._spans(decoded)]
        kept: list[str] = []
        position = 0
        for begin, end in sorted(spans):  # overlapping or touching spans: one "…"
            if not kept or begin > position:
                kept += [text[position:begin], _REDACTED]
            position = max(position, end)
        return "".join([*kept, text[position:]])

    def _spans(self, text: str) -> list[tuple[int, int]]:
        folded = text.translate(_FOLD).lower()  # searched; its offsets are the text's
        spans = []
        begin = 0
        while begin < len(folded):
            for length in self._lengths:
                if (piece := folded[begin : begin + length]) in self._where:
                    break
            else:
                begin += 1
                continue
            end, whole, ahead = begin + len(piece), False, folded[begin : begin + self._longest]
            for form, start in self._where[piece]:
                grown = len(os.path.commonprefix([form[start:], ahead]))  # noqa: RUF071 (characters)
                end = max(end, begin + grown)
                whole = whole or (start == 0 and grown == len(form))
            # One-case letters inside a longer word are no echo (`redirect` of a key that holds
            # it, in "redirected"): a random key's pieces mix case, digits or signs.
            in_a_word = re.fullmatch("[a-z]+|[A-Z]+", text[begin:end]) and (
                text[begin - 1 : begin].isalpha() or text[end : end + 1].isalpha()
            )
            if whole or not in_a_word:
                spans.append((begin, end))
                begin = end
            else:  # a piece of the secret may still begin inside the word
                begin += 1
        return spans


#: Character references echoed keys come in: JSON and Python escapes (their backslash doubled
#: as JSON quotes them, or not), HTML ones, percent-encoded bytes (`%` encoded again, or not).
_REFERENCE = re.compile(
    r"\\+(?:u(?P<u>[0-9a-fA-F]{4})|U(?P<U>[0-9a-fA-F]{8})|x(?P<x>[0-9a-fA-F]{2})|(?P<o>[0-7]{3}))"
    r"|&#(?:[xX](?P<hx>[0-9a-fA-F]{1,8})|(?P<d>[0-9]{1,10}));?|%(?:25)?(?P<p>[0-9a-fA-F]{2})"
)
_REFERENCE_OR_CHARACTER = re.compile(_REFERENCE.pattern + "|(?s:.)")


#: One letter case, a character for a character (so offsets stay the text's): these are the
#: letters lower() leaves apart, makes two of ("İ") or lowers by place (Σ ends a word as ς).
_FOLD = str.maketrans("\u0130\u0131\u017f\u212a\u03a3\u03c2", "iisk\u03c3\u03c3")


def without_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    if not secrets or not text:
        return text
    return _Redactor(tuple(sorted({s for s in secrets if s}))).sub(text)


#: What would break a line, recolour a terminal, or reorder or hide what it shows (bidi controls,
#: zero-width characters); a tab stays.
_CONTROL = re.compile(
    "[\x00-\x08\x0a-\x1f\x7f-\x9f\xad\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def one_line(text: str) -> str:
    """Control characters a server sent as escapes: no forged log line, no recoloured terminal."""
    return _CONTROL.sub(lambda m: json.dumps(m[0])[1:-1], text)  # as JSON escapes it: `\\n`


def redacted(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Every line the tap writes: no secret (the run's, ``secrets``), no URL query value."""
    return without_query_values(without_secrets(text, run_secrets() + secrets))


def printable(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    text = _CONTROL.sub(" ", redacted(text, secrets))
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
        safe = one_line(redacted(text))
        if safe != text:
            record.msg, record.args = safe, ()
        return True


def install(tap_logger: logging.Logger) -> TapLogFilter:
    log_filter = TapLogFilter(tap_logger)
    # urllib3's DEBUG request lines carry the query string; the root's handlers: the console.
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


def log_level(env: Mapping[str, str]) -> tuple[str, int | None]:
    """The log level's variable as the SDK reads it (empty is unset), and its level if any."""
    variable = "TAP_APHEX_LOGLEVEL" if env.get("TAP_APHEX_LOGLEVEL") else "LOGLEVEL"
    level = logging.getLevelName(str(env.get(variable)).upper())  # unset: "NONE", no level
    return variable, level if isinstance(level, int) else None  # no level: "Level <name>"


def log_level_problem(env: Mapping[str, str]) -> str | None:
    """A log level naming no level (the SDK's error names neither; an empty LOGLEVEL is one)."""
    variable, level = log_level(env)
    if level is None and (value := env.get(variable)) is not None:
        # Read before any config: a longer value may be a key pasted in the wrong variable.
        said = json.dumps(value) if len(value) < MIN_FRAGMENT else f"a {len(value)}-character text"
        return f"`{variable}` must be DEBUG, INFO, WARNING or ERROR (or unset: INFO), not {said}."
    return None
