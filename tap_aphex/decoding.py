"""Response bodies as JSON values: one decode policy for both APIs.

- A Data API page is decoded whole, once per response (`decoded_json`): its records and its next
  cursor are read from the same values.
- A published-plans document (up to 32 MB) is streamed (`top_level_items`, ijson): it never sits
  in memory whole, and a version is built only when it is read. Integers beyond 64 bits are a
  parse error of yajl (ijson's C backend): that project's failure.

What is not JSON is a clear error naming the response (`UnexpectedResponseError`), never a guess.
"""

from __future__ import annotations

import typing as t

import ijson
import msgspec

from tap_aphex.errors import UnexpectedResponseError

if t.TYPE_CHECKING:
    import requests


def decoded_json(response: requests.Response, what: str = "The API") -> object:
    """The body as JSON, decoded once per response (the records and the next cursor share it).

    By hand rather than the SDK's `response.json()`: that decodes every number as a Decimal and
    again for each JSONPath asked. Not JSON (or bad UTF-8, or nested too deep for a decoder) is
    a clear error naming the response, never a guess.
    """
    held = vars(response)
    if "_decoded_json" not in held:
        try:
            held["_decoded_json"] = msgspec.json.decode(response.content)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            kind = response.headers.get("Content-Type", "no content type")
            msg = (
                f"{what} answered HTTP {response.status_code} with a body that is not JSON "
                f"({kind}, {len(response.content)} bytes); nothing from it was used"
            )
            raise UnexpectedResponseError(msg) from error
    return held["_decoded_json"]


#: Yielded when the list opens, so that an empty list is told from a missing one.
LIST_START = object()


def top_level_items(body: t.IO[bytes], list_key: str) -> t.Iterator[tuple[str, t.Any]]:
    """(key, value) for each top-level member of the JSON object in ``body``, as it is read.

    The members are built whole, except the ``list_key`` list: it yields (list_key, LIST_START)
    when it opens, then (list_key, entry) for each entry, so only one entry is held at a time.
    """
    versions_item = f"{list_key}.item"
    builder: ijson.ObjectBuilder | None = None
    building = ""
    for prefix, event, value in ijson.parse(body, use_float=True):
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
