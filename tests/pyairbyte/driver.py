"""Drives PyAirbyte against `source-aphex`, in PyAirbyte's own environment (see pyproject.toml).

tests/test_pyairbyte.py runs it as a separate process, one step at a time, with the simulator in the
test's process:

    python driver.py check CONFIG_JSON EXECUTABLE
    python driver.py read CONFIG_JSON EXECUTABLE CACHE_DIR STREAM...

The last line of stdout is the step's outcome as JSON: for `check`, `{"ok": true}` or the error
PyAirbyte raised; for `read`, the records this read processed and every row now in the cache.
"""

from __future__ import annotations

import json
import sys
import typing as t

import airbyte as ab


def _source(config: str, executable: str) -> t.Any:
    return ab.get_source("source-aphex", local_executable=executable, config=json.loads(config))


def check(config: str, executable: str) -> dict[str, t.Any]:
    try:
        _source(config, executable).check()
    except Exception as error:  # the outcome under test: what a PyAirbyte user sees
        return {"ok": False, "error": type(error).__name__, "message": str(error)}
    return {"ok": True}


def read(config: str, executable: str, cache_dir: str, *streams: str) -> dict[str, t.Any]:
    source = _source(config, executable)
    source.select_streams(list(streams))
    cache = ab.new_local_cache(cache_name="aphex", cache_dir=cache_dir)
    # Append: PyAirbyte's merge does not deduplicate within a read (the same task changed twice in
    # one read would land twice, in no set order); `tasks` rows are replayed by their sequence.
    result = source.read(cache=cache, write_strategy="append")
    tables = {
        stream: json.loads(cache[stream].to_pandas().to_json(orient="records", date_format="iso"))
        for stream in streams
    }
    return {"processed": result.processed_records, "tables": tables}


if __name__ == "__main__":
    step, *args = sys.argv[1:]
    outcome = check(*args) if step == "check" else read(*args)
    print(json.dumps(outcome))
