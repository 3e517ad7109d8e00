"""Run the real `tap-aphex` command as a child process and measure it."""

from __future__ import annotations

import collections
import contextlib
import json
import resource
import subprocess
import sys
import tempfile
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Measured:
    seconds: float
    peak_rss_mib: float
    records: int
    returncode: int
    stdout_text: str


def run_child(command: list[str], config: dict[str, t.Any] | None = None) -> Measured:
    """Run ``command`` (with ``--config`` appended when given), count RECORD lines, take peak RSS.

    Peak RSS comes from wait4(), so it is the child's own high-water mark, not this process's.
    """
    with tempfile.TemporaryDirectory() as folder:
        if config is not None:
            path = Path(folder, "config.json")
            path.write_text(json.dumps(config))
            command = [*command, "--config", str(path)]
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert child.stdout is not None
        records, tail = 0, collections.deque(maxlen=5)  # keep little: our RSS is the floor of the
        for line in child.stdout:  # next child's (a child's peak includes what it inherited)
            records += line.startswith(b'{"type":"RECORD"')
            tail.append(line)
        _, status, usage = _wait4(child.pid)
        elapsed = time.perf_counter() - started
    text = b"".join(tail).decode(errors="replace")
    return Measured(elapsed, usage.ru_maxrss / 1024, records, status, text)


def _wait4(pid: int) -> tuple[int, int, resource.struct_rusage]:
    import os

    waited_pid, status, usage = os.wait4(pid, 0)
    return waited_pid, os.waitstatus_to_exitcode(status), usage


TAP = [sys.executable, "-m", "tap_aphex"]


@contextlib.contextmanager
def simulator_process(*args: str) -> t.Iterator[dict[str, t.Any]]:
    """The simulator in a process of its own, so that its memory is not counted as the tap's.

    (A child's peak RSS includes what it inherited from its parent before exec.)
    """
    command = [sys.executable, "-m", "tap_aphex.simulator", "--quiet", *args]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield json.loads(server.stdout.readline())
    finally:
        server.terminate()
        server.wait(timeout=30)
