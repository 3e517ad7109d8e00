"""Run the real tap against the simulator and read what it wrote, as a user's target would."""

from __future__ import annotations

import array
import contextlib
import copy
import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

import forkserver
import pytest
from aphex_simulator import PlanProject, Simulator

from tap_aphex.tap import TapAphex


def small_organisation() -> Simulator:
    """A small organisation: 1,500 events in pages of 500, no daily quota (the `simulator`
    fixture's, and the one a module's tests share when they read one run of it)."""
    return Simulator(seed=7, events=1_500, page_size=500, daily_quota=None, plan_projects=0)


def events_config(sim: Simulator, **settings: t.Any) -> dict[str, t.Any]:
    """A config that reads the simulator's task-event log, plus ``settings``."""
    return {"api_key": sim.api_key, "api_url": sim.events_url, **settings}


def plans_config(projects: t.Iterable[PlanProject], **settings: t.Any) -> dict[str, t.Any]:
    """A config that reads the simulator's ``projects``' published plans, plus ``settings``."""
    entries = [{"url": p.url, "token": p.token, "name": p.name} for p in projects]
    return {"projects": entries, **settings}


def first_run_then_published(
    sim: Simulator, project: PlanProject, count: int, **settings: t.Any
) -> TapRun:
    """A first run of ``project`` (in this process), then ``count`` new versions published: the
    run whose state a test's next run starts from."""
    first = run_tap(plans_config([project], **settings))
    for _ in range(count):
        sim.publish_version(project.account_id)
    return first


@dataclass
class TapRun:
    """The Singer messages of one run, plus its exit code and stderr when run as a command."""

    messages: list[dict[str, t.Any]]
    returncode: int = 0
    stderr: str = ""
    stdout: str = field(default="", repr=False)

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, t.Any]:
        states = self.states()
        return states[-1] if states else {}

    def bookmark(self, stream: str) -> t.Any:
        return self.final_state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")


def selecting(config: dict[str, t.Any], streams: t.Iterable[str]) -> dict[str, t.Any]:
    """The tap's catalog with only ``streams`` selected, as `--catalog` would give it."""
    catalog = TapAphex(config=config).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


def parse_messages(text: str) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class CapturedStdout(io.TextIOWrapper):
    """A stdout for in-process runs: text over bytes, since the msgspec writer writes bytes."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)

    def getvalue(self) -> str:
        return t.cast("io.BytesIO", self.buffer).getvalue().decode("utf-8")


def run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
) -> TapRun:
    """Run the tap in this process (fast); errors propagate as exceptions."""
    out = CapturedStdout()
    with contextlib.redirect_stdout(out):
        # A copy: the SDK updates the state it is given in place, as the run goes.
        tap = TapAphex(config=config, state=copy.deepcopy(state or {}), catalog=catalog)
        tap.run()
    text = out.getvalue()
    return TapRun(parse_messages(text), stdout=text)


def run_cli(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    *args: str,
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> TapRun:
    """Run `tap-aphex` as a user does: a separate process with config and state files."""
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder, "config.json")
        config_path.write_text(json.dumps(config))
        options = ["--config", str(config_path), *args]
        if state is not None:
            state_path = Path(folder, "state.json")
            state_path.write_text(json.dumps(state))
            options += ["--state", str(state_path)]
        return run_command(*options, env=env, timeout=timeout)


def start_cli(config: dict[str, t.Any], folder: Path) -> subprocess.Popen[str]:
    """`tap-aphex --config FILE` started as a user does; read its stdout and stderr as it goes."""
    config_path = folder / "config.json"
    config_path.write_text(json.dumps(config))
    return subprocess.Popen(
        [sys.executable, "-m", "tap_aphex", "--config", str(config_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def signalled_after_states(
    config: dict[str, t.Any], folder: Path, signals: list[signal.Signals], states: int = 3
) -> tuple[int, str, str]:
    """`tap-aphex` sent ``signals`` once its ``states``-th STATE is out: exit code, stdout and
    stderr."""
    process = start_cli(config, folder)
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        states -= '"type":"STATE"' in line.replace(" ", "")
        if states == 0:
            for signum in signals:
                process.send_signal(signum)
            break
    out, err = process.communicate(timeout=60)
    return process.returncode, "".join(seen) + out, err


def killed_after_states(config: dict[str, t.Any], states: int) -> list[dict[str, t.Any]]:
    """What a target got from `tap-aphex` killed (SIGKILL) once its ``states``-th STATE is out."""
    with tempfile.TemporaryDirectory() as folder:
        config_path = Path(folder, "config.json")
        config_path.write_text(json.dumps(config))
        with subprocess.Popen(
            [sys.executable, "-m", "tap_aphex", "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        ) as tap:
            assert tap.stdout is not None
            watchdog = threading.Timer(60, tap.kill)  # a hung tap must not hang the suite
            watchdog.start()
            lines = []
            for line in tap.stdout:
                lines.append(line)
                states -= '"type":"STATE"' in line.replace(" ", "")
                if states == 0:
                    break
            tap.send_signal(signal.SIGKILL)
            tap.wait()
            watchdog.cancel()
    return parse_messages("".join(lines))


#: How a shell can leave a command's stdout (`exec "$@" REDIRECT`), and the reason its line gives.
UNWRITABLE_STDOUTS = {
    ">&-": "stdout is closed (as `>&-` leaves it): stopped before reading anything.",
    "1</dev/null": (
        "stdout is open for reading only (as `1<file` leaves it): stopped before reading anything."
    ),
    ">/dev/full": "no space is left on the device stdout writes to (the disk is full): stopped.",
}


def with_output_closed(command: list[str]) -> subprocess.CompletedProcess[str]:
    """``command`` run with a stdout whose reader is already gone (``... | head -c 0``)."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        return subprocess.run(
            command, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120, check=False
        )
    finally:
        os.close(writer)


def signalled(process: subprocess.Popen[str], signum: int, within: float) -> tuple[float, str]:
    """Send ``signum`` to ``process``: the seconds it took to end (it is killed after ``within``),
    and its stderr."""
    process.send_signal(signum)
    sent = time.monotonic()
    try:
        process.wait(timeout=within)
    finally:
        process.kill()  # a no-op once it has ended
    waited = time.monotonic() - sent
    return waited, process.communicate(timeout=10)[1]


def run_command(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> TapRun:
    """Run `tap-aphex` with these arguments exactly (files made by the caller)."""
    result = tap_aphex_process(*args, env=env, timeout=timeout)
    return TapRun(
        parse_messages(result.stdout) if result.returncode == 0 else _parse_lenient(result.stdout),
        returncode=result.returncode,
        stderr=result.stderr,
        stdout=result.stdout,
    )


def tap_aphex_process(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`python -m tap_aphex *args`, run to its end with its output captured, as
    `subprocess.run(..., capture_output=True, text=True)` gives it: a process of its own, forked
    from one that has imported the SDK already (tests/forkserver.py says why and how)."""
    environ = {**os.environ, **(env or {})}
    server = forkserver.server(environ)
    if server and (forked := server.run(args, environ, timeout)) is not None:
        return forked
    return subprocess.run(
        [sys.executable, "-m", "tap_aphex", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environ,
        check=False,
    )


def log_lines(stderr: str, level: str) -> list[str]:
    """The messages logged at ``level`` (console lines read `time | LEVEL | logger | message`)."""
    return [line.split(" | ", 3)[-1] for line in stderr.splitlines() if f"| {level:<8} |" in line]


def _parse_lenient(text: str) -> list[dict[str, t.Any]]:
    messages = []
    for line in text.splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            messages.append(json.loads(line))
    return messages


def replay_tasks(records: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """Apply `tasks` records as a target that upserts on id and honours _sdc_deleted_at would."""
    current: dict[str, dict[str, t.Any]] = {}
    for record in records:
        if record.get("_sdc_deleted_at"):
            current.pop(record["id"], None)
        else:
            current[record["id"]] = record
    return current


F_GETPIPE_SZ: int | None = getattr(fcntl, "F_GETPIPE_SZ", None)  # a pipe's capacity (Linux only)


def wait_until_writing_to_a_full_pipe(
    process: subprocess.Popen[t.Any], pipe: int | None = None, waits: str = "pipe_write"
) -> None:
    """Until the process waits in a write to its stdout, which nobody reads: records fill at least
    half the pipe, and Linux says it waits in `waits` (`pipe_write`; where /proc hides that, or
    elsewhere: what the pipe holds has stopped growing for half a second). ``pipe``: the read end
    of a stdout the test made itself (default: the process's own `stdout` pipe), and `waits` the
    kernel function a writer to it waits in (a non-blocking one waits for room in a poll).

    Not `wchan` alone: it reads "0" while the process runs, which is no sign that it is hidden,
    and under load the process may still be starting then.
    """
    if pipe is None:
        assert process.stdout is not None
        pipe = process.stdout.fileno()
    capacity = fcntl.fcntl(pipe, F_GETPIPE_SZ) if F_GETPIPE_SZ else 16_384  # macOS: 16 KiB at least
    wchan = Path(f"/proc/{process.pid}/wchan")  # the kernel function it waits in
    deadline = time.monotonic() + 30
    held, since = -1, time.monotonic()
    while True:
        before, held = held, bytes_in(pipe)
        if held != before:
            since = time.monotonic()
        if held >= capacity // 2:
            waits_in = wchan.read_text() if wchan.exists() else ""
            if waits in waits_in or time.monotonic() - since >= 0.5:  # "anon_pipe_write"
                return
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the command never filled its stdout")
        time.sleep(0.01)


def bytes_in(pipe: int) -> int:
    """How many bytes wait in the pipe to be read."""
    waiting = array.array("i", [0])
    fcntl.ioctl(pipe, termios.FIONREAD, waiting)
    return waiting[0]
