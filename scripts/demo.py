"""`./demo`: Aphex data through `meltano run tap-aphex target-duckdb` into a local DuckDB file.

Each run starts the bundled simulator of both Aphex APIs on a free loopback port, runs the pipeline
that meltano.yml defines (its default `simulator` environment), stops the simulator, and prints what
landed in output/demo.duckdb. Meltano keeps the state in the project's system database
(.meltano/meltano.db), so the next run is incremental.

Why the next run finds new data: the simulator is deterministic from its seed, and a log started
with more events begins with exactly the events of a smaller one. So each run starts it larger than
the last (output/demo-run.json records how many runs this warehouse has had), the event id that
Meltano saved is still in the log, and the events after it are the new ones. Likewise each run
publishes one more plan version per project.

Options: --fresh (forget the warehouse and the saved state, and start over); --output DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ("tap-aphex", "target-duckdb")
STATE_ID = "simulator:tap-aphex-to-target-duckdb"  # <environment>:<extractor>-to-<loader>
SCHEMA = "aphex"  # target-duckdb's default_target_schema in meltano.yml

SEED = 7
FIRST_EVENTS = 12_000  # three of the Data API's 4,000-event pages
EVENTS_PER_RUN = 1_500  # new events each later run finds
PLAN_PROJECTS = 3

# Variables from the user's shell that could send the demo elsewhere than the simulator.
_STEERING = ("TAP_APHEX_", "TARGET_DUCKDB_", "APHEX_SIMULATOR_", "MELTANO_ENVIRONMENT")

TABLES = (
    ("task_events", "every task event (TaskCreated / TaskUpdated / TaskDeleted)"),
    ("tasks", "the latest copy of each task, deleted ones marked"),
    ("published_plans", "published plan versions, per project"),
    ("published_plan_tasks", "each task in each published version"),
    ("published_plan_statuses", "delay and progress statuses in each version"),
)
PLAN_STATUSES = ("Complete", "In Progress", "Delayed", "Not Started")


class DemoError(Exception):
    """Something the user should read, instead of a traceback."""


# ----------------------------------------------------------------------------------- printing


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def note(message: str) -> None:
    print(f"    {message}", flush=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain text table: text left-aligned, numbers right-aligned with thousands separators."""

    def cell(value: object) -> str:
        if isinstance(value, bool) or value is None:
            return "-" if value is None else str(value)
        if isinstance(value, int):
            return f"{value:,}"
        if isinstance(value, float):
            return f"{value:,.0f}"
        return str(value)

    text = [[cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in text)]) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], int | float) or row[i] is None for row in rows) and bool(rows)
        for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            v.rjust(w) if is_number else v.ljust(w)
            for v, w, is_number in zip(values, widths, numeric, strict=True)
        ]
        return "    " + "  ".join(parts).rstrip()

    print(line(headers))
    print("    " + "  ".join("-" * w for w in widths))
    for row in text:
        print(line(row))


# ------------------------------------------------------------------------------------ meltano


@dataclass(frozen=True)
class Paths:
    output: Path

    @property
    def warehouse(self) -> Path:
        return self.output / "demo.duckdb"

    @property
    def record(self) -> Path:
        return self.output / "demo-run.json"

    @property
    def log(self) -> Path:
        return self.output / "demo-meltano.log"


def meltano_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STEERING)}
    env.update(MELTANO_SEND_ANONYMOUS_USAGE_STATS="false", NO_COLOR="1", **(extra or {}))
    return env


def meltano_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("meltano")
    found = str(beside_python) if beside_python.exists() else shutil.which("meltano")
    if found is None:
        raise DemoError("meltano is not installed: run ./demo, which installs it with `uv sync`")
    # No .env: the project's may hold real credentials, which would win over the simulator's.
    return [found, f"--env-file={os.devnull}"]


def meltano(*args: str, env: dict[str, str]) -> str:
    """Run a quick meltano command; its stdout, or DemoError with its last lines."""
    result = subprocess.run(
        [*meltano_command(), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        tail = "\n".join((result.stderr + result.stdout).splitlines()[-20:])
        raise DemoError(f"`meltano {' '.join(args)}` failed:\n{tail}")
    return result.stdout


def saved_bookmark(env: dict[str, str]) -> str | None:
    """The last event id of the saved state of the demo's pipeline, if Meltano has one."""
    state = json.loads(meltano("state", "get", STATE_ID, env=env) or "{}")
    bookmarks = state.get("singer_state", {}).get("bookmarks", {})
    value = bookmarks.get("task_events", {}).get("replication_key_value")
    return str(value) if value else None


# Meltano's console lines: "<time> [<level>  ] <source>  <message>".
_LOG_LINE = re.compile(r"^\S+\s+\[(?P<level>\w+)\s*\]\s+(?P<source>\S+)\s+(?P<message>.*)$")
_LOADING = re.compile(r"Loading (?P<rows>\d+) rows into '.*\"(?P<table>\w+)\"'")
_SYNC = re.compile(r"Beginning sync of '(?P<stream>\w+)'")
_NOISE = ("Stream is assumed to be unsorted",)  # an SDK warning that says nothing new here


class Progress:
    """Turns Meltano's log into a few lines a person can follow while the run goes."""

    def __init__(self) -> None:
        self.loaded: dict[str, int] = {}
        self._streams: set[str] = set()
        self._shown_at: dict[str, float] = {}

    def feed(self, raw: str) -> None:
        match = _LOG_LINE.match(raw.strip())
        if not match:
            return
        level, source, message = match["level"], match["source"], match["message"]
        if message.startswith("No state was found"):
            note("meltano: no saved state: reading everything")
        elif level in ("warning", "error", "critical") and not message.startswith(_NOISE):
            note(f"{source}: {level}: {message}")
        elif loading := _LOADING.search(message):
            self._loaded(loading["table"], int(loading["rows"]))
        elif (sync := _SYNC.match(message)) and sync["stream"] not in self._streams:
            self._streams.add(sync["stream"])
            note(f"{source}: reading {sync['stream']}")
        elif message.startswith(("Reading the task-event log", "Stopping after")):
            note(f"{source}: {message}")
        elif message.startswith("Run completed"):
            note("meltano: run completed")

    def _loaded(self, table_name: str, rows: int) -> None:
        self.loaded[table_name] = self.loaded.get(table_name, 0) + rows
        # One line per table per second at most: published plans arrive in many small batches.
        now = time.monotonic()
        if now - self._shown_at.get(table_name, 0.0) >= 1.0:
            self._shown_at[table_name] = now
            note(f"target-duckdb: {self.loaded[table_name]:,} rows into {table_name}")


def run_pipeline(env: dict[str, str], log_path: Path) -> Progress:
    """`meltano run tap-aphex target-duckdb`, its log to a file and its progress to the screen."""
    progress = Progress()
    with (
        log_path.open("w", encoding="utf-8") as log,
        subprocess.Popen(
            [*meltano_command(), "run", *PIPELINE],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        ) as process,
    ):
        try:
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                progress.feed(line)
        finally:
            if process.poll() is None:  # interrupted: stop it before leaving
                process.terminate()
        if process.wait() != 0:
            log.flush()
            tail = "\n".join(log_path.read_text(encoding="utf-8").splitlines()[-25:])
            raise DemoError(f"meltano run failed (full log: {log_path}):\n{tail}")
    # The final totals, which the throttled lines may have skipped.
    totals = ", ".join(f"{name} {rows:,}" for name, rows in progress.loaded.items())
    note(f"target-duckdb: rows loaded in all: {totals or 'none'}")
    return progress


# ---------------------------------------------------------------------------------- simulator


def _stop_with_parent() -> None:
    """In the simulator's process, before it starts (Linux): get SIGTERM if the demo dies, so that
    nothing is left running even when the demo is killed outright."""
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextlib.contextmanager
def simulator(events: int, extra_versions: int) -> Iterator[dict[str, Any]]:
    """The simulator in its own process on a free loopback port; yields the line it prints."""
    command = [
        sys.executable,
        "-m",
        "tap_aphex.simulator",
        f"--seed={SEED}",
        f"--events={events}",
        "--port=0",
        "--daily-quota=0",
        f"--plan-projects={PLAN_PROJECTS}",
        "--quiet",
    ]
    linux = sys.platform.startswith("linux")
    with subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_stop_with_parent if linux else None,  # safe: the demo starts no threads
    ) as process:
        try:
            assert process.stdout is not None
            first_line = process.stdout.readline()
            if not first_line:
                raise DemoError(f"the simulator did not start (exit code {process.wait()})")
            info: dict[str, Any] = json.loads(first_line)
            for project in info["projects"]:
                for _ in range(extra_versions):
                    _admin(info["base_url"], f"publish?account_id={project['account_id']}")
            yield info
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _admin(base_url: str, action: str) -> None:
    request = urllib.request.Request(f"{base_url}/_sim/{action}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


# ---------------------------------------------------------------------------------- the runs


@dataclass(frozen=True)
class Plan:
    """This run: how many demo runs the warehouse had before, and whether it starts over."""

    runs_before: int
    resume_after: str | None  # the event id in Meltano's saved state
    reason: str

    @property
    def events(self) -> int:
        return FIRST_EVENTS + self.runs_before * EVENTS_PER_RUN


def plan_run(paths: Paths, env: dict[str, str], fresh: bool) -> Plan:
    """Incremental when the warehouse, its record and Meltano's state agree; else start over."""
    record: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(paths.record.read_text(encoding="utf-8"))
    bookmark = saved_bookmark(env)
    if fresh:
        reason = "Starting over (--fresh): no saved state, an empty warehouse."
    elif not record or not paths.warehouse.exists():
        reason = f"No earlier demo run in {_shown(paths.output)}/: a full run."
    elif record.get("seed") != SEED:
        reason = "The last run used another simulator seed: starting over."
    elif bookmark is None:
        reason = "Meltano has no saved state for this pipeline: starting over."
    else:
        return Plan(int(record["runs"]), bookmark, "Incremental: Meltano has a saved state.")
    # The saved state and the warehouse only make sense together: reset both.
    if bookmark is not None:
        meltano("state", "clear", "--force", STATE_ID, env=env)
    paths.warehouse.unlink(missing_ok=True)
    paths.record.unlink(missing_ok=True)
    return Plan(0, None, reason)


def count_rows(warehouse: Path, table_name: str) -> int:
    if not warehouse.exists():
        return 0
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return count_in(connection, table_name) or 0


def demo(paths: Paths, fresh: bool) -> None:
    paths.output.mkdir(parents=True, exist_ok=True)
    env = meltano_env({"TARGET_DUCKDB_FILEPATH": str(paths.warehouse)})

    step("Installing the Meltano plugins tap-aphex and target-duckdb into .meltano/")
    meltano("install", *PIPELINE, env=env)

    plan = plan_run(paths, env, fresh)
    note(plan.reason)
    before = {
        name: count_rows(paths.warehouse, name) for name in ("task_events", "published_plans")
    }

    step(
        f"Starting the Aphex simulator (seed {SEED}, {plan.events:,} events, "
        f"{PLAN_PROJECTS} projects with published plans)"
    )
    started = time.monotonic()
    with simulator(plan.events, extra_versions=plan.runs_before) as info:
        note(f"Serving both Aphex APIs on {info['base_url']}")
        projects = [{key: p[key] for key in ("name", "url", "token")} for p in info["projects"]]
        env.update(
            APHEX_SIMULATOR_URL=info["base_url"], APHEX_SIMULATOR_PROJECTS=json.dumps(projects)
        )
        step(f"meltano run {' '.join(PIPELINE)}   (full log: {_shown(paths.log)})")
        if plan.resume_after:
            note(f"meltano: saved state: the last event loaded was {plan.resume_after}")
        run_pipeline(env, paths.log)
    step("Stopped the simulator")
    seconds = time.monotonic() - started

    record = {"seed": SEED, "runs": plan.runs_before + 1, "events": plan.events}
    paths.record.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    new_events = count_rows(paths.warehouse, "task_events") - before["task_events"]
    new_versions = count_rows(paths.warehouse, "published_plans") - before["published_plans"]
    step(f"What landed in {_shown(paths.warehouse)}")
    kind = "Incremental run" if plan.resume_after else "Full run"
    note(
        f"{kind} in {seconds:.0f} s: {new_events:,} new task events, "
        f"{new_versions:,} new published plan versions."
    )
    summarise(paths.warehouse)
    print(
        f"\nRun ./demo again for an incremental run; ./demo --fresh starts over. Explore with:\n"
        f'    {_shown(Path(sys.executable))} -c "import duckdb; '
        f"duckdb.connect('{_shown(paths.warehouse)}').sql('SHOW ALL TABLES').show()\"",
        flush=True,
    )


def _shown(path: Path) -> str:
    with contextlib.suppress(ValueError):
        return str(path.relative_to(ROOT))
    return str(path)


# ------------------------------------------------------------------------------------ summary

_DELAYS_SQL = f"""
WITH status AS (
    SELECT t.projectName AS project,
           unnest(from_json(t.statuses,
                  '[{{"type": "VARCHAR", "category": "VARCHAR", "value": "DOUBLE"}}]')) AS s
    FROM {SCHEMA}.tasks AS t
    WHERE t._sdc_deleted_at IS NULL
)
SELECT project, s.category AS category, count(*) AS delays, sum(s.value) AS days
FROM status
WHERE s.type = 'delay'
GROUP BY ALL
"""

_LATEST_PLANS_SQL = f"""
WITH versions AS (
    SELECT accountId, count(*) AS loaded, max(version) AS version
    FROM {SCHEMA}.published_plans GROUP BY accountId
)
SELECT json_extract_string(p.project, '$.name') AS project, v.loaded, p.version,
       strftime(p.publishedAt, '%Y-%m-%d') AS published, count(t.taskId) AS tasks,
       {", ".join(f"count(t.taskId) FILTER (WHERE t.status = '{s}')" for s in PLAN_STATUSES)}
FROM {SCHEMA}.published_plans AS p
JOIN versions AS v USING (accountId, version)
LEFT JOIN {SCHEMA}.published_plan_tasks AS t
       ON t.accountId = p.accountId AND t.publishedPlanId = p.publishedPlanId
GROUP BY ALL
ORDER BY project
"""


def summarise(warehouse: Path) -> None:
    with duckdb.connect(str(warehouse), read_only=True) as db:

        def rows(sql: str) -> list[tuple[Any, ...]]:
            return db.execute(sql).fetchall()

        print("\n  Tables (schema aphex)")
        table(
            ["table", "rows", "what it holds"],
            [(name, count_in(db, name), what) for name, what in TABLES],
        )

        print("\n  Current tasks by project (from the task events; deletions applied)")
        live = rows(
            f"SELECT projectName, count(*) FROM {SCHEMA}.tasks "
            "WHERE _sdc_deleted_at IS NULL GROUP BY ALL ORDER BY 1"
        )
        deleted = rows(f"SELECT count(*) FROM {SCHEMA}.tasks WHERE _sdc_deleted_at IS NOT NULL")
        table(["project", "tasks"], live)
        note(f"({deleted[0][0]:,} deleted tasks are kept, marked by _sdc_deleted_at)")

        print("\n  Delays on current tasks: working days lost by category and project")
        delays = rows(_DELAYS_SQL)
        categories = sorted(
            {category for _, category, _, _ in delays},
            key=lambda c: -sum(d for _, cat, _, d in delays if cat == c),
        )
        lost = {(project, category): days for project, category, _, days in delays}
        projects = sorted({project for project, _, _, _ in delays})
        table(
            ["project", *categories, "all days", "delays"],
            [
                (
                    project,
                    *(lost.get((project, c), 0.0) for c in categories),
                    sum(d for p, _, _, d in delays if p == project),
                    sum(n for p, _, n, _ in delays if p == project),
                )
                for project in projects
            ],
        )

        print("\n  Published plans: the newest version of each project, tasks by status")
        table(
            ["project", "versions", "newest", "published", "tasks", *PLAN_STATUSES],
            rows(_LATEST_PLANS_SQL),
        )


def count_in(db: duckdb.DuckDBPyConnection, table_name: str) -> int | None:
    """The table's rows; None if the table is not there (not created yet, or no such stream)."""
    try:
        row = db.execute(f"SELECT count(*) FROM {SCHEMA}.{table_name}").fetchone()
    except duckdb.CatalogException:
        return None
    return int(row[0]) if row else None


# --------------------------------------------------------------------------------------- main


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Python's default for SIGTERM ends the process at once; SystemExit runs the `finally`s that
    # stop the simulator and Meltano.
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./demo", description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="forget earlier runs and start over")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "output", help="folder for the warehouse (output/)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        demo(Paths(args.output.resolve()), fresh=args.fresh)
    except DemoError as error:
        print(f"\n./demo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n./demo: interrupted; the simulator is stopped.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
