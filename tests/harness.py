"""Run the real tap against the simulator and read what it wrote, as a user's target would."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import subprocess
import sys
import tempfile
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from tap_aphex.tap import TapAphex


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


def parse_messages(text: str) -> list[dict[str, t.Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def run_tap(
    config: dict[str, t.Any],
    state: dict[str, t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
) -> TapRun:
    """Run the tap in this process (fast); errors propagate as exceptions."""
    written = io.BytesIO()  # the msgspec writer writes bytes to sys.stdout.buffer
    stdout = io.TextIOWrapper(written, encoding="utf-8", write_through=True)
    with contextlib.redirect_stdout(stdout):
        # A copy: the SDK updates the state it is given in place, as the run goes.
        tap = TapAphex(config=config, state=copy.deepcopy(state or {}), catalog=catalog)
        tap.sync_all()
        text = written.getvalue().decode()
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
        command = [sys.executable, "-m", "tap_aphex", "--config", str(config_path), *args]
        if state is not None:
            state_path = Path(folder, "state.json")
            state_path.write_text(json.dumps(state))
            command += ["--state", str(state_path)]
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
        )
    return TapRun(
        parse_messages(result.stdout) if result.returncode == 0 else _parse_lenient(result.stdout),
        returncode=result.returncode,
        stderr=result.stderr,
        stdout=result.stdout,
    )


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
