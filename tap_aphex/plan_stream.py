"""A JSON document streamed with ijson: a 32 MB response never sits in memory whole.

Integers beyond 64 bits are a parse error of yajl (ijson's C backend): the document is then
unreadable, which the caller reports as that project's failure.
"""

from __future__ import annotations

import typing as t

import ijson

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
