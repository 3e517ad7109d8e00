"""`./demo`: Aphex data through `meltano run tap-aphex target-duckdb` into a local DuckDB file.

The recipe, top to bottom:
1. install the two Meltano plugins;
2. decide whether this run is the first (full) or a later (incremental) one;
3. start the bundled simulator of both Aphex APIs on a free loopback port, in its variations mode;
4. `meltano run tap-aphex target-duckdb`, showing the tap's own progress lines and warnings;
5. show what landed in output/demo.duckdb, one named SQL query per report (scripts/demo_reports.py),
   numbers written as a planner writes them;
6. `meltano run dbt-duckdb:build`: transform/'s dbt models (docs/analytics.md) in the same file,
   then the planner's weekly reports from them, PPC and delays, as text and as a chart (SVG)
   written next to the DuckDB file.

Why a later run finds new data: the simulator is deterministic from its seed, and a log started
with more events begins with exactly the events of a smaller one. So each run starts it larger than
the last (output/demo-run.json counts the runs), the event id that Meltano saved is still in the
log, and the events after it are the new ones; likewise each run publishes one more plan version
per project. Meltano keeps the state in its system database (.meltano/meltano.db).

Options: --fresh (forget the warehouse and the saved state, and start over); --output DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

import duckdb
from aphex_simulator import Simulator
from aphex_simulator.variations import VARIATION_KINDS
from demo_reports import (
    CHART_DELAYS,
    CHART_PPC,
    CURRENT_TASKS,
    DELAYS_REPORT,
    PPC_EXPLAINED,
    PPC_REPORT,
    PPC_WEEKS,
    REPORTS,
    TASK_COUNTS,
    draw_chart,
    ppc_title,
    ppc_weeks_explained,
)
from meltano_runner import ROOT, Meltano, MeltanoFailed, clean_environment, simulator_settings

if t.TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

PIPELINE = ("tap-aphex", "target-duckdb")
MODELS = "dbt-duckdb"  # Meltano's dbt utility (meltano.yml), running transform/
STATE_ID = "simulator:tap-aphex-to-target-duckdb"  # <environment>:<extractor>-to-<loader>
SEED, FIRST_EVENTS, EVENTS_PER_RUN, PLAN_PROJECTS = 7, 12_000, 1_500, 3
# What the vendor's documents allow but the happy path never shows (seconds for milliseconds,
# numbers as strings, a null cursor on the last page, an undated published version, ...), so the
# demo shows the tap's warnings. Passing 503s are left out: the tap waits about a minute on them
# before it believes the quota is spent.
VARIATIONS = VARIATION_KINDS - {"passing_503"}


@dataclass(frozen=True)
class Warehouse:
    """output/: the DuckDB file, how many demo runs filled it, and Meltano's log of the last one."""

    folder: Path

    @property
    def duckdb(self) -> Path:
        return self.folder / "demo.duckdb"

    @property
    def runs_file(self) -> Path:
        return self.folder / "demo-run.json"

    @property
    def log(self) -> Path:
        return self.folder / "demo-meltano.log"

    @property
    def dbt_folder(self) -> Path:
        """dbt's own files (target/, logs/): here rather than in the checkout's transform/."""
        return self.folder / "dbt"

    @property
    def dbt_log(self) -> Path:
        return self.folder / "demo-dbt.log"

    @property
    def chart(self) -> Path:
        return self.folder / "demo-reports.svg"

    def has_table(self, table: str) -> bool:
        if not self.duckdb.exists():
            return False
        with duckdb.connect(str(self.duckdb), read_only=True) as db:
            found = db.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = 'aphex' AND table_name = ?",
                [table],
            ).fetchone()
        return bool(found and found[0])

    def runs(self) -> int:
        try:
            record = json.loads(self.runs_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return 0
        same_log = isinstance(record, dict) and record.get("seed") == SEED
        return int(record.get("runs", 0)) if same_log and self.duckdb.exists() else 0

    def count(self, table: str) -> int:
        if not self.duckdb.exists():
            return 0
        with duckdb.connect(str(self.duckdb), read_only=True) as db:
            try:
                row = db.execute(f"SELECT count(*) FROM aphex.{table}").fetchone()
            except duckdb.CatalogException:  # not created yet
                return 0
        return int(row[0]) if row else 0


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """`1 record`, `4,538 records`."""
    return f"{count:,} {noun if count == 1 else (nouns or noun + 's')}"


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def note(message: str) -> None:
    print(f"    {message}", flush=True)


def demo(warehouse: Warehouse, fresh: bool) -> None:
    warehouse.folder.mkdir(parents=True, exist_ok=True)
    meltano = Meltano(
        clean_environment(
            # The system database (and so the saved state) may be chosen by the caller.
            database_uri=os.environ.get("MELTANO_DATABASE_URI"),
            TARGET_DUCKDB_FILEPATH=str(warehouse.duckdb),
            # dbt reads and writes the same file, and keeps its own files in output/dbt/.
            DBT_DUCKDB_PATH=str(warehouse.duckdb),
            DBT_TARGET_PATH=str(warehouse.dbt_folder / "target"),
            DBT_LOG_PATH=str(warehouse.dbt_folder / "logs"),
        )
    )

    step(f"1. Installing the Meltano plugins {', '.join(PIPELINE)} and {MODELS} into .meltano/")
    meltano("install", *PIPELINE, MODELS)

    step("2. Full or incremental?")
    runs_before, saved = warehouse.runs(), meltano.state(STATE_ID)
    if fresh or not runs_before or saved is None:
        note("A full run: " + ("--fresh" if fresh else "no earlier run with a saved state") + ".")
        if saved is not None:  # the saved state and the warehouse only make sense together
            meltano("state", "clear", "--force", STATE_ID)
        warehouse.duckdb.unlink(missing_ok=True)
        runs_before = 0
    else:
        last = saved.get("bookmarks", {}).get("task_events", {}).get("replication_key_value")
        note(f"Incremental: Meltano's saved state ends at event {last}.")
    before = {table: warehouse.count(table) for table in ("task_events", "published_plans")}

    events = FIRST_EVENTS + runs_before * EVENTS_PER_RUN
    step(
        f"3. Starting the Aphex simulator: seed {SEED}, {events:,} events, "
        f"{PLAN_PROJECTS} projects that publish plans"
    )
    started = time.monotonic()
    with Simulator(
        seed=SEED,
        events=events,
        daily_quota=None,
        plan_projects=PLAN_PROJECTS,
        variations=VARIATIONS,
    ) as sim:
        for project in sim.plan_projects:
            for _ in range(runs_before):
                sim.publish_version(project.account_id)
        note(f"Serving both Aphex APIs on {sim.base_url}")
        note(
            "The simulator adds deliberate oddities to show how the tap handles them (numbers "
            "sent as text, a plan version without a publish date, a version id given twice, ...): "
            "each warning below names one, and says what the tap kept and where."
        )
        projects = [{"name": p.name, "url": p.url, "token": p.token} for p in sim.plan_projects]
        meltano.env.update(simulator_settings(sim.base_url, projects))

        step(f"4. meltano run {' '.join(PIPELINE)}   (full log: {shown(warehouse.log)})")
        with warehouse.log.open("w", encoding="utf-8") as log:
            for event in meltano.log_events("run", *PIPELINE, log=log):
                show_progress(event)
    seconds = time.monotonic() - started
    note("Stopped the simulator.")
    runs = {"seed": SEED, "runs": runs_before + 1, "events": events}
    warehouse.runs_file.write_text(json.dumps(runs, indent=2) + "\n", encoding="utf-8")

    step(f"5. What landed in {shown(warehouse.duckdb)}")
    new_events = warehouse.count("task_events") - before["task_events"]
    new_versions = warehouse.count("published_plans") - before["published_plans"]
    kind = "Incremental run" if runs_before else "Full run"
    note(
        f"{kind} in {seconds:.0f} s: {plural(new_events, 'new task event')} (each a change to one "
        f"task), {plural(new_versions, 'new published plan version')}."
    )
    with duckdb.connect(str(warehouse.duckdb), read_only=True) as db:
        rows, deleted = db.execute(TASK_COUNTS).fetchone() or (0, 0)
        note(
            f"The tasks table holds {plural(rows, 'task')}, one row each: {rows - deleted:,} "
            f"current and {deleted:,} deleted. A deleted task stays as a row, marked with the time "
            f"it was deleted (_sdc_deleted_at); the reports on current tasks below leave them out "
            f"with: where {CURRENT_TASKS.lower()}"
        )
        for title, sql in REPORTS.items():
            print(f"\n  {title}")
            cursor = db.execute(sql)
            columns = [column[0] for column in cursor.description or []]
            table = cursor.fetchall()
            print_table(columns, table)
            if "newest version" in columns:
                explain_version_gaps(columns, table)
    reports(meltano, warehouse)
    print(
        "\nRun ./demo again for an incremental run; ./demo --fresh starts over. Explore with:\n"
        f'    {shown(Path(sys.executable))} -c "import duckdb; '
        f"db = duckdb.connect('{shown(warehouse.duckdb)}'); db.sql('SHOW ALL TABLES').show()\"",
        flush=True,
    )


def reports(meltano: Meltano, warehouse: Warehouse) -> None:
    """Step 6: the dbt models, then the planner's weekly reports from them."""
    step(f"6. The planner's weekly reports: meltano run {MODELS}:build   (transform/, dbt)")
    if not warehouse.has_table("task_statuses"):
        note(
            "Skipped: this tap-aphex has no task_statuses stream, which the models read "
            "(docs/analytics.md)."
        )
        return
    started = time.monotonic()
    with warehouse.dbt_log.open("w", encoding="utf-8") as log:
        for _ in meltano.log_events("run", f"{MODELS}:build", log=log):
            pass  # dbt's own lines stay in the log; a failure raises with its last lines
    results = json.loads((warehouse.dbt_folder / "target" / "run_results.json").read_text())
    kinds = [result["unique_id"].split(".")[0] for result in results["results"]]
    note(
        f"dbt built {plural(kinds.count('model'), 'model')} in schema aphex_analytics and "
        f"passed {plural(kinds.count('test'), 'data test')} and "
        f"{plural(kinds.count('unit_test'), 'unit test')} (among them the vendor's two PPC "
        f"examples, 66% each) in {time.monotonic() - started:.0f} s (log: "
        f"{shown(warehouse.dbt_log)})."
    )
    with duckdb.connect(str(warehouse.duckdb), read_only=True) as db:
        log_from, log_to, weeks = db.execute(PPC_WEEKS).fetchone() or (None, None, 0)
        print(f"\n  {ppc_title(weeks)}")
        for line in PPC_EXPLAINED:
            note(line)
        if log_from is not None and log_to is not None:
            for line in ppc_weeks_explained(log_from, log_to, weeks):
                note(line)
        show_query(db, PPC_REPORT)
        print(
            "\n  Delays by category: working days of delay on current tasks, all weeks (a parent"
            " task's own left out: its subtasks' count)"
        )
        show_query(db, DELAYS_REPORT)
        ppc, delays = rows(db, CHART_PPC), rows(db, CHART_DELAYS)
    chart = draw_chart(ppc, delays, warehouse.chart)
    print(f"\n  The same as a chart: {shown(chart)}", flush=True)


def rows(db: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, t.Any]]:
    cursor = db.execute(sql)
    columns = [column[0] for column in cursor.description or []]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def show_query(db: duckdb.DuckDBPyConnection, sql: str) -> None:
    cursor = db.execute(sql)
    print_table([column[0] for column in cursor.description or []], cursor.fetchall())


def cell(value: object) -> str:
    """A value as a planner writes it: 1,234; 275 rather than 275.0; 12.5; a date as 2025-11-28."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain table: numbers right-aligned, everything else left-aligned."""
    cells = [[cell(value) for value in row] for row in rows]
    numeric = [
        all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
        for i in range(len(columns))
    ]
    widths = [max([len(name)] + [len(row[i]) for row in cells]) for i, name in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.rjust(width) if right else value.ljust(width)
            for value, width, right in zip(values, widths, numeric, strict=True)
        ]
        return "  │ " + " │ ".join(parts) + " │"

    print(line(columns))
    print("  ├─" + "─┼─".join("─" * width for width in widths) + "─┤")
    for row in cells:
        print(line(row))
    if not cells:
        print("  (none)")


def explain_version_gaps(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """`versions landed 24 | newest version 26` needs a word: which numbers are missing, and why."""
    at = {name: i for i, name in enumerate(columns)}
    for row in rows:
        landed, newest = row[at["versions landed"]], row[at["newest version"]]
        if isinstance(landed, int) and isinstance(newest, int) and landed < newest:
            note(
                f"{row[at['project']]}: {plural(landed, 'version')} landed, numbered up to "
                f"{newest}; the missing numbers are versions the tap skipped (the warnings above "
                "say which and why) or that the API no longer keeps."
            )


def show_progress(event: dict[str, t.Any]) -> None:
    """The tap's own story lines and every warning; the rest stays in the log file. The tap's
    end-of-run summary (records sent per stream) is left there too: step 5 counts what landed."""
    plugin, level, message = event.get("name"), event.get("level"), str(event.get("event", ""))
    if "metric_info" in event or message.startswith("Summary:"):
        return
    if level in ("warning", "error", "critical") and not message.startswith("No state was found"):
        note(f"{plugin or 'meltano'}: {level}: {message}")
    elif plugin == "tap-aphex" and event.get("cmd_type") == "elb" and level == "info":
        note(f"tap-aphex: {message}")
    elif message == "Run completed":
        note("meltano: run completed")


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # runs the `finally`s that stop the simulator and Meltano


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./demo", description=__doc__.splitlines()[0])
    parser.add_argument("--fresh", action="store_true", help="forget earlier runs and start over")
    parser.add_argument(
        "--output", type=Path, default=ROOT / "output", help="folder for the warehouse (output/)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        demo(Warehouse(args.output.resolve()), fresh=args.fresh)
    except MeltanoFailed as error:
        print(f"\n./demo: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\n./demo: interrupted; the simulator is stopped.", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
