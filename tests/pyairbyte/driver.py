"""Drives PyAirbyte against `source-aphex`, in PyAirbyte's own environment (see pyproject.toml).

tests/test_pyairbyte.py starts it once (importing PyAirbyte takes seconds) and sends it one step a
line on stdin, as JSON, while the simulator runs in the test's process:

    {"step": "check", "config": {...}}
    {"step": "read", "config": {...}, "streams": [...], "cache_dir": "..."}

It answers each with one line on stdout, `RESULT <json>`: for `check`, `{"ok": true}` or the error
PyAirbyte raised; for `read`, the records this read processed and every row now in the cache.
"""

from __future__ import annotations

import json
import sys
import typing as t

import airbyte as ab

EXECUTABLE = sys.argv[1]  # the tap's `source-aphex`, in the tap's own environment


def _source(config: dict[str, t.Any]) -> t.Any:
    return ab.get_source("source-aphex", local_executable=EXECUTABLE, config=config)


def check(config: dict[str, t.Any]) -> dict[str, t.Any]:
    try:
        _source(config).check()
    except Exception as error:  # the outcome under test: what a PyAirbyte user sees
        return {"ok": False, "error": type(error).__name__, "message": str(error)}
    return {"ok": True}


def read(config: dict[str, t.Any], streams: list[str], cache_dir: str) -> dict[str, t.Any]:
    source = _source(config)
    source.select_streams(streams)
    cache = ab.new_local_cache(cache_name="aphex", cache_dir=cache_dir)
    # Append: PyAirbyte's merge does not deduplicate within a read (a task changed twice in one
    # read would land twice, in no set order); `tasks` rows are replayed by their log sequence.
    result = source.read(cache=cache, write_strategy="append")
    tables = {
        stream: json.loads(cache[stream].to_pandas().to_json(orient="records", date_format="iso"))
        for stream in streams
    }
    return {"processed": result.processed_records, "tables": tables}


if __name__ == "__main__":
    for line in sys.stdin:
        request = json.loads(line)
        step = request.pop("step")
        outcome = check(**request) if step == "check" else read(**request)
        print("RESULT " + json.dumps(outcome), flush=True)
