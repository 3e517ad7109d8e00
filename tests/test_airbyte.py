"""`source-aphex`: the Airbyte protocol over real HTTP to the simulator.

Every message every command writes is checked against the protocol's own models
(`airbyte-protocol-models`): it must parse, and parse back to exactly what was written (no field
the protocol does not define, none of the wrong type).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import typing as t
from dataclasses import dataclass
from pathlib import Path

import pytest
from airbyte_protocol.models import AirbyteMessage
from aphex_simulator import Simulator
from harness import (
    UNWRITABLE_STDOUTS,
    events_config,
    plans_config,
    signalled,
    wait_until_writing_to_a_full_pipe,
    with_output_closed,
)

from tap_aphex import signals
from tap_aphex.airbyte.cli import run
from tap_aphex.airbyte.protocol import CHECKPOINT, singer_state
from tap_aphex.airbyte.writer import connection_status, error_trace

LOG_STREAMS = ("task_events", "tasks", "task_statuses")
PAGE = 150  # the simulator's page size in the read tests: 4 pages of events
SOURCE_APHEX = Path(sys.executable).with_name("source-aphex")


@dataclass
class AirbyteRun:
    messages: list[dict[str, t.Any]]
    exit_code: int

    def of_type(self, kind: str) -> list[dict[str, t.Any]]:
        return [m for m in self.messages if m["type"] == kind]

    def records(self, stream: str) -> list[dict[str, t.Any]]:
        return [
            m["record"]["data"] for m in self.of_type("RECORD") if m["record"]["stream"] == stream
        ]

    def states(self, stream: str) -> list[dict[str, t.Any]]:
        return [
            m["state"]["stream"]["stream_state"]
            for m in self.of_type("STATE")
            if m["state"]["stream"]["stream_descriptor"]["name"] == stream
        ]

    def errors(self) -> list[dict[str, t.Any]]:
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]

    def statuses(self, stream: str) -> list[str]:
        return [
            m["trace"]["stream_status"]["status"]
            for m in self.of_type("TRACE")
            if m["trace"]["type"] == "STREAM_STATUS"
            and m["trace"]["stream_status"]["stream_descriptor"]["name"] == stream
        ]

    def passed_back(self) -> list[dict[str, t.Any]]:
        """What a platform passes to the next read: the last state message of each stream."""
        last = {
            m["state"]["stream"]["stream_descriptor"]["name"]: m["state"]
            for m in self.of_type("STATE")
        }
        return list(last.values())


def valid(message: dict[str, t.Any]) -> dict[str, t.Any]:
    model = AirbyteMessage.parse_obj(message)
    assert json.loads(model.json(by_alias=True, exclude_unset=True)) == message, message
    return message


def source(tmp_path: Path, command: str, config: object = None, **files: object) -> AirbyteRun:
    """Run a `source-aphex` command in this process, as Airbyte would with files."""
    argv = [command]
    for option, content in (("config", config), *files.items()):
        if content is not None:
            path = tmp_path / f"{option}.json"
            path.write_text(json.dumps(content))
            argv += [f"--{option}", str(path)]
    out = io.BytesIO()
    exit_code = run(argv, out)
    lines = out.getvalue().decode().splitlines()
    return AirbyteRun([valid(json.loads(line)) for line in lines], exit_code)


def configured(
    run_or_catalog: AirbyteRun, streams: t.Iterable[str] | None = None, mode: str = "incremental"
) -> dict[str, t.Any]:
    """The ConfiguredAirbyteCatalog a platform builds from `discover`, selecting `streams`."""
    (catalog,) = run_or_catalog.of_type("CATALOG")
    wanted = set(streams) if streams is not None else None
    return {
        "streams": [
            {"stream": stream, "sync_mode": mode, "destination_sync_mode": "append_dedup"}
            for stream in catalog["catalog"]["streams"]
            if wanted is None or stream["name"] in wanted
        ]
    }


def read(
    tmp_path: Path,
    config: dict[str, t.Any],
    streams: t.Iterable[str] | None = None,
    state: object = None,
    mode: str = "incremental",
) -> AirbyteRun:
    catalog = configured(source(tmp_path, "discover", config), streams, mode)
    return source(tmp_path, "read", config, catalog=catalog, state=state)


def current_tasks(rows: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
    """As a deduplicating destination does: per id, the row with the largest cursor; deletes out."""
    latest: dict[str, dict[str, t.Any]] = {}
    for row in sorted(rows, key=lambda row: row["_aphex_log_sequence"]):
        latest[row["id"]] = row
    return {task_id: row for task_id, row in latest.items() if not row["_ab_cdc_deleted_at"]}


# ------------------------------------------------------------------------------------ spec


def test_spec_is_the_taps_settings_with_the_key_and_tokens_secret(tmp_path: Path) -> None:
    result = source(tmp_path, "spec")

    (message,) = result.messages
    spec = message["spec"]
    settings = spec["connectionSpecification"]["properties"]
    assert result.exit_code == 0
    # What `read` takes, as `--about` lists it (the SDK's stream maps too), but what `read`
    # refuses (batch, flattening) and `faker_config`: docs/airbyte.md's table says why.
    about = subprocess.run(
        [SOURCE_APHEX.with_name("tap-aphex"), "--about", "--format", "json"],
        capture_output=True,
        check=True,
    )
    offered = set(json.loads(about.stdout)["settings"]["properties"])
    left_out = {"batch_config", "faker_config", *(s for s in offered if s.startswith("flatten"))}
    assert set(settings) == offered - left_out
    assert {"stream_maps", "stream_map_config"} <= set(settings)
    assert settings["api_key"]["airbyte_secret"] is True
    assert settings["projects"]["items"]["properties"]["token"]["airbyte_secret"] is True
    assert [name for name, setting in settings.items() if setting.get("airbyte_secret")] == [
        "api_key"
    ]
    assert spec["supportsIncremental"] is True
    assert spec["documentationUrl"].startswith("https://")


def test_version_is_the_taps_own_line_and_help_still_answers() -> None:
    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)

    version = command(str(SOURCE_APHEX), "--version")
    taps = command(str(SOURCE_APHEX.with_name("tap-aphex")), "--version")
    usage = command(str(SOURCE_APHEX), "--help")

    assert (version.returncode, version.stderr) == (0, "")
    assert version.stdout == taps.stdout  # one version, from one place
    assert taps.stdout.startswith("tap-aphex v")
    assert usage.returncode == 0
    assert usage.stdout.startswith("usage: source-aphex [-h] [--version] {spec,")


# ----------------------------------------------------------------------------------- check


def test_check_makes_one_request_per_api_and_succeeds() -> None:
    with Simulator(seed=3, events=300, page_size=100, daily_quota=None, plan_projects=2) as sim:
        projects = [{"url": p.url, "token": p.token, "name": p.name} for p in sim.plan_projects]
        config = {**events_config(sim), "projects": projects}
        result = source_in_tmp("check", config)

        (status,) = result.of_type("CONNECTION_STATUS")
        assert status["connectionStatus"]["status"] == "SUCCEEDED", status
        assert result.exit_code == 0
        assert len(sim.requests) == 3  # the Data API, and each of the two projects
        plan_requests = [r for r in sim.requests if "limit" in r.query]
        assert [r.query["limit"] for r in plan_requests] == ["1", "1"]
        assert len([r for r in sim.requests if r.events]) == 1


@pytest.mark.parametrize("refused", ["api_key", "token"])
def test_check_names_a_refused_key_or_token_and_never_prints_it(refused: str) -> None:
    with Simulator(seed=3, events=300, page_size=100, daily_quota=None, plan_projects=1) as sim:
        (project,) = sim.plan_projects
        secret = "not-the-key-0123456789"
        config = {
            **events_config(sim),
            "projects": [{"url": project.url, "token": project.token, "name": "Riverside"}],
        }
        if refused == "api_key":
            config["api_key"] = secret
        else:
            config["projects"][0]["token"] = secret
        result = source_in_tmp("check", config)

    (status,) = result.of_type("CONNECTION_STATUS")
    message = status["connectionStatus"]["message"]
    assert status["connectionStatus"]["status"] == "FAILED"
    assert ("refused the key" if refused == "api_key" else "project Riverside: ") in message
    assert ("Data API" not in message) if refused == "token" else ("project" not in message)
    assert secret not in json.dumps(result.messages)
    assert result.exit_code == 0  # a failed check is an answer


def source_in_tmp(command: str, config: object) -> AirbyteRun:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        return source(Path(folder), command, config)


# -------------------------------------------------------------------------------- discover


def test_discover_offers_every_stream_with_modes_cursor_and_keys(tmp_path: Path) -> None:
    with Simulator(seed=3, events=10, daily_quota=None, plan_projects=1) as sim:
        projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
        result = source(tmp_path, "discover", {**events_config(sim), "projects": projects})

    (message,) = result.of_type("CATALOG")
    streams = {stream["name"]: stream for stream in message["catalog"]["streams"]}
    assert set(streams) == {
        "task_events",
        "tasks",
        "task_statuses",
        "published_plans",
        "published_plan_tasks",
        "published_plan_statuses",
    }
    for name, stream in streams.items():
        # The log's streams share one position: incremental only (a full refresh is refused).
        modes = ["incremental"] if name in LOG_STREAMS else ["full_refresh", "incremental"]
        assert stream["supported_sync_modes"] == modes
        assert stream["source_defined_cursor"] is True
        (cursor,) = stream["default_cursor_field"]
        assert cursor in stream["json_schema"]["properties"]
    assert streams["tasks"]["source_defined_primary_key"] == [["id"]]
    assert streams["task_events"]["source_defined_primary_key"] == [["eventId"]]
    assert streams["published_plans"]["default_cursor_field"] == ["publishedAt"]
    # Log order, which eventIds (random) and event times (they tie) do not give.
    assert streams["tasks"]["default_cursor_field"] == ["_aphex_log_sequence"]
    assert "_ab_cdc_deleted_at" in streams["tasks"]["json_schema"]["properties"]


def test_discover_offers_each_stream_as_its_maps_send_it(tmp_path: Path) -> None:
    # The mapper's schema and key properties, as the SDK writes them in SCHEMA messages.
    maps = {
        "task_events": {"extra": "int(1)", "apiVersion": None, "__key_properties__": ["type"]},
        "task_statuses": None,  # no record sent: not offered
    }
    with Simulator(seed=3, events=10, daily_quota=None, plan_projects=1) as sim:
        projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
        maps["published_plans"] = {"publishedAt": None}
        config = {**events_config(sim), "projects": projects, "stream_maps": maps}
        discovered = source(tmp_path, "discover", config)
        result = source(tmp_path, "read", config, catalog=configured(discovered, ["task_events"]))

    (message,) = discovered.of_type("CATALOG")
    streams = {stream["name"]: stream for stream in message["catalog"]["streams"]}
    assert "task_statuses" not in streams
    events = streams["task_events"]
    assert events["source_defined_primary_key"] == [["type"]]
    assert events["json_schema"]["properties"]["extra"]["type"] == ["integer", "null"]
    (record, *_) = result.records("task_events")
    assert set(record) == set(events["json_schema"]["properties"])
    assert record["extra"] == 1
    # A cursor a map removes is offered as none, not as a column the records lack; nor as the
    # source's (Airbyte reads a source-defined cursor with no field as inconsistent): it asks.
    assert "publishedAt" not in streams["published_plans"]["json_schema"]["properties"]
    assert streams["published_plans"]["default_cursor_field"] == []
    assert streams["published_plans"]["source_defined_cursor"] is False
    assert streams["published_plan_tasks"]["default_cursor_field"] == ["publishedAt"]
    assert streams["published_plan_tasks"]["source_defined_cursor"] is True


# ------------------------------------------------------------------------------------ read


@pytest.fixture
def sim() -> t.Iterator[Simulator]:
    with Simulator(
        seed=7, events=4 * PAGE, page_size=PAGE, daily_quota=None, plan_projects=0
    ) as sim:
        yield sim


def test_read_delivers_every_event_once_and_tasks_equal_the_truth(
    sim: Simulator, tmp_path: Path
) -> None:
    result = read(tmp_path, events_config(sim))

    events = [event["eventId"] for event in sim.event_log.events]
    assert result.exit_code == 0
    assert [record["eventId"] for record in result.records("task_events")] == events
    tasks = current_tasks(result.records("tasks"))
    truth = sim.current_tasks()
    assert set(tasks) == set(truth)
    assert all(tasks[task_id]["name"] == truth[task_id]["name"] for task_id in truth)
    assert all(isinstance(m["record"]["emitted_at"], int) for m in result.of_type("RECORD"))


def test_a_read_of_some_log_streams_writes_no_checkpoint_so_no_event_is_skipped(
    sim: Simulator, tmp_path: Path
) -> None:
    # task_statuses read alone from behind (a stream added later), stopped after a page: its
    # position is older than the others', its checkpoint was newer, and the read of all three
    # resumed from the others' position, past statuses it never got. A checkpoint orders only
    # streams read together; here the read of all three follows the tap's rule instead.
    first = read(tmp_path, events_config(sim), ["task_events", "tasks"])
    sim.append_events(2 * PAGE)
    config = events_config(sim, max_events_per_run=PAGE)

    alone = read(tmp_path, config, ["task_statuses"], state=last_states(first))

    assert alone.exit_code == 0
    assert alone.states("task_events") == alone.states("tasks") == []  # not read: no STATE
    assert all(CHECKPOINT not in state for state in alone.states("task_statuses"))
    state = list({**last_states(first, by_name=True), **last_states(alone, by_name=True)}.values())
    after = read(tmp_path, events_config(sim), state=state)
    every = [event["eventId"] for event in sim.event_log.events]
    assert [record["eventId"] for record in after.records("task_events")] == every
    warnings = [m["log"]["message"] for m in after.of_type("LOG") if m["log"]["level"] == "WARN"]
    assert any("bookmarks differ" in message for message in warnings), warnings


def test_a_read_writes_no_state_for_a_stream_it_does_not_read(
    sim: Simulator, tmp_path: Path
) -> None:
    # A platform keeps the state it has for a stream left out; this one had been re-sent as is.
    plans = {"partitions": [{"context": {"accountId": "a1"}, "replication_key": "publishedAt"}]}
    state = {"bookmarks": {"published_plans": plans}}

    result = read(tmp_path, events_config(sim), ["task_events"], state=state)

    assert result.exit_code == 0
    assert {m["state"]["stream"]["stream_descriptor"]["name"] for m in result.of_type("STATE")} == {
        "task_events"
    }


def test_a_read_resuming_from_behind_writes_no_checkpoint_until_it_passes_every_position(
    sim: Simulator, tmp_path: Path
) -> None:
    # task_statuses committed at an early page, the others at the end; the read resumes all from
    # task_statuses' position, and the platform commits tasks and task_statuses at its first STATE,
    # task_events not. That STATE's checkpoint was newer than task_events' while its position was
    # older: the next read resumed from the end, and task_statuses never got the events between.
    first = read(tmp_path, events_config(sim))
    kept = last_states(first, by_name=True)
    kept["task_statuses"] = stream_message("task_statuses", first.states("task_statuses")[1])

    behind = read(tmp_path, events_config(sim), state=list(kept.values()))

    assert behind.exit_code == 0
    early = {
        name: stream_message(name, behind.states(name)[0]) for name in ("tasks", "task_statuses")
    }
    assert all(CHECKPOINT not in message["stream"]["stream_state"] for message in early.values())
    after = read(tmp_path, events_config(sim), state=[kept["task_events"], *early.values()])
    every = [event["eventId"] for event in sim.event_log.events]
    assert [record["eventId"] for record in after.records("task_events")] == every  # tap's rule
    assert after.states("task_statuses")[-1][CHECKPOINT] > max(
        state[CHECKPOINT] for state in first.states("task_events")
    )


def test_the_closing_state_keeps_its_positions_checkpoint_so_a_mixed_commit_resumes_cheaply(
    sim: Simulator, tmp_path: Path
) -> None:
    # The closing STATE restated the last position with a newer checkpoint: committed beside the
    # STATE before it, one position had two checkpoints, and the next read re-read the whole log.
    first = read(tmp_path, events_config(sim))
    states = {name: first.states(name) for name in LOG_STREAMS}
    committed = [
        stream_message("task_events", states["task_events"][-1]),
        stream_message("task_statuses", states["task_statuses"][-2]),
        stream_message("tasks", states["tasks"][0]),  # the oldest: where the next read resumes
    ]

    after = read(tmp_path, events_config(sim), state=committed)

    assert after.exit_code == 0
    ids = [event["eventId"] for event in sim.event_log.events]
    oldest = ids.index(states["tasks"][0]["replication_key_value"])
    assert [r["eventId"] for r in after.records("task_events")] == ids[oldest + 1 :]


def stream_message(name: str, stream_state: dict[str, t.Any]) -> dict[str, t.Any]:
    return {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": name}, "stream_state": stream_state},
    }


def last_states(run: AirbyteRun, *, by_name: bool = False) -> t.Any:
    """Each stream's last STATE of ``run``, as a platform keeps them (``by_name``: keyed)."""
    kept = {
        m["state"]["stream"]["stream_descriptor"]["name"]: m["state"] for m in run.of_type("STATE")
    }
    return kept if by_name else list(kept.values())


def test_read_states_the_shared_log_position_after_each_page(
    sim: Simulator, tmp_path: Path
) -> None:
    result = read(tmp_path, events_config(sim))

    page_ends = [e["eventId"] for e in sim.event_log.events[PAGE - 1 :: PAGE]]
    for stream in LOG_STREAMS:
        states = result.states(stream)
        positions = [state["replication_key_value"] for state in states]
        # After each page; the sync's end restates the last one (the SDK tidies its bookmark).
        assert list(dict.fromkeys(positions)) == page_ends
        checkpoints = [state[CHECKPOINT] for state in states]
        # One checkpoint per position, growing with it (the closing STATE restates the last).
        assert checkpoints == sorted(checkpoints)
        pairs = set(zip(positions, checkpoints, strict=True))
        assert len(pairs) == len(set(positions)) == len(set(checkpoints))
    assert [s[CHECKPOINT] for s in result.states("tasks")] == [
        s[CHECKPOINT] for s in result.states("task_events")
    ]
    # Each STATE counts the records of its stream since the one before (the platform checks it).
    counts = [m["state"]["sourceStats"]["recordCount"] for m in result.of_type("STATE")]
    assert sum(counts) == len(result.of_type("RECORD"))
    assert {m["state"]["type"] for m in result.of_type("STATE")} == {"STREAM"}


def test_a_state_never_runs_ahead_of_the_records_before_it(sim: Simulator, tmp_path: Path) -> None:
    result = read(tmp_path, events_config(sim))

    delivered: set[str] = set()
    for message in result.messages:
        if message["type"] == "RECORD" and message["record"]["stream"] == "task_events":
            delivered.add(message["record"]["data"]["eventId"])
        if message["type"] == "STATE":
            assert message["state"]["stream"]["stream_state"]["replication_key_value"] in delivered


def test_each_stream_reports_started_running_complete(sim: Simulator, tmp_path: Path) -> None:
    result = read(tmp_path, events_config(sim))

    for stream in LOG_STREAMS:
        assert result.statuses(stream) == ["STARTED", "RUNNING", "COMPLETE"]
    logs = [m["log"]["message"] for m in result.of_type("LOG")]
    assert any("Reading the task-event log" in line for line in logs)


@pytest.mark.parametrize("form", ["state messages", "legacy object"])
def test_the_next_read_with_the_state_passed_back_reads_only_new_events(
    sim: Simulator, tmp_path: Path, form: str
) -> None:
    first = read(tmp_path, events_config(sim))
    new = sim.append_events(150)
    state: object = first.passed_back()
    if form == "legacy object":  # a Singer state, as Airbyte's Singer adapter kept it
        state = {"bookmarks": {s: first.states(s)[-1] for s in LOG_STREAMS}}

    second = read(tmp_path, events_config(sim), state=state)

    assert [r["eventId"] for r in second.records("task_events")] == [e["eventId"] for e in new]
    tasks = current_tasks(first.records("tasks") + second.records("tasks"))
    assert set(tasks) == set(sim.current_tasks())


def plans_read(run: AirbyteRun) -> set[tuple[str, int]]:
    return {(r["accountId"], r["version"]) for r in run.records("published_plans")}


DOCS = Path(__file__).parents[1] / "docs" / "airbyte.md"


@pytest.mark.skipif(shutil.which("jq") is None, reason="the recipe uses jq, not installed here")
def test_the_docs_recipe_keeps_the_state_from_read_to_read(tmp_path: Path) -> None:
    """docs/airbyte.md's lines, as a user runs them, around the real command: three reads, each
    event and published plan once. The recipe keeps each stream's newest state (the source reads
    no STATE message), and running it twice on one output changes nothing."""
    recipe = DOCS.read_text().split("```bash\necho '[]'")[1].split("```")[0].splitlines()
    keep = next(line for line in recipe if line.startswith("jq "))
    with Simulator(
        seed=7, events=PAGE, page_size=PAGE, daily_quota=None, plan_projects=2, plan_tasks=3
    ) as sim:
        config = {**events_config(sim), **plans_config(sim.plan_projects)}
        (tmp_path / "config.json").write_text(json.dumps(config))
        catalog = configured(source(tmp_path, "discover", config))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        (tmp_path / "state.json").write_text("[]")
        runs: list[AirbyteRun] = []
        new_events, published = [list(sim.event_log.events)], [set[tuple[str, int]]()]
        for _ in range(3):
            argv = ["read", "--config", "config.json", "--catalog", "catalog.json"]
            out = subprocess.run(
                [str(SOURCE_APHEX), *argv, "--state", "state.json"],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                check=True,
                timeout=120,
            ).stdout
            (tmp_path / "out.jsonl").write_text(out)
            for _again in range(2):
                subprocess.run(["bash", "-c", keep], cwd=tmp_path, check=True, timeout=60)
            runs.append(AirbyteRun([json.loads(line) for line in out.splitlines()], 0))
            kept = json.loads((tmp_path / "state.json").read_text())
            names = [m["stream"]["stream_descriptor"]["name"] for m in kept]
            assert sorted(names) == sorted(set(names)) == sorted(catalog_streams(catalog))
            newest = {n: m for n, m in zip(names, kept, strict=True)} | {
                m["state"]["stream"]["stream_descriptor"]["name"]: m["state"]
                for m in runs[-1].of_type("STATE")
            }
            assert kept == [newest[name] for name in names]
            new_events.append(sim.append_events(40))
            projects = sim.plan_projects
            published.append({(p.account_id, sim.publish_version(p.account_id)) for p in projects})

    assert plans_read(runs[0])  # then only what was published since: none again, none missed
    for done, events, plans in zip(runs, new_events, published, strict=False):
        assert done.errors() == []
        assert [r["eventId"] for r in done.records("task_events")] == [e["eventId"] for e in events]
        assert plans_read(done) == (plans or plans_read(done))


def catalog_streams(catalog: dict[str, t.Any]) -> list[str]:
    return [entry["stream"]["name"] for entry in catalog["streams"]]


def meltano_state(position: str) -> dict[str, t.Any]:
    """A Meltano state (`meltano state get`): the Singer state under `singer_state`."""
    bookmark = {"replication_key": "eventId", "replication_key_value": position}
    return {"singer_state": {"bookmarks": dict.fromkeys(LOG_STREAMS, bookmark)}}


#: The legacy object: a Singer state, as Meltano keeps it or bare.
SINGER_STATE_PLACES: dict[str, t.Callable[[dict[str, t.Any]], object]] = {
    "the legacy object": lambda wrapped: wrapped,
    "the legacy object, unwrapped": lambda wrapped: wrapped["singer_state"],
}


@pytest.mark.parametrize("place", SINGER_STATE_PLACES)
def test_a_meltano_state_moved_over_resumes_the_log(
    sim: Simulator, tmp_path: Path, place: str
) -> None:
    position = sim.event_log.events[2 * PAGE - 1]["eventId"]
    state = SINGER_STATE_PLACES[place](meltano_state(position))

    result = read(tmp_path, events_config(sim), state=state)

    assert result.exit_code == 0, result.errors()
    assert sim.requests[0].query.get("startAfter") == position
    assert len(result.records("task_events")) == 2 * PAGE  # the last two pages only


def test_log_streams_kept_apart_by_the_platform_resume_together_from_the_older(
    sim: Simulator, tmp_path: Path
) -> None:
    first = read(tmp_path, events_config(sim))
    # The platform committed task_events' third checkpoint but only tasks' second.
    kept = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "task_events"},
                "stream_state": first.states("task_events")[2],
            },
        },
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "tasks"},
                "stream_state": first.states("tasks")[1],
            },
        },
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "task_statuses"},
                "stream_state": first.states("task_statuses")[2],
            },
        },
    ]
    sim.clear_requests()

    second = read(tmp_path, events_config(sim), state=kept)

    assert sim.requests[0].query["startAfter"] == first.states("tasks")[1]["replication_key_value"]
    assert len(second.records("task_events")) == 2 * PAGE  # the last two pages, not all four
    tasks = current_tasks(first.records("tasks")[: 2 * PAGE] + second.records("tasks"))
    assert set(tasks) == set(sim.current_tasks())


AT_A = {"replication_key": "eventId", "replication_key_value": "a"}


@pytest.mark.parametrize(
    ("passed", "expected"),
    [
        ([], {}),
        ({}, {}),
        (
            {"bookmarks": {"tasks": {"replication_key": "eventId", "replication_key_value": "a"}}},
            {"bookmarks": {"tasks": {"replication_key": "eventId", "replication_key_value": "a"}}},
        ),
        (
            [
                {
                    "type": "STREAM",
                    "stream": {
                        "stream_descriptor": {"name": "tasks"},
                        "stream_state": {
                            "replication_key": "eventId",
                            "replication_key_value": "a",
                        },
                    },
                }
            ],
            {"bookmarks": {"tasks": {"replication_key": "eventId", "replication_key_value": "a"}}},
        ),
        (
            {
                "singer_state": {
                    "bookmarks": {
                        "tasks": {"replication_key": "eventId", "replication_key_value": "a"}
                    }
                }
            },
            {"bookmarks": {"tasks": {"replication_key": "eventId", "replication_key_value": "a"}}},
        ),
        # A position one stream kept, restated by another under a newer checkpoint: the older.
        (
            {
                "bookmarks": {
                    "task_events": {**AT_A, CHECKPOINT: 1},
                    "tasks": {**AT_A, CHECKPOINT: 2},
                    "task_statuses": {**AT_A, "replication_key_value": "b", CHECKPOINT: 3},
                }
            },
            {"bookmarks": {name: AT_A for name in ("task_events", "tasks", "task_statuses")}},
        ),
        # A position's checkpoints on both sides of another's: no order (the tap's rule).
        (
            {
                "bookmarks": {
                    "task_events": {**AT_A, CHECKPOINT: 1},
                    "tasks": {**AT_A, "replication_key_value": "b", CHECKPOINT: 2},
                    "task_statuses": {**AT_A, CHECKPOINT: 3},
                }
            },
            {
                "bookmarks": {
                    "task_events": AT_A,
                    "tasks": {**AT_A, "replication_key_value": "b"},
                    "task_statuses": AT_A,
                }
            },
        ),
        # Both log streams with checkpoints that disagree: both from the older.
        (
            {
                "bookmarks": {
                    "task_events": {
                        "replication_key": "eventId",
                        "replication_key_value": "b",
                        CHECKPOINT: 2,
                    },
                    "tasks": {
                        "replication_key": "eventId",
                        "replication_key_value": "a",
                        CHECKPOINT: 1,
                    },
                }
            },
            {
                "bookmarks": {
                    "task_events": {"replication_key": "eventId", "replication_key_value": "a"},
                    "tasks": {"replication_key": "eventId", "replication_key_value": "a"},
                }
            },
        ),
        # One checkpoint at two positions (edited by hand): nothing says which is older, so the
        # tap's own rule applies, as without checkpoints.
        (
            {
                "bookmarks": {
                    "task_events": {
                        "replication_key": "eventId",
                        "replication_key_value": "b",
                        CHECKPOINT: 1,
                    },
                    "tasks": {
                        "replication_key": "eventId",
                        "replication_key_value": "a",
                        CHECKPOINT: 1,
                    },
                }
            },
            {
                "bookmarks": {
                    "task_events": {"replication_key": "eventId", "replication_key_value": "b"},
                    "tasks": {"replication_key": "eventId", "replication_key_value": "a"},
                }
            },
        ),
        # A Singer state with no bookmark yet (only `currently_syncing`): a first read.
        (
            {"bookmarks": {}, "currently_syncing": "task_events"},
            {"bookmarks": {}, "currently_syncing": "task_events"},
        ),
        # Without checkpoints, the tap's own rule applies (it re-reads from `start_after`).
        (
            {
                "bookmarks": {
                    "task_events": {"replication_key": "eventId", "replication_key_value": "b"},
                    "tasks": {"replication_key": "eventId", "replication_key_value": "a"},
                }
            },
            {
                "bookmarks": {
                    "task_events": {"replication_key": "eventId", "replication_key_value": "b"},
                    "tasks": {"replication_key": "eventId", "replication_key_value": "a"},
                }
            },
        ),
    ],
)
def test_state_airbyte_passes_back_becomes_the_taps_state(
    passed: object, expected: dict[str, t.Any]
) -> None:
    assert singer_state(passed, selected=LOG_STREAMS).state == expected


def test_full_refresh_reads_published_plans_from_the_beginning_whatever_the_state(
    tmp_path: Path,
) -> None:
    with Simulator(seed=3, events=0, daily_quota=None, plan_projects=1, plan_tasks=3) as sim:
        config = {"projects": [{"url": p.url, "token": p.token} for p in sim.plan_projects]}
        first = read(tmp_path, config, streams=["published_plans"])

        again = read(
            tmp_path,
            config,
            streams=["published_plans"],
            state=first.passed_back(),
            mode="full_refresh",
        )

    assert first.records("published_plans")
    assert sorted(r["publishedPlanId"] for r in again.records("published_plans")) == sorted(
        r["publishedPlanId"] for r in first.records("published_plans")
    )


def test_read_honours_the_selection(sim: Simulator, tmp_path: Path) -> None:
    result = read(tmp_path, events_config(sim), streams=["tasks"])

    assert result.records("task_events") == []
    assert set(current_tasks(result.records("tasks"))) == set(sim.current_tasks())
    assert result.statuses("task_events") == []


def test_a_refused_key_ends_the_read_with_a_config_error(sim: Simulator, tmp_path: Path) -> None:
    config = {**events_config(sim), "api_key": "wrong-key-0123456789"}
    catalog = configured(source(tmp_path, "discover", config))

    result = source(tmp_path, "read", config, catalog=catalog)

    (error,) = result.errors()
    assert error["failure_type"] == "config_error"
    assert "refused the key (HTTP 401)" in error["message"]
    assert "wrong-key-0123456789" not in json.dumps(result.messages)
    assert result.statuses("task_events")[-1] == "INCOMPLETE"
    assert result.exit_code == 1


def test_a_server_failure_is_a_system_error_after_what_landed(
    sim: Simulator, tmp_path: Path
) -> None:
    catalog = configured(source(tmp_path, "discover", events_config(sim)))
    sim.inject_fault("garbage")  # the first page is HTML

    result = source(tmp_path, "read", events_config(sim), catalog=catalog)

    (error,) = result.errors()
    assert error["failure_type"] == "system_error"
    assert "not JSON" in error["message"]
    assert result.exit_code == 1


def test_the_daily_limit_stops_cleanly_with_the_state_saved(tmp_path: Path) -> None:
    quota = 2 * PAGE + 50  # runs out in the third page
    with Simulator(
        seed=7, events=4 * PAGE, page_size=PAGE, daily_quota=quota, plan_projects=0
    ) as sim:
        # No retry budget: the first 503 is taken as the daily limit, with no wait.
        result = read(tmp_path, {**events_config(sim), "retry_budget_seconds": 0})
        delivered = [r["eventId"] for r in result.records("task_events")]

    assert result.exit_code == 0
    assert result.errors() == []
    assert len(delivered) == quota
    assert result.states("task_events")[-1]["replication_key_value"] == delivered[-1]
    assert result.states("tasks")[-1]["replication_key_value"] == delivered[-1]
    assert result.statuses("task_events")[-1] == "COMPLETE"


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (
            {
                "catalog": {
                    "streams": [{"stream": {"name": "no_such_stream"}, "sync_mode": "incremental"}]
                }
            },
            "no_such_stream",
        ),
        ({"catalog": {"streams": []}, "state": "not state"}, "is a string; this source reads"),
        (  # in JSON's words, never Python's (`a JSON int`)
            {
                "catalog": {"streams": []},
                "state": [
                    {
                        "type": "STREAM",
                        "stream": {"stream_descriptor": {"name": "tasks"}, "stream_state": 5},
                    }
                ],
            },
            "the stream state of tasks is a number, not an object",
        ),
        ({"catalog": {"streams": []}, "state": {"cursor": "x"}}, "without `bookmarks`"),
        (
            {"catalog": {"streams": []}, "state": {"bookmarks": "x"}},
            "an object whose `bookmarks` is not an object",
        ),
        ({"catalog": {"streams": []}, "state": [{"type": "PER_STREAM"}]}, 'type "PER_STREAM"'),
        *(  # each as what it is, in JSON's words
            ({"catalog": {"streams": []}, "state": [message]}, problem)
            for message, problem in [
                ({"type": None}, "a state message of type null"),
                ({"bookmarks": {}}, "a list holding a Singer state (pass the state, not the list)"),
            ]
        ),
        (  # which mode is meant? Neither guess is safe.
            {
                "catalog": {
                    "streams": [
                        {"stream": {"name": "task_events"}, "sync_mode": mode}
                        for mode in ("incremental", "full_refresh")
                    ]
                }
            },
            "lists the stream task_events twice",
        ),
        (  # which is the stream's position?
            {
                "catalog": {"streams": []},
                "state": [
                    {
                        "type": "STREAM",
                        "stream": {
                            "stream_descriptor": {"name": "task_events"},
                            "stream_state": {
                                "replication_key": "eventId",
                                "replication_key_value": value,
                            },
                        },
                    }
                    for value in ("a", "b")
                ],
            },
            "two stream states for task_events",
        ),
    ],
)
def test_a_catalog_or_state_that_does_not_fit_is_one_clear_trace(
    sim: Simulator, tmp_path: Path, files: dict[str, object], problem: str
) -> None:
    result = source(tmp_path, "read", events_config(sim), **files)

    (error,) = result.errors()
    assert problem in error["message"]
    assert error["failure_type"] == "config_error"
    assert result.exit_code == 1
    assert result.of_type("RECORD") == []


def test_an_invalid_config_is_a_config_error(tmp_path: Path) -> None:
    result = source(tmp_path, "discover", {"page_size": "many"})

    (error,) = result.errors()
    assert error["failure_type"] == "config_error"
    assert result.exit_code == 1


def test_the_command_writes_airbyte_messages_only_on_stdout(sim: Simulator, tmp_path: Path) -> None:
    """The console script as a platform runs it: a process whose every stdout line is a message."""
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(events_config(sim)))
    catalog.write_text(json.dumps(configured(source(tmp_path, "discover", events_config(sim)))))

    done = subprocess.run(
        [str(SOURCE_APHEX), "read", "--config", str(config), "--catalog", str(catalog)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "always"},
        check=False,
    )

    messages = [valid(json.loads(line)) for line in done.stdout.splitlines()]
    assert done.returncode == 0, done.stderr
    streams = [m["record"]["stream"] for m in messages if m["type"] == "RECORD"]
    assert streams.count("task_events") == len(sim.event_log.events)
    assert streams.count("tasks") > 0  # each task's newest change per page
    assert any(m["type"] == "LOG" for m in messages)
    assert done.stderr == ""


def test_a_reader_that_stops_reading_ends_the_command_without_a_traceback(
    sim: Simulator, tmp_path: Path
) -> None:
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(events_config(sim)))
    catalog.write_text(json.dumps(configured(source(tmp_path, "discover", events_config(sim)))))
    command = [str(SOURCE_APHEX), "read", "--config", str(config), "--catalog", str(catalog)]

    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.readline()
        process.stdout.close()  # as a platform that stopped reading
        stderr = process.stderr.read().decode()
        exit_code = process.wait(timeout=120)

    assert exit_code == 1
    # Its stdout gone, no TRACE can say it: one line on stderr does.
    assert stderr == (
        "source-aphex: Output closed by its reader (broken pipe): stopped. The last STATE the "
        "reader received is where the next run resumes.\n"
    )


def test_a_discovery_whose_reader_went_away_says_so_on_stderr(
    sim: Simulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(events_config(sim)))
    done = with_output_closed([str(SOURCE_APHEX), "discover", "--config", str(config)])

    assert done.returncode == 1
    assert done.stderr == "source-aphex: Output closed by its reader (broken pipe): stopped.\n"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="Linux's /dev/full")
@pytest.mark.parametrize("redirect", list(UNWRITABLE_STDOUTS))
@pytest.mark.parametrize("command", ["spec", "check", "read", "--version", "--help"])
def test_a_stdout_that_cannot_be_written_is_one_line_on_stderr(
    sim: Simulator, tmp_path: Path, redirect: str, command: str
) -> None:
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(events_config(sim)))
    catalog.write_text(json.dumps(configured(source(tmp_path, "discover", events_config(sim)))))
    args = {
        "spec": [],
        "--version": [],  # argparse's own print would drop the error
        "--help": [],
        "check": ["--config", str(config)],
        "read": ["--config", str(config), "--catalog", str(catalog)],
    }[command]
    done = subprocess.run(
        ["sh", "-c", f'exec "$@" {redirect}', "sh", str(SOURCE_APHEX), command, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1
    said = UNWRITABLE_STDOUTS[redirect]
    if command == "read" and redirect == ">/dev/full":  # a read claims nothing landed
        said += " The last STATE written in full is where the next run resumes."
    assert done.stderr == f"source-aphex: Output cannot be written: {said}\n"


def test_sigterm_ends_a_read_at_once_with_nothing_more_written(
    sim: Simulator, tmp_path: Path
) -> None:
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(events_config(sim)))
    catalog.write_text(json.dumps(configured(source(tmp_path, "discover", events_config(sim)))))
    sim.inject_fault("stall", stall_seconds=60)  # the first request hangs: the sync is mid-way
    command = [str(SOURCE_APHEX), "read", "--config", str(config), "--catalog", str(catalog)]

    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        lines = []
        while b"Reading the task-event log" not in (line := process.stdout.readline()):
            assert line, "the read ended before its first request"
            lines.append(line)
        process.send_signal(signal.SIGTERM)
        lines += process.stdout.read().splitlines()
        exit_code = process.wait(timeout=30)

    messages = [valid(json.loads(line)) for line in lines]
    assert exit_code == -signal.SIGTERM  # what PyAirbyte counts as a clean stop
    assert [m for m in messages if m["type"] in ("STATE", "RECORD")] == []


def test_sigint_ends_a_read_in_time_even_when_nobody_reads_its_output(tmp_path: Path) -> None:
    # Its TRACE saying so would wait on the full pipe for as long as the reader stalls.
    with Simulator(seed=3, events=5_000, page_size=4_000, daily_quota=None, plan_projects=0) as sim:
        config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
        config.write_text(json.dumps(events_config(sim)))
        catalog.write_text(json.dumps(configured(source(tmp_path, "discover", events_config(sim)))))
        command = [str(SOURCE_APHEX), "read", "--config", str(config), "--catalog", str(catalog)]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        wait_until_writing_to_a_full_pipe(process)
        waited, stderr = signalled(process, signal.SIGINT, within=signals.GIVE_UP_AFTER + 10)

    assert process.returncode == 130
    assert signals.GIVE_UP_AFTER - 0.5 <= waited <= signals.GIVE_UP_AFTER + 5
    assert stderr.endswith(
        "source-aphex: Interrupted (SIGINT): stopped. The output was not being read, so its last "
        "line may be cut; the last STATE the reader received is where the next run resumes.\n"
    )


@pytest.mark.parametrize("landed", [0, 1])  # projects whose STATE went out before the signal
def test_sigint_mid_read_says_whether_the_next_read_resumes(tmp_path: Path, landed: int) -> None:
    # A STATE is where the next read resumes; before the first one, it starts where this one did.
    with Simulator(seed=4, events=0, daily_quota=None, plan_projects=2, plan_tasks=5) as sim:
        stalled = sim.plan_projects[landed]
        sim.set_plan_fault(stalled.account_id, "stall", stall_seconds=60)
        config = plans_config(sim.plan_projects, max_parallel_projects=1)
        config_file, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
        config_file.write_text(json.dumps(config))
        catalog.write_text(json.dumps(configured(source(tmp_path, "discover", config))))
        command = [
            str(SOURCE_APHEX),
            "read",
            "--config",
            str(config_file),
            "--catalog",
            str(catalog),
        ]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
            assert process.stdout is not None
            lines: list[bytes] = []
            asked, states = f"Project {stalled.name}: requesting".encode(), 0
            while not (asked in b"".join(lines) and states >= landed):
                lines.append(line := process.stdout.readline())
                assert line, "the read ended before the stalled project was asked"
                states += json.loads(line)["type"] == "STATE"
            process.send_signal(signal.SIGINT)
            lines += process.stdout.read().splitlines()
            exit_code = process.wait(timeout=30)

    messages = [valid(json.loads(line)) for line in lines]
    errors = [
        m["trace"]["error"] for m in messages if m["type"] == "TRACE" and "error" in m["trace"]
    ]
    assert exit_code == 130
    assert bool([m for m in messages if m["type"] == "STATE"]) is bool(landed)
    said = (
        "the last STATE holds what landed, and the next read resumes there"
        if landed
        else "no STATE was sent yet, so the next read starts where this one did"
    )
    assert errors[-1] == {"message": f"Interrupted; {said}.", "failure_type": "transient_error"}


@pytest.mark.parametrize("after", [0.0, 0.01, 0.02])  # as the last status goes out, and later
def test_sigint_once_every_stream_is_complete_changes_nothing(
    sim: Simulator, tmp_path: Path, after: float
) -> None:
    # The read has answered: it exits 0 as without the signal. A 130 (with its TRACE) would have
    # the platform count a failure and retry, spending quota on data that landed.
    config, catalog = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps(events_config(sim)))
    configured_catalog = configured(source(tmp_path, "discover", events_config(sim)))
    catalog.write_text(json.dumps(configured_catalog))
    command = [str(SOURCE_APHEX), "read", "--config", str(config), "--catalog", str(catalog)]

    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None
        lines, complete = [], len(configured_catalog["streams"])
        while complete:
            lines.append(line := process.stdout.readline())
            assert line, "the read ended before its last status"
            complete -= b'"status":"COMPLETE"' in line
        for _ in range(2):  # a second one as the first is handled, or as Python ends
            time.sleep(after)
            process.send_signal(signal.SIGINT)
        rest, stderr = process.communicate(timeout=60)

    messages = [valid(json.loads(line)) for line in [*lines, *rest.splitlines()]]
    assert (process.returncode, stderr.decode()) == (0, "")
    assert [m for m in messages if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"] == []


def test_published_plans_land_with_a_state_per_project(tmp_path: Path) -> None:
    with Simulator(seed=5, events=0, daily_quota=None, plan_projects=2, plan_tasks=5) as sim:
        projects = [{"url": p.url, "token": p.token, "name": p.name} for p in sim.plan_projects]
        result = read(tmp_path, {"projects": projects})
        accounts = [p.account_id for p in sim.plan_projects]

    assert result.exit_code == 0
    assert {r["accountId"] for r in result.records("published_plans")} == set(accounts)
    assert result.records("published_plan_tasks")
    # The plans' state moves once per project: the first project's partition, then both.
    states = result.states("published_plans")
    partitions = [[p["context"]["accountId"] for p in state["partitions"]] for state in states]
    assert [set(found) for found in partitions[:2]] == [{accounts[0]}, set(accounts)]
    for stream in ("published_plans", "published_plan_tasks", "published_plan_statuses"):
        assert result.statuses(stream)[-1] == "COMPLETE"


def test_a_message_a_person_reads_is_one_line_whatever_a_server_sent() -> None:
    forged = "page after n\n2026 | ERROR | forged\x1b[31m\u2028z has no eventId"

    trace = error_trace(forged, "system_error")["trace"]["error"]["message"]
    status = connection_status(succeeded=False, message=forged)["connectionStatus"]["message"]

    for message in (trace, status):
        assert message == "page after n\\n2026 | ERROR | forged\\u001b[31m\\u2028z has no eventId"


def test_a_message_a_person_reads_hides_a_urls_query_values_as_the_taps_log_does() -> None:
    # A signed URL a server quotes in an error carries its signature in the query.
    said = "GET https://app.aphex.co/power-bi/v1/abc?limit=5&sig=s3cr3tvalue failed"

    trace = error_trace(said, "system_error")["trace"]["error"]["message"]
    status = connection_status(succeeded=False, message=said)["connectionStatus"]["message"]

    for message in (trace, status):
        assert message == "GET https://app.aphex.co/power-bi/v1/abc?limit=…&sig=… failed"


@pytest.mark.parametrize(("level", "shown"), [("DEBUG", "DEBUG"), ("error", None)])
def test_log_messages_follow_loglevel_as_the_taps_own_command_does(
    sim: Simulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str, shown: str | None
) -> None:
    monkeypatch.setenv("LOGLEVEL", level)

    result = source(tmp_path, "check", events_config(sim))

    levels = {message["log"]["level"] for message in result.of_type("LOG")}
    assert ("INFO" in levels) is (shown is not None)  # ERROR: no INFO line
    assert ("DEBUG" in levels) is (shown == "DEBUG")
    (status,) = result.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "SUCCEEDED"
