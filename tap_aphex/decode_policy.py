"""The decode policy: what a response body's bytes become before a JSON decoder reads them.

One policy for both APIs (docs/data.md, "Decoding"), applied by `FilteredBody` to a Data API page
whole and to a published-plans document as it streams in:

- The declared charset is honoured (none: UTF-8; an unknown one: a clear error); a BOM is skipped.
- A lone UTF-16 surrogate escape (``"\\ud83d"``: JSON grammar, but no character) becomes U+FFFD
  and a private-use character carrying the escape, so that the reader can keep it as it came.
  U+FFFD is the markers' escape character: one the vendor sent is marked too (`LITERAL`), so
  that no text the vendor wrote can be taken for a marker.
- A container nested deeper than `DEPTH_BOUND` becomes a string of its raw text after a marker,
  so the decoders never see the depth (ijson's prefixes grow with its square) and the reader warns.
- An integer of `LONG_INTEGER` digits or more gets ``.0`` after it, so that the decoders read it
  as a decimal (`decoding.json_float`): Python reads no int of more than 4,300 digits (640 at the
  least, `PYTHONINTMAXSTRDIGITS`), msgspec then refuses the page and ijson's C backend crashes.
"""

from __future__ import annotations

import codecs
import itertools
import re
import typing as t

from tap_aphex.report import UnexpectedResponseError

#: Containers nested deeper than this (the document's own object is level 1) are kept as text.
DEPTH_BOUND = 512
#: A lone surrogate's marker (`LONE_MARKED`): U+FFFD, then ``LONE_BASE + code`` (group 1) where
#: code holds the surrogate (11 bits) and which of its four hex digits were upper case (4 bits).
REPLACEMENT = "\ufffd"
LONE_BASE = 0x100000  # plane 16, private use: never a character the vendor means
LONE_MARKED = re.compile(f"\ufffd([{chr(LONE_BASE)}-{chr(LONE_BASE + 0x7FFF)}])")
#: A U+FFFD the vendor sent, and the start of a string holding a too-deep container's raw text.
LITERAL, DEEP = "\ufffd\U00108000", "\ufffd\U00108001"
_LITERAL_BYTES, _RAW_REPLACEMENT = LITERAL.encode(), REPLACEMENT.encode()

_BOM = codecs.BOM_UTF8
# One escape, from its backslash: a surrogate pair (group 1 + 2, kept), a lone high (group 1
# alone), a lone low (group 3), U+FFFD (group 4), or any other escape (consumed, so that `\\`
# keeps its parity).
_ESCAPE = re.compile(
    rb"\\(?:u([dD][89abAB][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|u([dD][c-fC-F][0-9a-fA-F]{2})|u([fF]{3}[dD])|[\s\S])"
)
#: Integers of this many digits or more are read as decimals (see above).
LONG_INTEGER = 640
# What matters between strings: brackets, quotes, and a whole long integer (never part of a
# number with a fraction or an exponent, and never cut: `feed` holds a number that may go on).
_OUTSIDE = re.compile(rb'[\[\]{}"]|(?<![0-9.eE+-])-?[0-9]{%d,}(?![0-9.eE])' % LONG_INTEGER)
_INSIDE = re.compile(rb'["\\]')  # what matters within one
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
_MARKED_ESCAPES = (b"\\ud", b"\\uD", b"\\uf", b"\\uF")  # a surrogate's, or U+FFFD's


class _Marks:
    made = 0  # markers put into bodies by this process: 0 (nearly always) lets the reader skip


def marks_made() -> int:
    return _Marks.made


def marked(text: str) -> bool:
    """Whether ``text`` holds a marker: a lone surrogate, a U+FFFD the vendor sent, or a too-deep
    value it stands for (every marker starts with U+FFFD)."""
    return not text.isascii() and REPLACEMENT in text


def as_sent(text: str) -> str | None:
    """``text`` as the vendor wrote it, if it is text: None when it holds a lone surrogate or
    stands for a too-deep value (an id that could not be sent back)."""
    if not marked(text):
        return text
    if text.startswith(DEEP) or LONE_MARKED.search(text):
        return None
    return text.replace(LITERAL, REPLACEMENT)


def as_read(text: str) -> str:
    """``text`` as a record holds it: each lone surrogate U+FFFD (the reader keeps the escape
    aside), a U+FFFD the vendor sent as itself."""
    return LONE_MARKED.sub(REPLACEMENT, text).replace(LITERAL, REPLACEMENT)


def written(value: t.Any) -> t.Any:
    """``value`` (a copy, when it holds a marker) as the vendor wrote it, for a value kept whole
    rather than read by the reader: a lone surrogate as its escape (``\\ud83d``), a too-deep
    value as its raw text."""
    if value.__class__ is str:
        if not marked(value):
            return value
        value = value.removeprefix(DEEP)
        return LONE_MARKED.sub(lambda match: lone_escape(match[1]), value).replace(
            LITERAL, REPLACEMENT
        )
    if value.__class__ is dict:
        return {written(key): written(item) for key, item in value.items()}
    if value.__class__ is list:
        return [written(item) for item in value]
    return value


def lone_escape(marker: str) -> str:
    """The escape text (``\\ud83d``, as the vendor cased it) a lone-surrogate marker carries."""
    code = ord(marker) - LONE_BASE
    digits = f"{0xD800 + (code & 0x7FF):04x}"
    return "\\u" + "".join(
        digit.upper() if code >> (11 + place) & 1 else digit for place, digit in enumerate(digits)
    )


def _lone_marked(match: re.Match[bytes]) -> bytes | None:
    """The marker for a lone surrogate escape or U+FFFD's; None for a pair or any other escape."""
    high, low_after, lone_low, replacement = match.groups()
    if replacement is not None:
        _Marks.made += 1
        return _LITERAL_BYTES
    hex_digits = lone_low if high is None else None if low_after else high
    if hex_digits is None:
        return None
    upper = sum(1 << place for place, byte in enumerate(hex_digits) if 0x41 <= byte <= 0x46)
    _Marks.made += 1
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
    declared = []
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and (value := value.strip().strip("\"'")):
            declared.append(value)
    return ", ".join(dict.fromkeys(declared)) or None


class FilteredBody:
    """One body through the decode policy, fed whole (`feed`) or read by ijson (`read`), keeping
    only what a chunk boundary needs: memory is bounded by a chunk (or one string or deep value)."""

    def __init__(
        self, content_type: str | None, what: str, body: t.IO[bytes] | None = None
    ) -> None:
        self._body, self._what, self._content_type = body, what, content_type
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
                    f"({self._content_type})"
                )
                raise UnexpectedResponseError(msg) from error
        if self._head is not None:
            chunk = self._head + chunk
            if len(chunk) < len(_BOM) and not final:
                self._head = chunk  # too short to tell a BOM yet
                return b""
            self._head = None
            chunk = chunk.removeprefix(_BOM)
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
        if not self.capturing:
            nesting, in_string = _nesting(data, in_string=self.in_string)
            if not final and not in_string:
                data = self._hold_number(data)
            deepest = self.depth + nesting.count(b"[")  # an upper bound, made exact when over
            if deepest > DEPTH_BOUND:
                levels = itertools.accumulate(map(_DELTA.__getitem__, nesting), initial=self.depth)
                deepest = max(levels)
            # A run of LONG_INTEGER digits, found at C speed, may be a long integer: exact pass.
            long_run = data.translate(_DIGITS).find(_LONG_RUN) >= 0
            if deepest <= DEPTH_BOUND and not long_run:  # the common case: no token-by-token pass
                self.depth += len(nesting) - 2 * nesting.count(b"]")
                self.in_string = in_string
                if b"\\" in data and any(escape in data for escape in _MARKED_ESCAPES):
                    data = _ESCAPE.sub(lambda escape: _lone_marked(escape) or escape[0], data)
                return data
        return self._scan(data, final=final)

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
        """The exact pass, token by token, for data that goes too deep or has long integers."""
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
            elif in_string:  # a backslash: one escape (none if it ends the body: decoder's error)
                if escape := _ESCAPE.match(data, start):
                    if capture_from < 0 and (marked := _lone_marked(escape)) is not None:
                        out += (data[last:start], marked)
                        last = escape.end()
                    at = escape.end()
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
