"""The decoding of a response body by one decode policy for both APIs (docs/data.md, "Decoding"),
and a decoded value in a message (`described`, `readable`).

`FilteredBody` hands a decoder only JSON it can hold: a Data API page whole (`decoded_json`,
msgspec), a published-plans document as it streams in (`top_level_items`, ijson). A lone surrogate
or a too-deep container becomes a marker (starting with U+FFFD), which the reader reads
(`reader.py`) and `written` turns back into what the vendor wrote.
"""

from __future__ import annotations

import codecs
import itertools
import math
import re
import typing as t
from decimal import Decimal, InvalidOperation

import ijson
import msgspec

from tap_aphex.report import UnexpectedResponseError, html_page

if t.TYPE_CHECKING:
    import requests

#: A container deeper than this (the document's own object is level 1) becomes a string of its raw
#: text after `DEEP`: the decoders never see the depth (ijson's prefixes grow with its square), nor
#: does the SDK, whose walk of each record (`pop_deselected_record_properties`) recurses about three
#: frames per object level and ends the run past about 330 at Python's default recursion limit.
DEPTH_BOUND = 200
#: An integer of this many digits or more gets ``.0``, to be read as a decimal: Python reads no int
#: of more than 4,300 digits (640 at the least, `PYTHONINTMAXSTRDIGITS`); msgspec then refuses the
#: page, and ijson's C backend crashes.
LONG_INTEGER = 640
#: A lone surrogate escape (``"\\ud83d"``: JSON grammar, but no character) becomes U+FFFD, then
#: ``LONE_BASE + code`` (group 1), where code holds the surrogate (11 bits) and which of its four
#: hex digits were upper case (4 bits).
REPLACEMENT = "\ufffd"
LONE_BASE = 0x100000  # plane 16, private use: never a character the vendor means
LONE_MARKED = re.compile(f"\ufffd([{chr(LONE_BASE)}-{chr(LONE_BASE + 0x7FFF)}])")
#: A U+FFFD the vendor sent (marked, so that no text reads as a marker), and the start of a
#: too-deep container's raw text.
LITERAL, DEEP = "\ufffd\U00108000", "\ufffd\U00108001"
_LITERAL_BYTES, _RAW_REPLACEMENT = LITERAL.encode(), REPLACEMENT.encode()
# One escape, from its backslash: a surrogate pair (group 1 + 2, kept), a lone high (group 1
# alone), a lone low (group 3), U+FFFD (group 4), or any other (consumed: `\\` keeps its parity).
_ESCAPE = re.compile(
    rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|u([dD][c-fC-F][0-9a-fA-F]{2})|u([fF]{3}[dD])|[\s\S])"
)
_MARKED_ESCAPES = (b"\\ud", b"\\uD", b"\\uf", b"\\uF")  # a surrogate's, or U+FFFD's
# What matters between strings: brackets, quotes, and a whole long integer (never part of a
# number with a fraction or an exponent, and never cut: `feed` holds a number that may go on).
_OUTSIDE = re.compile(rb'[\[\]{}"]|(?<![0-9.eE+-])-?[0-9]{%d,}(?![0-9.eE])' % LONG_INTEGER)
_INSIDE = re.compile(rb'["\\]')
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))  # others: blank
_LONG_RUN = b"0" * LONG_INTEGER  # a run of digits, once `_DIGITS` has made every digit a 0
_NUMBER_CHARACTERS = b"+-.0123456789eE"
_STRINGS = re.compile(rb'"[^"]*"')  # strings, once all but quotes and brackets are gone
_CONTROL = re.compile(rb"[\x00-\x1f]")
# Everything but quotes and brackets, deleted to measure the depth at C speed.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_SQUARE = bytes.maketrans(b"{}", b"[]")  # the kind of a container does not change its depth
_DELTA = tuple(1 if byte == ord("[") else -1 if byte == ord("]") else 0 for byte in range(256))
_OPEN, _QUOTE = frozenset(b"[{"), ord('"')
_PLANS_API = "The Published Plans API"
_BEYOND_DECIMAL = (
    "{} sent a number beyond what a decimal can hold (an exponent of 19 digits or more); nothing "
    "from that body was used. Tell Aphex (hello@aphex.co)"
)
_HEAD_LIMIT = 1 << 20  # the whitespace held while the body's first character is awaited
#: Yielded when the list opens, so that an empty list is told from a missing one.
LIST_START = object()


class _Marks:
    made = 0  # markers put into bodies by this process: 0 (nearly always) lets the reader skip


def marks_made() -> int:
    return _Marks.made


def marked(text: str) -> bool:
    """Whether ``text`` holds a marker (every marker starts with U+FFFD)."""
    return not text.isascii() and REPLACEMENT in text


def as_sent(text: str) -> str | None:
    """``text`` as the vendor wrote it, or None when it holds a lone surrogate or stands for a
    too-deep value (an id that could not be sent back)."""
    if not marked(text):
        return text
    if text.startswith(DEEP) or LONE_MARKED.search(text):
        return None
    return text.replace(LITERAL, REPLACEMENT)


def as_read(text: str) -> str:
    """``text`` as a record holds it: U+FFFD for each lone surrogate (the reader keeps the escape
    aside), a U+FFFD the vendor sent as itself."""
    return LONE_MARKED.sub(REPLACEMENT, text).replace(LITERAL, REPLACEMENT)


def unmarked(
    value: t.Any, text: t.Callable[[str, tuple[t.Any, ...], bool], str], skip: t.Container[str] = ()
) -> t.Any:
    """A copy of ``value`` (a page is never changed) in which each string that holds a marker, key
    or value, is ``text(string, its path of keys and indexes, whether it is a key)``; top-level
    keys in ``skip`` are left as they are. Iterative: a value may nest `DEPTH_BOUND` levels."""
    if value.__class__ is str:
        return text(value, (), False) if marked(value) else value
    if value.__class__ not in (dict, list):
        return value
    root = dict(value) if value.__class__ is dict else list(value)
    pending: list[tuple[t.Any, tuple[t.Any, ...]]] = [(root, ())]
    while pending:
        container, path = pending.pop()
        keys = []  # marked keys: renamed after the values, in place
        items: t.Iterable[tuple[t.Any, t.Any]]
        items = container.items() if container.__class__ is dict else enumerate(container)
        for key, item in items:
            if not path and key in skip:
                continue
            if key.__class__ is str and marked(key):
                keys.append(key)
            cls = item.__class__
            if cls is str and marked(item):
                container[key] = text(item, (*path, key), False)
            elif cls is dict or cls is list:
                container[key] = child = dict(item) if cls is dict else list(item)
                pending.append((child, (*path, key)))
        if keys:
            renamed = {
                (text(key, (*path, key), True) if key in keys else key): item
                for key, item in container.items()
            }
            container.clear()
            container.update(renamed)
    return root


def written(value: t.Any) -> t.Any:
    """``value`` (copied if it holds a marker) as the vendor wrote it, for a value not read by the
    reader: a lone surrogate as its escape as cased (``\\uD83d``), a too-deep value as raw text."""

    def as_written(text: str, _path: object, _key: bool) -> str:
        text = LONE_MARKED.sub(lambda match: _lone_escape(ord(match[1]) - LONE_BASE), text)
        return text.removeprefix(DEEP).replace(LITERAL, REPLACEMENT)

    return unmarked(value, as_written)


def _lone_escape(code: int) -> str:
    digits = f"{0xD800 + (code & 0x7FF):04x}"
    return "\\u" + "".join(
        digit.upper() if code >> (11 + place) & 1 else digit for place, digit in enumerate(digits)
    )


def _lone_marked(escape: re.Match[bytes]) -> bytes:
    """The marker for a lone surrogate escape or U+FFFD's; a pair or any other escape as it is."""
    high, low_after, lone_low, replacement = escape.groups()
    if replacement is not None:
        _Marks.made += 1
        return _LITERAL_BYTES
    hex_digits = lone_low if high is None else None if low_after else high
    if hex_digits is None:
        return escape[0]
    _Marks.made += 1
    upper = sum(1 << place for place, byte in enumerate(hex_digits) if 0x41 <= byte <= 0x46)
    return (REPLACEMENT + chr(LONE_BASE + (int(hex_digits, 16) - 0xD800 | upper << 11))).encode()


def _as_string_content(raw: bytes) -> bytes:
    """Raw JSON text as the inside of a JSON string (quotes, backslashes, controls escaped)."""
    text = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return _CONTROL.sub(lambda match: b"\\u%04x" % match[0][0], text)


def _nesting(data: bytes, *, in_string: bool = False) -> tuple[bytes, bool]:
    """The brackets of ``data`` outside its strings, all as ``[`` and ``]``, and whether it ends
    inside a string, by C-level passes (``data`` must not end inside an escape)."""
    if b"\\" in data:
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = data.translate(_SQUARE, _NOT_STRUCTURE)
    if in_string:
        structure = b'"' + structure
    bare = structure.replace(b'""', b"")
    if b'"' in bare:  # a string holds a bracket, or the data ends inside one
        bare = _STRINGS.sub(b"", structure)
        open_string = bare.find(b'"')
        if open_string >= 0:
            return bare[:open_string], True
    return bare, False


def _safe_cut(data: bytes) -> int:
    """Where ``data`` can be cut with no escape in two: before its last quote that no backslash
    precedes, or at the end if the last 12 bytes (the longest escape, a pair) hold no backslash."""
    if b"\\" not in data[-12:]:
        return len(data)
    at = len(data)
    while (at := data.rfind(b'"', 0, at)) > 0:
        if data[at - 1] != 0x5C:  # not a backslash
            return at
    # No such quote (one long string): every backslash starts an escape, so cut before the
    # first escape that reaches the last 12 bytes.
    tail = len(data) - 12
    for escape in _ESCAPE.finditer(data):
        if escape.end() > tail:
            return escape.start()
    return max(tail, 0)


def _charset(content_type: str | None) -> str | None:
    """The charset a Content-Type declares, or None (read as UTF-8). Two different ones come back
    together ("latin-1, utf-8"): no codec has that name, so the body is refused, not guessed at."""
    parameters = (part.partition("=") for part in (content_type or "").split(";")[1:])
    declared = (
        value.strip().strip("\"'")
        for name, _, value in parameters
        if name.strip().lower() == "charset"
    )
    return ", ".join(dict.fromkeys(filter(None, declared))) or None


class FilteredBody:
    """One body through the decode policy, fed whole (`feed`) or read by ijson (`read`), keeping
    only what a chunk boundary needs: memory is bounded by a chunk (or one string or deep value)."""

    def __init__(
        self, content_type: str | None, what: str, body: t.IO[bytes] | None = None
    ) -> None:
        self._body, self._what, self.content_type = body, what, content_type
        charset = _charset(content_type)
        try:
            codec = codecs.lookup(charset or "utf-8").name
            "{}".encode(codec)  # a text encoding that can carry JSON (not base64, rot13, zlib)
        except (LookupError, UnicodeError):
            msg = (
                f"{what} declared its body's charset as {charset!r} ({content_type}), which "
                "this tap cannot read; nothing from it was used"
            )
            raise UnexpectedResponseError(msg) from None
        self._codec = None if codec in ("utf-8", "utf-8-sig") else codec  # None: read as it is
        self._text = codecs.getincrementaldecoder(self._codec)() if self._codec else None
        self._head: bytes | None = b""  # the first bytes, until a BOM can be told; then None
        self._held = b""  # the end of the last chunk, which may cut an escape in two
        self.depth = 0
        self.in_string = False
        self.capturing = False  # inside a too-deep container: its text becomes a string
        self._done = False

    def feed(self, chunk: bytes, *, final: bool) -> bytes:
        """The bytes to hand to the decoder for ``chunk`` (some may wait for the next one)."""
        if self._text is not None:
            try:
                chunk = self._text.decode(chunk, final=final).encode()
            except UnicodeError as error:
                msg = (
                    f"{self._what} sent a body that is not {self._codec} text as declared "
                    f"({self.content_type})"
                )
                raise UnexpectedResponseError(msg) from error
        if self._head is not None:
            chunk = self._head + chunk
            start = chunk.removeprefix(codecs.BOM_UTF8).lstrip()
            if not final and (
                len(chunk) < len(codecs.BOM_UTF8) or (not start and len(chunk) < _HEAD_LIMIT)
            ):
                self._head = chunk  # too short to tell a BOM, or the body's first character, yet
                return b""
            self._head = None
            chunk = chunk.removeprefix(codecs.BOM_UTF8)
            if start[:1] == b"<":  # markup, never JSON: refused before more is read
                raise UnexpectedResponseError(not_json(self._what, self.content_type, "", chunk))
        data = self._held + chunk
        cut = len(data) if final else _safe_cut(data)
        data, self._held = data[:cut], data[cut:]
        partial = 2 if data.endswith(b"\xef\xbf") else 1 if data.endswith(b"\xef") else 0
        if partial and not final:
            # Perhaps a U+FFFD cut in two: it goes with the next chunk.
            data, self._held = data[:-partial], data[-partial:] + self._held
        if _RAW_REPLACEMENT in data:  # a U+FFFD the vendor sent: marked, as it is no marker
            data = data.replace(_RAW_REPLACEMENT, _LITERAL_BYTES)
            _Marks.made += 1
        if not data:
            return b""
        exact = self.capturing  # inside a too-deep value, or (below) one may start here
        if not exact:
            nesting, in_string = _nesting(data, in_string=self.in_string)
            if not final and not in_string:
                data = self._hold_number(data)
            levels = itertools.accumulate(map(_DELTA.__getitem__, nesting), initial=self.depth)
            # A run of LONG_INTEGER digits, found at C speed, may be a long integer.
            exact = max(levels) > DEPTH_BOUND or data.translate(_DIGITS).find(_LONG_RUN) >= 0
            if not exact:  # the common case: no token-by-token pass
                self.depth += len(nesting) - 2 * nesting.count(b"]")
                self.in_string = in_string
        if exact:
            data = self._scan(data, final=final)
        if b"\\" in data and any(escape in data for escape in _MARKED_ESCAPES):
            data = _ESCAPE.sub(_lone_marked, data)
        return data

    def _hold_number(self, data: bytes) -> bytes:
        """``data`` less a number (or ``true``'s ``e``) it ends with outside a string, which may
        go on in the next chunk: held, so that no number is ever cut in two."""
        kept = data.rstrip(_NUMBER_CHARACTERS)
        self._held = data[len(kept) :] + self._held
        return kept

    def read(self, size: int = -1) -> bytes:
        """Up to about ``size`` filtered bytes (ijson asks 64 KiB); b"" only at the end."""
        if size == 0 or self._body is None:  # ijson's probe for bytes or text; a body only fed
            return b""
        out = b""
        while not out and not self._done:
            chunk = self._body.read(size if size > 0 else 1 << 16)
            self._done = not chunk
            out = self.feed(chunk, final=self._done)
        return out

    def _scan(self, data: bytes, *, final: bool) -> bytes:
        """The exact pass, token by token, for data that goes too deep or has long integers (its
        escapes are marked after it, as in the common case)."""
        out: list[bytes] = []
        last = 0  # the end of what `out` holds
        capture_from = 0 if self.capturing else -1
        depth, in_string, at = self.depth, self.in_string, 0
        while (token := (_INSIDE if in_string else _OUTSIDE).search(data, at)) is not None:
            start, at = token.span()  # one byte, or a long integer
            if at - start > 1:
                if at == len(data) and not final:
                    break  # it may go on in the next chunk: held below
                if capture_from < 0:  # in a too-deep value it is text anyway
                    out += (data[last:at], b".0")
                    last = at
            elif data[start] == _QUOTE:
                in_string = not in_string
            elif in_string:  # a backslash: its escape's next byte is no quote or backslash
                at += 1
            elif data[start] in _OPEN:
                depth += 1
                if depth == DEPTH_BOUND + 1 and capture_from < 0:
                    out += (data[last:start], b'"', DEEP.encode())
                    capture_from = last = start
                    _Marks.made += 1
            else:
                if depth == DEPTH_BOUND + 1 and capture_from >= 0:
                    out += (_as_string_content(data[capture_from:at]), b'"')
                    capture_from, last = -1, at
                depth -= 1
        rest = data[last:]
        if capture_from < 0 and not in_string and not final:
            rest = self._hold_number(rest)
        out.append(_as_string_content(data[capture_from:]) if capture_from >= 0 else rest)
        self.depth, self.in_string, self.capturing = depth, in_string, capture_from >= 0
        return b"".join(out)


def json_float(literal: str | Decimal) -> float | Decimal:
    """A number with a fraction or an exponent (msgspec's text of it, ijson's Decimal) as a float;
    beyond a float's range (``1e400``: msgspec refuses the page, ijson the document), its exact
    Decimal, which the writers write as that number. Too small for a float: 0.0, as in any decoder.
    An exponent of 19 digits or more no decimal holds: `InvalidOperation`, a clear error."""
    value = float(literal)
    return Decimal(literal) if math.isinf(value) else value


_PAGE_DECODER = msgspec.json.Decoder(float_hook=json_float)


def decoded_json(response: requests.Response, what: str = "The API") -> object:
    """The body as JSON, decoded once per response (the records and the next cursor share it),
    not by the SDK's `response.json()`, which makes every number a Decimal, for each JSONPath."""
    held = vars(response)
    if "_decoded_json" not in held:
        kind = response.headers.get("Content-Type")
        try:
            body = FilteredBody(kind, what).feed(response.content, final=True)
            held["_decoded_json"] = _PAGE_DECODER.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            size = f"{len(response.content)} bytes"
            raise UnexpectedResponseError(not_json(what, kind, size)) from error
        except InvalidOperation as error:
            raise UnexpectedResponseError(_BEYOND_DECIMAL.format(what)) from error
    return held["_decoded_json"]


def top_level_items(body: t.IO[bytes], list_key: str) -> t.Iterator[tuple[str, t.Any]]:
    """(key, value) for each top-level member of the JSON object in ``body`` (its ``headers`` give
    the Content-Type), built whole as it is read; but the ``list_key`` list yields LIST_START when
    it opens, then each entry, so that only one entry is held at a time."""
    headers = getattr(body, "headers", None)
    filtered = FilteredBody(headers.get("Content-Type") if headers else None, _PLANS_API, body)
    entry = f"{list_key}.item"
    builder: ijson.ObjectBuilder | None = None
    building = name = ""
    try:
        for prefix, event, value in ijson.parse(filtered):
            if value.__class__ is Decimal:  # ijson's exact number: see `json_float`
                value = json_float(value)
            if builder is None:
                if prefix == list_key:
                    if event == "start_array":
                        yield list_key, LIST_START
                    continue
                if prefix != entry and (not prefix or "." in prefix):
                    continue  # the document's own object, or inside a member being skipped
                name = list_key if prefix == entry else prefix
                if event not in ("start_map", "start_array"):
                    yield name, value  # a scalar member, or entry (not a version, still counted)
                    continue
                builder, building = ijson.ObjectBuilder(), prefix
            builder.event(event, value)
            if prefix == building and event in ("end_map", "end_array"):
                yield name, builder.value
                builder = None
    except ijson.JSONError as error:
        # yajl's message: bytes, its first line the error, the next ones the body's bytes.
        words = error.args[0] if error.args else ""
        words = words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)
        where = readable(" ".join(words.strip().split("\n", 1)[0].split()) or "no detail", 120)
        raise UnexpectedResponseError(not_json(_PLANS_API, filtered.content_type, where)) from error
    except InvalidOperation as error:
        raise UnexpectedResponseError(_BEYOND_DECIMAL.format(_PLANS_API)) from error


def not_json(what: str, content_type: str | None, detail: str, head: bytes = b"") -> str:
    """A body that is not JSON, in one wording for both APIs (``detail``: the decoder's words or
    the body's size); an HTML page is said to be one."""
    if page := html_page(content_type, head):
        return f"{what} answered with {page}. Nothing from it was used."
    return (
        f"{what} answered with a body that is not JSON ({content_type or 'no Content-Type'}; "
        f"{detail}); nothing from it was used. If it persists, check any proxy in between, or "
        "tell Aphex (hello@aphex.co)."
    )


# A decoded value in a message: JSON's words, never Python's (None, True, Decimal('1E+400')).
_JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object"}
_AS_JSON = msgspec.json.Encoder(decimal_format="number")
# At the end of a cut text: an escape's backslash (after an even run of escaped backslashes) and
# what came of the escape, so that a cut never leaves half of ``\ud83d`` or ``\"``.
_CUT_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\(?:u[0-9a-fA-F]{0,3})?\Z")


def described(value: object, width: int = 60, *, wire: bool = False) -> str:
    """A decoded value for a message, in JSON's words: its type, then its JSON text (its start,
    and how long it is, when longer than ``width``). ``wire``: straight from the decode policy,
    whose markers are shown as what the vendor wrote (a lone surrogate as ``\\ud83d``)."""
    if value is None:
        return "null"
    if value.__class__ is float and not math.isfinite(value):  # from a state file: JSON has none
        return f"number {value!r}".replace("inf", "Infinity").replace("nan", "NaN")
    try:
        text = _AS_JSON.encode(value).decode()
    except (TypeError, UnicodeError, RecursionError):  # a lone surrogate, from a state file
        text = ascii(value)
    text = readable(written(text) if wire else text, width)
    if value.__class__ is Decimal:  # json_float: only beyond a float's range
        return f"the number {text} (beyond a float's range)"
    return f"{_JSON_TYPES.get(value.__class__, 'list')} {text}"


def readable(text: str, width: int = 60) -> str:
    """Text (an id, a cursor, a value's JSON text) for a message: when longer than ``width``, its
    start (never half an escape) and its length. Text off the wire goes through `written` first."""
    if len(text) <= width:
        return text
    start = _CUT_ESCAPE.sub(r"\1", text[:width])
    return f"{start}… ({len(text)} characters)"
