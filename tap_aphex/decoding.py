"""Response bodies as JSON values, through the decode policy (`decode_policy.py`); a value in
a message (`described`).

A Data API page is decoded whole (`decoded_json`, msgspec); a published-plans document (up to
32 MB) is streamed (`top_level_items`, ijson). What is not JSON is a clear error naming the
response (`UnexpectedResponseError`), never a guess.

In either decoder, a number beyond a float's range (``1e400``: JSON, but msgspec refuses the page,
ijson the document, and a float would be infinity) is decoded as its exact Decimal (`json_float`):
the reader keeps it as it came, and the writers write it as that number (a JSON reader that reads
it as a float gets infinity, not an error). An exponent of 19 digits or more no decimal holds: a
clear error.
"""

from __future__ import annotations

import math
import re
import typing as t
from decimal import Decimal, InvalidOperation

import ijson
import msgspec

from tap_aphex.decode_policy import FilteredBody, written
from tap_aphex.report import UnexpectedResponseError

if t.TYPE_CHECKING:
    import requests


def json_float(literal: str | Decimal) -> float | Decimal:
    """A number with a fraction or an exponent (msgspec's text of it, ijson's Decimal) as a float;
    beyond a float's range (``1e400``), as its exact Decimal. Too small for a float: 0.0, as any
    decoder rounds it."""
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
            msg = (
                f"{what} answered HTTP {response.status_code} with a body that is not JSON "
                f"({kind or 'no content type'}, {len(response.content)} bytes); nothing from it "
                "was used. If it persists, check any proxy in between, or tell Aphex "
                "(hello@aphex.co)"
            )
            raise UnexpectedResponseError(msg) from error
        except InvalidOperation as error:
            raise UnexpectedResponseError(_beyond_decimal(what)) from error
    return held["_decoded_json"]


#: Yielded when the list opens, so that an empty list is told from a missing one.
LIST_START = object()


def top_level_items(
    body: t.IO[bytes], list_key: str, content_type: str | None = None
) -> t.Iterator[tuple[str, t.Any]]:
    """(key, value) for each top-level member of the JSON object in ``body``, as it is read.

    Members are built whole, but the ``list_key`` list yields (list_key, LIST_START) when it
    opens, then (list_key, entry) for each entry, so only one entry is held at a time.
    """
    if content_type is None:  # an HTTP response's (urllib3's)
        headers = getattr(body, "headers", None)
        content_type = headers.get("Content-Type") if headers is not None else None
    filtered = FilteredBody(content_type, "The Published Plans API", body)
    try:
        yield from _members(filtered, list_key)
    except InvalidOperation as error:
        raise UnexpectedResponseError(_beyond_decimal("The Published Plans API")) from error


def _beyond_decimal(what: str) -> str:
    return (
        f"{what} sent a number beyond what a decimal can hold (an exponent of 19 digits or "
        "more); nothing from that body was used. Tell Aphex (hello@aphex.co)"
    )


def _members(filtered: FilteredBody, list_key: str) -> t.Iterator[tuple[str, t.Any]]:
    entry = f"{list_key}.item"
    builder: ijson.ObjectBuilder | None = None
    building = name = ""
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
    if value.__class__ is Decimal:  # decoding.json_float: only beyond a float's range
        return f"the number {text} (beyond a float's range)"
    return f"{_JSON_TYPES.get(value.__class__, 'list')} {text}"


def readable(text: str, width: int = 60) -> str:
    """Text (an id, a cursor, a value's JSON text) for a message: when longer than ``width``, its
    start (never half an escape) and its length. Straight off the wire, text goes through
    `decode_policy.written` first: a lone surrogate as the vendor escaped it, never a marker."""
    if len(text) <= width:
        return text
    start = _CUT_ESCAPE.sub(r"\1", text[:width])
    return f"{start}… ({len(text)} characters)"
