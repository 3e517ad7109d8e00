"""One decode policy for both APIs (docs/data.md, "Decoding"): `FilteredBody` hands msgspec and
ijson only JSON they can hold, marked for the reader. Then a decoded value in a message."""

from __future__ import annotations

import codecs
import itertools
import json
import math
import re
import typing as t
from decimal import Decimal, InvalidOperation

import ijson
import msgspec

from tap_aphex.report import UnexpectedResponseError, html_page

#: A container past DEPTH_BOUND (the document's own object is level 1) becomes a string of its raw
#: text after `DEEP`: ijson's prefixes grow with the square of the depth, and the SDK's record walk
#: (`pop_deselected_record_properties`) ends the run past about 330. An integer of LONG_INTEGER
#: digits gets ``.0``, read as a decimal: msgspec refuses a longer int, ijson's C backend crashes.
DEPTH_BOUND, LONG_INTEGER = 200, 640
REPLACEMENT = "\ufffd"
#: A lone surrogate in a Python text (a config's `"\ud83d"`, an environment's undecodable byte).
SURROGATE = re.compile("[\ud800-\udfff]")
#: A text that holds one is never shown (as `config_checks` refuses it): said what it is instead.
LONE_SURROGATE = "a lone UTF-16 surrogate (half an emoji, or a byte no UTF-8 has)"


def holds_lone_surrogate(text: object) -> bool:  # a value, a name
    return isinstance(text, str) and SURROGATE.search(text) is not None


#: Markers: U+FFFD and a private-use character (a U+FFFD the vendor sent is marked too, so that no
#: text reads as one); a lone surrogate escape (``\\ud83d``: JSON, but no character), then its hex.
LONE, LITERAL, DEEP = "\ufffd\U00108002", "\ufffd\U00108000", "\ufffd\U00108001"
LONE_MARKED = re.compile(LONE + "([0-9a-fA-F]{4})")
# One escape, from its backslash: a surrogate pair (kept: its low half's start is enough), a lone
# surrogate (group 1), U+FFFD (group 2), or any other (consumed, so that `\\` keeps its parity).
_ESCAPE = re.compile(rb"\\(?:u(?i:d[89ab][\da-f]{2}\\ud[c-f]|(d[89a-f][\da-f]{2})|(fffd))|[\s\S])")
# A chunk is cut only after a delimiter (whitespace or ``,:[]{}``), which no number, escape or
# UTF-8 character holds: each pass below sees every one whole.
_IN_TOKEN = bytes(byte for byte in range(256) if byte not in b" \t\n\r,:[]{}")
# The exact pass's tokens outside strings and in (a long integer: never a fraction's or exponent's).
_OUTSIDE = re.compile(rb'[\[\]{}"]|(?<![0-9.eE+-])-?[0-9]{%d,}(?![0-9.eE])' % LONG_INTEGER)
_INSIDE = re.compile(rb'["\\]')
_DIGITS = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))  # others: blank
# The common pass measures the depth at C speed: all but quotes and brackets deleted, then strings.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_STRINGS = re.compile(rb'"[^"]*"')
_DELTA = tuple(1 if byte in b"[{" else -1 if byte in b"]}" else 0 for byte in range(256))
_CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([^;\"']*)", re.IGNORECASE)  # in a Content-Type
LIST_START = object()  # `top_level_items`


def as_written(text: str) -> str:
    """``text`` as the vendor wrote it: a lone surrogate as its escape, a too-deep value raw."""
    return LONE_MARKED.sub(r"\\u\1", text).removeprefix(DEEP).replace(LITERAL, REPLACEMENT)


def _lone_marked(escape: re.Match[bytes]) -> bytes:
    if escape.lastindex is None:  # no group: a pair, or any other escape, stays as it is
        return escape[0]
    return LONE.encode() + escape[1] if escape[1] else LITERAL.encode()


def _as_string_content(raw: bytes) -> bytes:
    text = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return re.sub(rb"[\x00-\x1f]", lambda match: b"\\u%04x" % match[0][0], text)


class FilteredBody:
    """One body through the decode policy, fed whole (`feed`) or read by ijson (`read`), keeping
    only what a chunk boundary needs: memory is bounded by a chunk (or one token or deep value)."""

    marks = 0  # bodies this process put a marker in: 0 (nearly always) lets the reader skip

    def __init__(self, kind: str | None, what: str, body: t.IO[bytes] | None = None) -> None:
        self._body, self.what, self.content_type = body, what, kind
        # Two different charsets ("latin-1, utf-8") make a name no codec has: refused, not guessed.
        declared = dict.fromkeys(value.strip() for value in _CHARSET.findall(kind or ""))
        charset = ", ".join(filter(None, declared)) or None
        try:
            codec = codecs.lookup(charset or "utf-8").name
            "{}".encode(codec)  # a text encoding that can carry JSON (not base64, rot13, zlib)
        except (LookupError, UnicodeError):
            raise UnexpectedResponseError(
                f"{what} declared its body's charset as {charset!r} ({kind}), which "
                "this tap cannot read; nothing from it was used"
            ) from None
        self._codec = None if codec in ("utf-8", "utf-8-sig") else codec  # None: read as it is
        self._text = codecs.getincrementaldecoder(self._codec)() if self._codec else None
        self.head: bytes | None = None  # the body's first characters: a message tells markup
        self._held: list[bytes] = []  # after the last delimiter; parts: joined once, not per chunk
        self.depth, self.in_string = 0, False  # past DEPTH_BOUND: inside a too-deep value

    def feed(self, chunk: bytes, *, final: bool) -> bytes:
        """The bytes to hand to the decoder for ``chunk`` (some may wait for the next one)."""
        if self._text is not None:
            try:
                chunk = self._text.decode(chunk, final=final).encode()
            except UnicodeError as error:  # refused as any body no decoder holds
                detail = f"bytes that are not {self._codec} text, as declared"
                raise refused(self, error, detail, unused=False) from error
        kept = len(chunk) if final else len(chunk.rstrip(_IN_TOKEN))  # `_held` has no delimiter
        if not kept and not final:
            self._held.append(chunk)
            return b""
        data, self._held = b"".join([*self._held, chunk[:kept]]), [chunk[kept:]]
        if self.head is None:  # the body's first bytes: a BOM is skipped
            data = data.removeprefix(codecs.BOM_UTF8)
        self.head = self.head or data.lstrip()[:5]
        data = data.replace(b"\xef\xbf\xbd", LITERAL.encode())  # a U+FFFD the vendor sent
        # The common pass: brackets outside strings, by C-level passes.
        structure = data.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in data else data
        structure = structure.translate(None, _NOT_STRUCTURE)
        if self.in_string:
            structure = b'"' + structure
        nesting = structure.replace(b'""', b"")
        if b'"' in nesting:  # a string holds a bracket, or the data ends inside one
            nesting = _STRINGS.sub(b"", structure)
        nesting, in_string, _ = nesting.partition(b'"')  # a quote left: ends inside a string
        levels = itertools.accumulate(map(_DELTA.__getitem__, nesting), initial=self.depth)
        # A run of LONG_INTEGER digits (each made a 0), found at C speed, may be a long integer.
        if max(levels) > DEPTH_BOUND or b"0" * LONG_INTEGER in data.translate(_DIGITS):
            data = self._scan(data)  # inside a too-deep value too: the depth starts past the bound
        else:  # the common case: no token-by-token pass
            self.depth += len(nesting) - 2 * (nesting.count(b"]") + nesting.count(b"}"))
            self.in_string = bool(in_string)
        if b"\\" in data and any(e in data for e in (b"\\ud", b"\\uD", b"\\uf", b"\\uF")):
            data = _ESCAPE.sub(_lone_marked, data)
        FilteredBody.marks += b"\xef\xbf\xbd" in data  # every marker starts with U+FFFD
        return data

    def read(self, size: int) -> bytes:
        """Up to about ``size`` filtered bytes (ijson asks 64 KiB); b"" only at the end."""
        if size == 0 or self._body is None:  # ijson's probe for bytes or text; a body only fed
            return b""
        out = b""
        while not out and (chunk := self._body.read(size)):
            out = self.feed(chunk, final=False)
        return out or self.feed(b"", final=True)

    def _scan(self, data: bytes) -> bytes:
        """The exact pass, token by token, for data that goes too deep or has a long integer."""
        out: list[bytes] = []
        last = at = 0  # `last`: the end of what `out` holds
        capture_from = 0 if self.depth > DEPTH_BOUND else -1  # a too-deep value from the start
        while (token := (_INSIDE if self.in_string else _OUTSIDE).search(data, at)) is not None:
            start, at = token.span()  # one byte, or a long integer
            if at - start > 1:
                if capture_from < 0:  # in a too-deep value it is text anyway
                    out += (data[last:at], b".0")
                    last = at
            elif data[start] == ord('"'):
                self.in_string = not self.in_string
            elif self.in_string:  # a backslash: its escape's next byte is no quote or backslash
                at += 1
            elif data[start] in b"[{":
                self.depth += 1
                if self.depth == DEPTH_BOUND + 1:  # never while capturing: that is deeper
                    out += (data[last:start], b'"', DEEP.encode())
                    capture_from = last = start
            else:
                if self.depth == DEPTH_BOUND + 1:  # the bracket that closes the captured value
                    out += (_as_string_content(data[capture_from:at]), b'"')
                    capture_from, last = -1, at
                self.depth -= 1
        out.append(_as_string_content(data[capture_from:]) if capture_from >= 0 else data[last:])
        return b"".join(out)


def json_float(literal: str | Decimal) -> float | Decimal:
    """A number with a fraction or an exponent as a float; beyond a float's range (``1e400``, which
    msgspec and ijson refuse) its exact Decimal; past what a decimal holds: `InvalidOperation`."""
    value = float(literal)
    return Decimal(literal) if math.isinf(value) else value


def top_level_items(body: t.IO[bytes], list_key: str) -> t.Iterator[tuple[str, t.Any]]:
    """(key, value) for each top-level member of the JSON object in ``body`` (its ``headers`` give
    the Content-Type), built whole as it is read; but the ``list_key`` list yields LIST_START when
    it opens (an empty list is no missing one), then each entry: one entry is held at a time."""
    kind = (getattr(body, "headers", None) or {}).get("Content-Type")
    filtered = FilteredBody(kind, "The Published Plans API", body)
    entry = f"{list_key}.item"
    builder: ijson.ObjectBuilder | None = None
    entries = 0  # yielded: each went out as read (its project's failure says what landed)
    try:
        for prefix, event, value in ijson.parse(filtered):
            if value.__class__ is Decimal:  # ijson's exact number: see `json_float`
                value = json_float(value)
            if builder is None and prefix == list_key:
                if event == "start_array":
                    yield list_key, LIST_START
            elif builder is None and (prefix == entry or (prefix and "." not in prefix)):
                # A member or an entry (not the document's own object), scalar or not: built whole
                builder, building = ijson.ObjectBuilder(), prefix
            if builder is not None:
                builder.event(event, value)
                # Its own events are its opening, its keys and its end (or the scalar itself).
                if prefix == building and event not in ("start_map", "start_array", "map_key"):
                    entries += building == entry  # an entry, a version or not, counts
                    yield (list_key if building == entry else building), builder.value
                    builder = None
    except (ijson.JSONError, InvalidOperation) as error:
        # yajl's message: bytes, its first line the error, the next ones the body's bytes.
        words = error.args[0] if error.args else ""
        words = words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)
        where = readable(" ".join(words.strip().split("\n", 1)[0].split()) or "no detail", 120)
        raise refused(filtered, error, where, unused=not entries) from error


def refused(
    body: FilteredBody, error: Exception, detail: str, *, unused: bool = True
) -> UnexpectedResponseError:
    """A body no decoder holds, in one wording for both APIs (``detail``: the decoder's words)."""
    what, kind = body.what, body.content_type or "no Content-Type"
    nothing_used = "; nothing from it was used" if unused else ""
    if isinstance(error, InvalidOperation):  # `json_float`
        said = "sent a number beyond what a decimal can hold (an exponent of 19 digits or more)"
        return UnexpectedResponseError(f"{what} {said}{nothing_used}. Tell Aphex (hello@aphex.co)")
    if page := html_page(body.content_type, body.head or b""):
        return UnexpectedResponseError(f"{what} answered with {page}{nothing_used}.")
    return UnexpectedResponseError(
        f"{what} answered with a body that is not JSON ({kind}; {detail}){nothing_used}. If it "
        "persists, check any proxy in between, or tell Aphex (hello@aphex.co)."
    )


JSON_WORDS = {  # JSON's words for a type, by Python's, msgspec's or JSON Schema's name
    **{"str": "a string", "string": "a string", "bool": "a boolean", "boolean": "a boolean"},
    **{"int": "a number", "float": "a number", "number": "a number", "integer": "a whole number"},
    "Decimal": "a number",  # json_float's, or the SDK's reading of a variable's JSON
    **{"dict": "an object", "object": "an object", "list": "an array", "array": "an array"},
    **{"NoneType": "null", "null": "null"},
}
_AS_JSON = msgspec.json.Encoder(decimal_format="number")
# At the end of a cut text: an escape's backslash (after an even run of escaped backslashes) and
# what came of the escape, so that a cut never leaves half of ``\ud83d`` or ``\"``.
_CUT_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\(?:u[0-9a-fA-F]{0,3})?\Z")


class KeyTwice(ValueError):
    """A JSON object holding a key twice, with different values: readers keep one, unsaid."""


def each_key_once(pairs: list[tuple[str, t.Any]]) -> dict[str, t.Any]:
    """`json.loads`' object_pairs_hook: refuses a key twice (alike is harmless: PyAirbyte's)."""
    read: dict[str, t.Any] = {}
    for key, value in pairs:
        held = read.get(key, value)  # a key's first value is held as itself
        # Written alike: NaN is NaN (one object, as `json` reads it), 1 is not true nor 1.0.
        if held is not value and (held != value or type(held) is not type(value)):
            raise KeyTwice(f"the key {json.dumps(key)} twice in one object, with different values")
        read[key] = value
    return read


def json_kind(value: object) -> str:
    return JSON_WORDS[type(value).__name__]


def described(value: object, width: int = 60, *, wire: bool = False) -> str:
    """A decoded value for a message: its JSON type, then its JSON text (`readable`). ``wire``:
    straight from the decode policy, its markers shown as the vendor wrote them (``\\ud83d``)."""
    try:  # msgspec writes NaN and Infinity (a state file's: JSON has none) as null; json by name
        finite = value.__class__ is not float or math.isfinite(value)
        text = _AS_JSON.encode(value).decode() if finite else json.dumps(value)
    except (TypeError, UnicodeError, RecursionError):  # a lone surrogate, from a state file
        text = ascii(value)
    text = readable(as_written(text) if wire else text, width)
    if value.__class__ is Decimal and math.isinf(float(value)):  # as json_float makes one
        return f"the number {text} (beyond a float's range)"
    return text if value is None else f"{json_kind(value)} {text}"


def listed(names: t.Sequence[str], last: str = "and") -> str:
    """Names in a sentence: "a", "a and b", "a, b and c" (``last``: "or", say)."""
    return f" {last} ".join(filter(None, [", ".join(names[:-1]), *names[-1:]]))


def first_few(names: t.Sequence[str], shown: int = 3) -> str:
    """`listed`, past ``shown`` names the count of the rest: "a, b, c and 297 more"."""
    rest = len(names) - shown
    return listed([*names[:shown], f"{rest} more"] if rest > 0 else names)


def readable(text: str, width: int = 60) -> str:
    """Text for a message (from the wire: `as_written` first), cut past ``width`` to its start."""
    if len(text) <= width:
        return text
    start = _CUT_ESCAPE.sub(r"\1", text[:width])
    return f"{start}… ({len(text)} characters)"


def seconds(value: float, *, up: bool = False) -> str:
    """Seconds in a message, to the hundredth (`2`, `0.96`): ``up`` for a wait, down for what is
    left, so that "a 0.01 s wait, more than the 0 s left" stays true however close they are."""
    hundredths = round(value * 100, 6)  # 0.99 * 100 is 98.99999999999999
    return f"{(math.ceil if up else math.floor)(hundredths) / 100:.2f}".rstrip("0").rstrip(".")
