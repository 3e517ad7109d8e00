"""Response bodies as JSON values: one decode policy for both APIs (docs/data.md, "Decoding").

A Data API page is decoded whole, once per response (`decoded_json`); a published-plans document
(up to 32 MB) is streamed (`top_level_items`, ijson), a version built only when it is read. Before
either decoder, the bytes pass the same policy:

- The declared charset (``Content-Type: ...; charset=...``) is honoured; none is UTF-8; one
  Python does not know is a clear error. A UTF-8 byte-order mark is skipped.
- A lone UTF-16 surrogate escape (``"\\ud83d"`` without its other half: JSON grammar, but no
  character) becomes U+FFFD followed by a private-use character carrying the escape's four hex
  digits, so that the reader puts U+FFFD in the field and keeps the escape as it came.
- A container nested deeper than `DEPTH_BOUND` becomes a string of its raw text after a marker
  character, so that the reader warns; the decoders never see the depth, and memory stays bounded
  by the body's size (ijson's prefixes grow with the square of the depth).

The common case costs a few C-level passes. What is not JSON is a clear error naming the
response (`UnexpectedResponseError`), never a guess.
"""

from __future__ import annotations

import codecs
import itertools
import re
import typing as t

import ijson
import msgspec

from tap_aphex.report import UnexpectedResponseError

if t.TYPE_CHECKING:
    import requests

#: Containers nested deeper than this (the document's own object is level 1) are kept as text.
DEPTH_BOUND = 512
#: A lone surrogate's replacement in the decoded text: U+FFFD, then ``LONE_BASE + code`` where
#: code holds the surrogate (11 bits) and which of its four hex digits were upper case (4 bits).
REPLACEMENT = "\ufffd"
LONE_BASE = 0x100000  # plane 16, private use: never a character the vendor means
LONE_LAST = LONE_BASE + 0x7FFF
#: The first character of a string that holds a too-deep container's raw JSON text.
DEEP = "\U0010fffd"

_BOM = codecs.BOM_UTF8
_DEEP_BYTES = DEEP.encode()
# One escape, from its backslash: a surrogate pair (group 1 + 2, kept), a lone high (group 1
# alone), a lone low (group 3), or any other escape (consumed, so that `\\` keeps its parity).
_ESCAPE = re.compile(
    rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|u([dD][c-fC-F][0-9a-fA-F]{2})|[\s\S])"
)
_OUTSIDE = re.compile(rb'[\[\]{}"]')  # what matters between strings
_INSIDE = re.compile(rb'["\\]')  # what matters within one
_STRINGS = re.compile(rb'"[^"]*"')  # strings, once all but quotes and brackets are gone
_CONTROL = re.compile(rb"[\x00-\x1f]")
# Everything but quotes and brackets, deleted to measure the depth at C speed.
_NOT_STRUCTURE = bytes(byte for byte in range(256) if byte not in b'"[]{}')
_SQUARE = bytes.maketrans(b"{}", b"[]")  # the kind of a container does not change its depth
_DELTA = tuple(1 if byte == ord("[") else -1 if byte == ord("]") else 0 for byte in range(256))
_OPEN, _QUOTE = frozenset(b"[{"), ord('"')


class _Marks:
    """How many markers this process has put into bodies: 0 (nearly always) lets the reader skip
    looking for them altogether."""

    made = 0


def marks_made() -> int:
    """How many lone surrogates and too-deep values the decode policy has marked so far."""
    return _Marks.made


def lone_escape(marker: str) -> str:
    """The escape text (``\\ud83d``, as the vendor cased it) a lone-surrogate marker carries."""
    code = ord(marker) - LONE_BASE
    digits = f"{0xD800 + (code & 0x7FF):04x}"
    return "\\u" + "".join(
        digit.upper() if code >> (11 + place) & 1 else digit for place, digit in enumerate(digits)
    )


def _lone_replacement(hex_digits: bytes) -> bytes:
    upper = sum(1 << place for place, byte in enumerate(hex_digits) if 0x41 <= byte <= 0x46)
    code = int(hex_digits, 16) - 0xD800 | upper << 11
    _Marks.made += 1
    return (REPLACEMENT + chr(LONE_BASE + code)).encode()


def _lone_marked(match: re.Match[bytes]) -> bytes | None:
    """The marker for a lone surrogate escape; None for a pair or any other escape."""
    high, low_after, lone_low = match.groups()
    if high is not None and low_after is None:
        return _lone_replacement(high)
    if lone_low is not None:
        return _lone_replacement(lone_low)
    return None


def _marked_escape(match: re.Match[bytes]) -> bytes:
    marked = _lone_marked(match)
    return match[0] if marked is None else marked  # a pair, or any other escape: as it came


def _as_string_content(raw: bytes) -> bytes:
    """Raw JSON text as the inside of a JSON string (quotes, backslashes, controls escaped)."""
    text = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"')
    return _CONTROL.sub(lambda match: b"\\u%04x" % match[0][0], text)


class JsonFilter:
    """The decode policy's byte-level pass, fed a body chunk by chunk (or whole, once).

    It keeps only what a chunk boundary needs (inside a string or not, the depth, and the start
    of an escape cut in two), so a body of any size and depth passes in linear time with memory
    bounded by a chunk, or by the body itself when one string or too-deep value spans it.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.in_string = False
        self.capturing = False  # inside a too-deep container: its text becomes a string
        self._held = b""  # the end of the last chunk, which may cut an escape in two

    def feed(self, chunk: bytes, *, final: bool = False) -> bytes:
        """The bytes to hand to the decoder for ``chunk`` (some may wait for the next one)."""
        data = self._held + chunk
        cut = len(data) if final else _safe_cut(data)
        self._held = data[cut:]
        data = data[:cut]
        if not data:
            return b""
        if not self.capturing:
            deepest, depth, in_string = self._measure(data)
            if deepest <= DEPTH_BOUND:
                self.depth, self.in_string = depth, in_string
                return _surrogates_marked(data)
        return self._scan(data)

    def _measure(self, data: bytes) -> tuple[int, int, bool]:
        """(deepest level, level at the end, inside a string at the end) of ``data``, in C."""
        nesting, in_string = _nesting(data, in_string=self.in_string)
        end = self.depth + len(nesting) - 2 * nesting.count(b"]")
        if self.depth + nesting.count(b"[") <= DEPTH_BOUND:
            return 0, end, in_string
        levels = itertools.accumulate(map(_DELTA.__getitem__, nesting), initial=self.depth)
        return max(levels), end, in_string

    def _scan(self, data: bytes) -> bytes:
        """The exact pass, token by token: too-deep containers become strings of their text,
        lone surrogates outside them are marked."""
        out: list[bytes] = []
        last = 0  # the end of what `out` holds
        capture_from = 0 if self.capturing else -1
        depth, in_string, at = self.depth, self.in_string, 0
        while True:
            token = (_INSIDE if in_string else _OUTSIDE).search(data, at)
            if token is None:
                break
            at = token.start()
            byte = data[at]
            if byte == _QUOTE:
                in_string = not in_string
                at += 1
            elif in_string:  # a backslash: one escape
                escape = _ESCAPE.match(data, at)
                if escape is None:  # a backslash ends the body: the decoder says so
                    at += 1
                    continue
                if capture_from < 0 and (marked := _lone_marked(escape)) is not None:
                    out += (data[last:at], marked)
                    last = escape.end()
                at = escape.end()
            elif byte in _OPEN:
                depth += 1
                if depth == DEPTH_BOUND + 1 and capture_from < 0:
                    out += (data[last:at], b'"', _DEEP_BYTES)
                    capture_from = last = at
                    _Marks.made += 1
                at += 1
            else:
                if depth == DEPTH_BOUND + 1 and capture_from >= 0:
                    out += (_as_string_content(data[capture_from : at + 1]), b'"')
                    capture_from, last = -1, at + 1
                depth -= 1
                at += 1
        if capture_from >= 0:
            out.append(_as_string_content(data[capture_from:]))
        else:
            out.append(data[last:])
        self.depth, self.in_string, self.capturing = depth, in_string, capture_from >= 0
        return b"".join(out)


def _nesting(data: bytes, *, in_string: bool = False) -> tuple[bytes, bool]:
    """The brackets of ``data`` outside its strings, all as ``[`` and ``]`` (only the depth
    matters), and whether it ends inside a string; by C-level passes, no loop per byte.

    ``data`` must not end inside an escape. Escaped backslashes go, then escaped quotes; then
    all but quotes and brackets; then the strings (nearly always ``""`` by then).
    """
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
    precedes (such a quote is never inside an escape), or anywhere if it holds no backslash."""
    if b"\\" not in data[-12:]:
        return len(data)  # an escape ends before a backslash-free tail, or is in it whole
    at = len(data)
    while (at := data.rfind(b'"', 0, at)) > 0:
        if data[at - 1] != 0x5C:  # not a backslash
            return at
    # No such quote (one long string): every backslash starts an escape, so cut before the
    # first escape that reaches the last 12 bytes (the longest escape is a pair, 12 bytes).
    tail = len(data) - 12
    for escape in _ESCAPE.finditer(data):
        if escape.end() > tail:
            return escape.start()
    return max(tail, 0)


def _surrogates_marked(data: bytes) -> bytes:
    if b"\\" not in data or (b"\\ud" not in data and b"\\uD" not in data):
        return data  # the common case: one C-level search
    return _ESCAPE.sub(_marked_escape, data)


def _charset(content_type: str | None) -> str | None:
    """The charset a Content-Type declares, or None (read as UTF-8)."""
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _codec(content_type: str | None, what: str) -> str | None:
    """The codec to read the body with, or None for UTF-8 (read as it is)."""
    charset = _charset(content_type)
    if charset is None:
        return None
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        msg = (
            f"{what} declared its body's charset as {charset!r} ({content_type}), which this tap "
            "cannot read; nothing from it was used"
        )
        raise UnexpectedResponseError(msg) from None
    return None if name in ("utf-8", "utf-8-sig") else name


def prepared(content: bytes, content_type: str | None, what: str = "The API") -> bytes:
    """A whole body as the UTF-8 JSON the decoder reads, after the decode policy."""
    codec = _codec(content_type, what)
    if codec is not None:
        try:
            content = content.decode(codec).encode()
        except UnicodeError as error:
            msg = f"{what} sent a body that is not {codec} text as declared ({content_type})"
            raise UnexpectedResponseError(msg) from error
    if content.startswith(_BOM):
        content = content[len(_BOM) :]
    return JsonFilter().feed(content, final=True)


def decoded_json(response: requests.Response, what: str = "The API") -> object:
    """The body as JSON, decoded once per response (the records and the next cursor share it).

    By hand rather than the SDK's `response.json()`: that decodes every number as a Decimal and
    again for each JSONPath asked. Not JSON (or bad UTF-8) is a clear error naming the response,
    never a guess.
    """
    held = vars(response)
    if "_decoded_json" not in held:
        kind = response.headers.get("Content-Type")
        try:
            held["_decoded_json"] = msgspec.json.decode(prepared(response.content, kind, what))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            msg = (
                f"{what} answered HTTP {response.status_code} with a body that is not JSON "
                f"({kind or 'no content type'}, {len(response.content)} bytes); nothing from it "
                "was used"
            )
            raise UnexpectedResponseError(msg) from error
    return held["_decoded_json"]


class FilteredBody:
    """A file-like body (ijson reads it) whose reads pass the decode policy, chunk by chunk."""

    def __init__(self, body: t.IO[bytes], content_type: str | None, what: str) -> None:
        self._body = body
        self._what, self._content_type = what, content_type
        codec = _codec(content_type, what)
        self._codec = codec
        self._text = codecs.getincrementaldecoder(codec)() if codec else None
        self._filter = JsonFilter()
        self._head: bytes | None = b""  # the first bytes, until a BOM can be told; then None
        self._done = False

    def read(self, size: int = -1) -> bytes:
        """Up to about ``size`` filtered bytes (ijson asks 64 KiB); b"" only at the end."""
        if size == 0:
            return b""  # ijson's probe for bytes or text: nothing is consumed
        out = b""
        while not out and not self._done:
            chunk = self._body.read(size if size > 0 else 1 << 16)
            self._done = not chunk
            if self._text is not None:
                try:
                    chunk = self._text.decode(chunk, final=self._done).encode()
                except UnicodeError as error:
                    msg = (
                        f"{self._what} sent a body that is not {self._codec} text as declared "
                        f"({self._content_type})"
                    )
                    raise UnexpectedResponseError(msg) from error
            if self._head is not None:
                head = self._head + chunk
                if len(head) < len(_BOM) and not self._done:
                    self._head = head  # too short to tell a BOM yet
                    continue
                self._head = None
                chunk = head[len(_BOM) :] if head.startswith(_BOM) else head
            out = self._filter.feed(chunk, final=self._done)
        return out


#: Yielded when the list opens, so that an empty list is told from a missing one.
LIST_START = object()


def top_level_items(
    body: t.IO[bytes], list_key: str, content_type: str | None = None
) -> t.Iterator[tuple[str, t.Any]]:
    """(key, value) for each top-level member of the JSON object in ``body``, as it is read.

    The members are built whole, except the ``list_key`` list: it yields (list_key, LIST_START)
    when it opens, then (list_key, entry) for each entry, so only one entry is held at a time.
    ``content_type`` defaults to the one of ``body`` when it is an HTTP response (urllib3's).
    """
    if content_type is None:
        headers = getattr(body, "headers", None)
        content_type = headers.get("Content-Type") if headers is not None else None
    filtered = FilteredBody(body, content_type, "The Published Plans API")
    versions_item = f"{list_key}.item"
    builder: ijson.ObjectBuilder | None = None
    building = ""
    for prefix, event, value in ijson.parse(filtered, use_float=True):
        if builder is None:
            if prefix == list_key and event == "start_array":
                yield list_key, LIST_START
                continue
            if prefix == versions_item and event in ("start_map", "start_array"):
                builder, building = ijson.ObjectBuilder(), versions_item
            elif prefix == versions_item:
                yield list_key, value  # a scalar entry: not a version, still counted
                continue
            elif prefix and "." not in prefix and prefix != list_key:
                if event in ("start_map", "start_array"):
                    builder, building = ijson.ObjectBuilder(), prefix
                elif event not in ("map_key", "end_map", "end_array"):
                    yield prefix, value  # a scalar member
                    continue
            if builder is None:
                continue
        builder.event(event, value)
        if prefix == building and event in ("end_map", "end_array"):
            yield (list_key if building == versions_item else building), builder.value
            builder = None
