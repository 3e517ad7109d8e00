"""The benchmarks' child processes (simulator, tap, floor): time and peak RSS of each."""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

TAP = [sys.executable, "-m", "tap_aphex"]
FLOOR = [sys.executable, str(Path(__file__).with_name("floor.py"))]
SDK_FLOOR = [sys.executable, str(Path(__file__).with_name("sdk_floor.py"))]
_CHUNK = 1 << 20
#: Every child runs as Python runs on a user's machine, whatever this shell sets: bytecode cached
#: (a warm-up run writes it; a fresh compile of the SDK each run is no cost of a record) and
#: stdout buffered by Python's default rules (the tap flushes at each STATE, the floor never).
CHILD_ENV = {
    name: value
    for name, value in os.environ.items()
    if name not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
}
CONDITIONS = (
    "children: bytecode cached (a warm-up run first), stdout a pipe, Python's default buffering"
)
# How a RECORD line starts: compact from the SDK's writers, json.dumps' default from the floor.
_RECORD_STARTS = (b'{"type":"RECORD"', b'{"type": "RECORD"')


@dataclass(frozen=True)
class Measured:
    """One run of one child: wall time, its own peak RSS, what it wrote."""

    seconds: float
    cpu_seconds: float  # user + system: steadier than wall time on a machine that is busy
    peak_rss_mib: float
    records: int
    returncode: int
    tail: str  # the last bytes of stdout, for the plans benchmark and for error messages


def run_child(command: list[str]) -> Measured:
    """Run ``command`` with stdout drained through a pipe; count its RECORD lines.

    Peak RSS comes from wait4(), so it is this child's high-water mark alone. It includes what the
    child inherited before exec, so this process keeps little (it reads in chunks, keeps a tail).
    """
    with tempfile.TemporaryFile() as stderr:  # a file: a full stderr pipe would block the child
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=CHILD_ENV)
        assert child.stdout is not None
        counters, tail = [_LineCounter(start) for start in _RECORD_STARTS], b""
        while chunk := child.stdout.read(_CHUNK):
            for counter in counters:
                counter.feed(chunk)
            tail = (tail + chunk)[-4096:]
        records = sum(counter.lines for counter in counters)
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            stderr.seek(0)
            raise RuntimeError(f"{command[1:3]} exited {code}: {stderr.read()[-2000:].decode()}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(
        elapsed, cpu, usage.ru_maxrss / 1024, records, code, tail.decode(errors="replace")
    )


class _LineCounter:
    """Counts lines that start with ``start`` in a stream read in chunks."""

    def __init__(self, start: bytes) -> None:
        self.marker, self.lines, self._carry = b"\n" + start, 0, b"\n"

    def feed(self, chunk: bytes) -> None:
        joined = self._carry + chunk
        self.lines += joined.count(self.marker)
        self._carry = joined[-len(self.marker) + 1 :]  # too short to hold a whole marker again


def median_of(runs: list[Measured]) -> Measured:
    """The run with the median time (its own RSS and counts, so the figures belong together)."""
    middle = statistics.median_low(run.seconds for run in runs)
    chosen = next(run for run in runs if run.seconds == middle)
    peak = max(run.peak_rss_mib for run in runs)  # the worst peak seen: RSS barely varies anyway
    return Measured(
        chosen.seconds, chosen.cpu_seconds, peak, chosen.records, chosen.returncode, chosen.tail
    )


@contextlib.contextmanager
def simulator_process(*args: str) -> t.Iterator[dict[str, t.Any]]:
    """The simulator in a process of its own: neither its CPU nor its memory is the tap's."""
    command = [sys.executable, "-m", "aphex_simulator", "--quiet", *args]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator did not start: {' '.join(command)}")
        yield json.loads(line)
    finally:
        server.terminate()
        server.wait(timeout=30)


def write_json(path: Path, value: object) -> str:
    path.write_text(json.dumps(value))
    return str(path)


def catalog_selecting(selected: set[str], config_path: str, folder: Path) -> str:
    """The tap's own discovered catalog with exactly ``selected`` streams selected."""
    discovered = subprocess.run(
        [*TAP, "--config", config_path, "--discover"],
        capture_output=True,
        check=True,
        text=True,
        env=CHILD_ENV,
    ).stdout
    catalog = json.loads(discovered)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in selected
    return write_json(folder / f"catalog-{'-'.join(sorted(selected))}.json", catalog)
