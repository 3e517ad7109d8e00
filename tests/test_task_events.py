"""task_events and tasks against the simulated Data API, over real HTTP."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import re
import typing as t
from pathlib import Path
from urllib.parse import urlparse

import pytest
from aphex_simulator import Simulator
from harness import (
    TapRun,
    events_config,
    log_lines,
    plans_config,
    replay_tasks,
    run_cli,
    run_tap,
    selecting,
    small_organisation,
)


@pytest.fixture(scope="module")
def full_sync() -> t.Iterator[tuple[Simulator, TapRun]]:
    """One full sync of the small organisation, shared by the tests that only read what it sent and
    what the log holds (each used to make this same run, with the same inputs, on its own)."""
    with small_organisation() as sim:
        yield sim, run_tap(events_config(sim))


def event_ids(records: list[dict[str, t.Any]]) -> list[str]:
    return [record["eventId"] for record in records]


def test_a_full_sync_delivers_every_event_once_in_the_logs_order(
    full_sync: tuple[Simulator, TapRun],
) -> None:
    simulator, run = full_sync

    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events)
    assert run.bookmark("task_events") == simulator.event_log.events[-1]["eventId"]
    assert run.bookmark("tasks") == simulator.event_log.events[-1]["eventId"]


def test_epoch_milliseconds_become_rfc3339_utc_with_milliseconds(
    full_sync: tuple[Simulator, TapRun],
) -> None:
    simulator, run = full_sync

    source = {event["eventId"]: event for event in simulator.event_log.events}
    with_status = next(r for r in run.records("task_events") if r["task"].get("statuses"))
    original = source[with_status["eventId"]]

    def expected(ms: int) -> str:
        moment = dt.datetime.fromtimestamp(ms // 1000, tz=dt.timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"

    assert with_status["createdAt"] == expected(original["createdAt"])
    assert with_status["task"]["start"] == expected(original["task"]["start"])
    assert with_status["task"]["end"] == expected(original["task"]["end"])
    status, original_status = with_status["task"]["statuses"][0], original["task"]["statuses"][0]
    assert status["date"] == expected(original_status["date"])
    assert status["createdAt"] == expected(original_status["createdAt"])


def newest_upsert_of_a_task(events: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """An event that creates or updates a task which no later event touches."""
    touched_later: set[str] = set()
    for event in events[::-1]:
        task_id: str = event["task"]["id"]
        if event["type"] in ("TaskCreated", "TaskUpdated") and task_id not in touched_later:
            return event
        touched_later.add(task_id)
    raise AssertionError("the log should leave some task created or updated")


def test_fields_the_docs_do_not_name_are_kept(simulator: Simulator) -> None:
    created = newest_upsert_of_a_task(simulator.event_log.events)
    created["region"] = "EMEA"  # the API starts sending fields nobody documented
    created["task"]["priority"] = "high"

    run = run_tap(events_config(simulator))

    event = next(r for r in run.records("task_events") if r["eventId"] == created["eventId"])
    assert event["undocumented"] == {"region": "EMEA"}
    assert event["task"]["priority"] == "high"
    task = next(r for r in run.records("tasks") if r["eventId"] == created["eventId"])
    assert task["undocumented"] == {"priority": "high"}


def test_tasks_replayed_by_id_equal_the_current_tasks_deletions_included(
    full_sync: tuple[Simulator, TapRun],
) -> None:
    simulator, run = full_sync

    tasks = replay_tasks(run.records("tasks"))
    truth = simulator.current_tasks()
    deleted = {e["task"]["id"] for e in simulator.event_log.events if e["type"] == "TaskDeleted"}
    assert deleted, "the simulated log should delete some tasks"
    assert set(tasks) == set(truth)
    for task_id, task in tasks.items():
        assert task["name"] == truth[task_id]["name"]
        assert len(task["statuses"]) == len(truth[task_id]["statuses"])
        assert task["successors"] == truth[task_id]["successors"]


def test_each_task_record_names_the_event_that_produced_it(
    full_sync: tuple[Simulator, TapRun],
) -> None:
    simulator, run = full_sync

    events = {e["eventId"]: e for e in simulator.event_log.events}
    for task in run.records("tasks"):
        event = events[task["eventId"]]
        assert event["task"]["id"] == task["id"]
        assert task["eventType"] == event["type"]
        assert (task["_sdc_deleted_at"] is not None) == (event["type"] == "TaskDeleted")
        if task["_sdc_deleted_at"]:
            assert task["_sdc_deleted_at"] == task["eventCreatedAt"]


def test_an_incremental_run_reads_only_new_events_starting_after_the_saved_one(
    simulator: Simulator,
) -> None:
    first = run_tap(events_config(simulator))
    new_events = simulator.append_events(120)
    simulator.clear_requests()

    second = run_tap(events_config(simulator), state=first.final_state)

    assert event_ids(second.records("task_events")) == event_ids(new_events)
    assert simulator.requests[0].query.get("startAfter") == first.bookmark("task_events")
    assert second.bookmark("task_events") == new_events[-1]["eventId"]


def test_nothing_new_ends_with_the_state_unchanged(simulator: Simulator) -> None:
    first = run_tap(events_config(simulator))

    second = run_tap(events_config(simulator), state=first.final_state)

    assert second.records("task_events") == []
    assert simulator.requests[-1].status == 204
    assert (
        second.final_state["bookmarks"]["task_events"]
        == (first.final_state["bookmarks"]["task_events"])
    )


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        # What `start_after` refuses, whatever holds it: the API would answer such a cursor 400.
        *(
            ({"replication_key": "eventId", "replication_key_value": value}, said)
            for value, said in [
                (" e9", "has spaces or a line break around it (a copied newline?)."),
                ("e9\n", "has spaces or a line break around it (a copied newline?)."),
                ("", "is empty or blank."),
                ("  ", "is empty or blank."),
                ("e\t9", "holds a control character (an escape code, a tab), which no eventId has"),
                ("e\x1b9", "holds a control character"),
            ]
        ),
        # No position at all where one was kept: the same class, as `source-aphex` refuses it.
        ({"replication_key": "eventId", "replication_key_value": 42}, "is a number 42, not an id"),
        ({"replication_key": "eventId", "replication_key_value": None}, "is null, not an id"),
        ({"replication_key": "updatedAt", "replication_key_value": "x"}, "not eventId"),
        ({"eventId": "e9"}, "it has no replication_key_value, only `eventId`"),
        # The SDK drops progress markers as a sync starts: refused before, as the state is loaded.
        (
            {"progress_markers": {"replication_key": "eventId", "replication_key_value": "e9"}},
            "it holds only the SDK's progress_markers, an unconfirmed position",
        ),
    ],
)
def test_a_bookmark_the_tap_cannot_use_is_refused_before_any_request(
    simulator: Simulator, entry: dict[str, t.Any], why: str
) -> None:
    state = {"bookmarks": {name: entry for name in ("task_events", "tasks", "task_statuses")}}

    run = run_cli(events_config(simulator), state)

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    (error,) = log_lines(run.stderr, "ERROR")
    assert re.match(
        "The state file .*state.json cannot be used: in the bookmark of task_events, "
        "task_statuses and tasks, ",
        error,
    )
    assert why in error
    assert error.endswith(
        "Drop `--state`, or clear the state in Meltano, to start afresh (from `start_after`, or "
        "the first event); or fix the bookmark: the eventId of the last event delivered, as the "
        "tap wrote it."
    )
    assert simulator.requests == []  # not one request: no quota spent on events delivered already
    assert run.records("task_events") == run.records("tasks") == []


@pytest.mark.parametrize("log_streams", ["not enabled", "deselected"])
def test_an_unusable_log_bookmark_is_refused_when_the_run_reads_only_published_plans(
    tmp_path: Path, log_streams: str
) -> None:
    # Left as it is, it would be carried on in every STATE, to the run that reads the log.
    entry = {"replication_key": "eventId", "replication_key_value": " e9"}
    with Simulator(seed=7, events=10, plan_projects=1, daily_quota=None) as sim:
        config = plans_config(sim.plan_projects)
        args: list[str] = []
        if log_streams == "deselected":
            config |= events_config(sim)
            catalog = tmp_path / "catalog.json"
            catalog.write_text(json.dumps(selecting(config, ["published_plans"])))
            args = ["--catalog", str(catalog)]

        run = run_cli(config, {"bookmarks": {"task_events": entry}}, *args)

        assert run.returncode == 1
        (error,) = log_lines(run.stderr, "ERROR")
        assert re.match("The state file .*state.json cannot be used: in the bookmark of ", error)
        assert sim.requests == []
        assert run.stdout == ""


def test_an_unusable_bookmark_is_refused_before_the_plans_api_is_asked_too() -> None:
    entry = {"replication_key": "eventId", "replication_key_value": "e9\n"}
    with Simulator(seed=7, events=10, plan_projects=1, daily_quota=None) as sim:
        config = {**events_config(sim), **plans_config(sim.plan_projects)}

        run = run_cli(config, {"bookmarks": {"task_events": entry, "tasks": entry}})

        assert run.returncode == 1
        assert "cannot be used: in the bookmark of " in run.stderr
        assert sim.requests == []  # task_events is read first: not one request to either API


def test_start_after_sets_where_a_stateless_run_begins(simulator: Simulator) -> None:
    events = simulator.event_log.events

    run = run_tap(events_config(simulator, start_after=events[999]["eventId"]))

    assert event_ids(run.records("task_events")) == event_ids(events[1000:])


def test_a_configured_sdk_start_date_is_never_sent_as_the_cursor(simulator: Simulator) -> None:
    run = run_tap(events_config(simulator, start_date="2021-01-01T00:00:00Z"))

    assert "startAfter" not in simulator.requests[0].query
    assert len(run.records("task_events")) == len(simulator.event_log.events)


def test_page_size_is_sent_only_when_set(simulator: Simulator) -> None:
    run_tap(events_config(simulator))
    assert all("pageSize" not in request.query for request in simulator.requests)
    simulator.clear_requests()

    run = run_tap(events_config(simulator, page_size=300))

    assert {request.query.get("pageSize") for request in simulator.requests} == {"300"}
    assert len(run.records("task_events")) == len(simulator.event_log.events)


@pytest.mark.parametrize("path", ["/apiTaskEvents", "/taskEvents"])
def test_other_endpoints_work_by_changing_only_api_url(simulator: Simulator, path: str) -> None:
    run = run_tap(events_config(simulator, api_url=simulator.base_url + path))

    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events)


def test_a_state_is_checkpointed_after_every_page(full_sync: tuple[Simulator, TapRun]) -> None:
    simulator, run = full_sync

    page_ends = {
        event["eventId"] for event in simulator.event_log.events[simulator.page_size - 1 :: 500]
    }
    checkpoints = {
        state["bookmarks"]["task_events"]["replication_key_value"] for state in run.states()
    }
    assert page_ends <= checkpoints
    for state in run.states():  # both streams move together
        bookmarks = state["bookmarks"]
        assert (
            bookmarks["tasks"]["replication_key_value"]
            == (bookmarks["task_events"]["replication_key_value"])
        )


def test_max_events_per_run_stops_cleanly_and_the_next_run_continues(
    simulator: Simulator,
) -> None:
    events = simulator.event_log.events

    first = run_tap(events_config(simulator, max_events_per_run=700))
    second = run_tap(events_config(simulator), state=first.final_state)

    assert event_ids(first.records("task_events")) == event_ids(events[:700])
    assert first.bookmark("task_events") == events[699]["eventId"]
    assert first.bookmark("tasks") == events[699]["eventId"]
    assert event_ids(second.records("task_events")) == event_ids(events[700:])


@pytest.mark.parametrize(
    ("page_size", "limit", "asked"), [(300, 700, [300, 300, 100]), (500, 1, [1])]
)
def test_with_page_size_set_no_page_asks_for_more_than_the_run_may_still_deliver(
    simulator: Simulator, page_size: int, limit: int, asked: list[int]
) -> None:
    run = run_tap(events_config(simulator, page_size=page_size, max_events_per_run=limit))

    assert [int(request.query["pageSize"]) for request in simulator.requests] == asked
    assert simulator.served_today == limit  # the quota pays for no event the run drops
    assert event_ids(run.records("task_events")) == event_ids(simulator.event_log.events[:limit])


def test_without_page_size_no_page_size_is_sent_whatever_the_limit(simulator: Simulator) -> None:
    run_tap(events_config(simulator, max_events_per_run=700))

    assert all("pageSize" not in request.query for request in simulator.requests)


def test_tasks_alone_is_incremental_and_complete(simulator: Simulator) -> None:
    config = events_config(simulator)
    catalog = selecting(config, {"tasks"})

    first = run_tap(config, catalog=catalog)
    simulator.append_events(300)
    simulator.clear_requests()
    second = run_tap(config, state=first.final_state, catalog=catalog)

    assert first.records("task_events") == []
    assert simulator.requests[0].query.get("startAfter") == first.bookmark("tasks")
    tasks = replay_tasks(first.records("tasks") + second.records("tasks"))
    assert set(tasks) == set(simulator.current_tasks())


def test_adding_tasks_to_the_selection_later_still_gives_every_task(simulator: Simulator) -> None:
    config = events_config(simulator)
    events_only = run_tap(config, catalog=selecting(config, {"task_events"}))

    both = run_tap(config, state=events_only.final_state)

    # The bookmarks differ, so the run starts from the beginning rather than lose a task.
    assert set(replay_tasks(both.records("tasks"))) == set(simulator.current_tasks())
    assert both.bookmark("tasks") == both.bookmark("task_events")


def test_properties_deselected_in_task_events_leave_tasks_whole(simulator: Simulator) -> None:
    config = events_config(simulator)
    catalog = selecting(config, {"task_events", "tasks"})
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if entry["tap_stream_id"] == "task_events" and metadata["breadcrumb"] in (
                ["properties", "task", "properties", "name"],
                ["properties", "apiVersion"],
            ):
                metadata["metadata"]["selected"] = False

    run = run_tap(config, catalog=catalog)

    events = run.records("task_events")
    assert events
    assert all("apiVersion" not in e and "name" not in (e["task"] or {}) for e in events)
    truth = simulator.current_tasks()
    tasks = replay_tasks(run.records("tasks"))
    assert set(tasks) == set(truth)
    assert all(task.get("name") for task in tasks.values() if not task.get("_sdc_deleted_at"))


def test_a_stream_map_that_changes_the_record_leaves_tasks_whole(simulator: Simulator) -> None:
    # An expression is handed the record itself; what it does to it must not reach `tasks`.
    maps = {"task_events": {"gone": "task.pop('name', None) if task else None"}}
    run = run_tap(events_config(simulator, stream_maps=maps))

    events = run.records("task_events")
    assert any(e["gone"] for e in events)
    tasks = replay_tasks(run.records("tasks"))
    assert set(tasks) == set(simulator.current_tasks())
    assert all(task.get("name") for task in tasks.values() if not task.get("_sdc_deleted_at"))


class Pipe(io.RawIOBase):
    """What a reader of stdout has received, after each write that reached it."""

    def __init__(self) -> None:
        self.received = b""
        self.arrivals: list[int] = []  # len(received) after each write

    def writable(self) -> bool:
        return True

    def write(self, data: t.Any) -> int:
        self.received += bytes(data)
        self.arrivals.append(len(self.received))
        return len(data)


def test_no_checkpoint_falls_mid_page_even_past_the_sdks_10000_records() -> None:
    with Simulator(
        seed=2, events=10_500, page_size=3_000, daily_quota=None, plan_projects=0
    ) as sim:
        run = run_tap(events_config(sim))

        events = sim.event_log.events
        page_ends = {e["eventId"] for e in events[2_999::3_000]} | {events[-1]["eventId"]}
        for state in run.states():
            assert state["bookmarks"]["task_events"]["replication_key_value"] in page_ends


def test_an_event_type_nobody_documented_moves_both_bookmarks(simulator: Simulator) -> None:
    simulator.event_log.events[-1]["type"] = "TaskArchived"  # the API grows a new event type

    first = run_tap(events_config(simulator))
    simulator.clear_requests()
    second = run_tap(events_config(simulator), state=first.final_state)

    assert first.records("task_events")[-1]["type"] == "TaskArchived"
    assert first.bookmark("tasks") == first.bookmark("task_events")
    assert simulator.requests[0].query["startAfter"] == simulator.event_log.events[-1]["eventId"]
    assert second.records("task_events") == []


def test_the_sdks_stream_maps_and_flattening_keep_working(simulator: Simulator) -> None:
    config = events_config(
        simulator,
        stream_maps={
            "task_events": {"apiVersion": "__NULL__", "project": "task.get('projectName')"}
        },
        flattening_enabled=True,
        flattening_max_depth=1,
    )

    run = run_tap(config)

    created = next(r for r in run.records("task_events") if r["type"] == "TaskCreated")
    assert "apiVersion" not in created
    assert created["project"] == created["task__projectName"]
    assert "task" not in created


def gzip_batches_in(folder: Path) -> dict[str, t.Any]:
    """A `batch_config` writing gzipped JSONL files of 700 records into ``folder``."""
    return {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": folder.as_uri(), "prefix": "batch-"},
        "batch_size": 700,
    }


# Pages of 500: a batch ending mid-page, with a page, with the log, before any page ends.
@pytest.mark.parametrize("batch_size", [700, 500, 1500, 250])
def test_batch_messages_come_before_any_state_that_covers_their_events(
    simulator: Simulator, tmp_path: Path, batch_size: int
) -> None:
    batch_config = {**gzip_batches_in(tmp_path), "batch_size": batch_size}

    run = run_tap(events_config(simulator, batch_config=batch_config))

    delivered: dict[str, list[str]] = {"task_events": [], "tasks": [], "task_statuses": []}
    for message in run.messages:
        if message["type"] == "BATCH":
            for uri in message["manifest"]:
                with gzip.open(urlparse(uri).path, "rt") as batch_file:
                    lines = batch_file.read().splitlines()
                delivered[message["stream"]] += [json.loads(line)["eventId"] for line in lines]
        elif message["type"] == "STATE":
            # One position for the log's streams in every STATE: a run interrupted after any of
            # them resumes there (two that differ would send it back to the first event).
            positions = {
                bookmark.get("replication_key_value")
                for stream, bookmark in message["value"]["bookmarks"].items()
                if stream in delivered
            }
            assert len(positions) == 1, positions
            for stream, ids in delivered.items():
                bookmark = message["value"]["bookmarks"].get(stream, {})
                if "replication_key_value" not in bookmark:
                    continue
                position = bookmark["replication_key_value"]
                if stream == "task_statuses":  # a page's last event may carry no status
                    assert position in delivered["task_events"], "task_statuses STATE ran ahead"
                    assert ids, "task_statuses STATE ran ahead of its records"
                else:
                    assert position in ids, f"{stream} STATE ran ahead"
    assert delivered["task_events"] == event_ids(simulator.event_log.events)
    assert delivered["tasks"], "tasks should go out in BATCH files too"
    assert run.bookmark("tasks") == run.bookmark("task_events") == delivered["task_events"][-1]


def test_with_batch_config_the_summary_counts_batch_files_not_zero_records(
    simulator: Simulator, tmp_path: Path
) -> None:
    batch_config = gzip_batches_in(tmp_path)

    run = run_cli(events_config(simulator, batch_config=batch_config))

    files = sum(
        len(m["manifest"])
        for m in run.messages
        if m["type"] == "BATCH" and m["stream"] == "task_events"
    )
    assert files > 1
    assert f"Summary: task_events: {files} BATCH file(s) written; stopped:" in run.stderr
    assert "Summary: task_events: 0 records sent" not in run.stderr


@pytest.mark.parametrize(
    "setting",
    [{"stream_maps": {"task_events": {"createdAt": None}}}, {"flattening_enabled": True}],
    ids=["stream_maps", "flattening"],
)
def test_batch_config_with_what_the_sdk_would_not_apply_to_its_files_is_refused(
    simulator: Simulator, tmp_path: Path, setting: dict[str, t.Any]
) -> None:
    # The SDK writes BATCH files from the records as read: a map that drops a field would not.
    config = events_config(simulator, batch_config=gzip_batches_in(tmp_path), **setting)
    config.setdefault("flattening_max_depth", 1)

    run = run_cli(config)

    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "`batch_config` with `" in last
    assert "the SDK writes BATCH files without applying them" in last
    assert run.messages == []  # refused before any request
