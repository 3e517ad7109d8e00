"""A portfolio of projects downloaded concurrently (issue 19), over real HTTP against the simulator.

Downloads overlap (at most `max_parallel_projects`), while what reaches the target is one project
at a time, each followed by its STATE; kill -9 at any moment leaves every bookmark at what was
delivered, and a resumed run lands each missing version, once.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

import pytest
from aphex_simulator import Simulator
from harness import TapRun, parse_messages, plans_config, run_cli, run_tap

from tap_aphex import signals
from tap_aphex.schemas import epoch_to_rfc3339
from tap_aphex.streams.plan_downloads import ProjectDownload, Spool


def most_at_once(sim: Simulator, latency: float) -> int:
    """The most requests the server was answering at the same time (each waits ``latency``)."""
    arrivals = sorted(r.at for r in sim.requests)
    return max(sum(1 for b in arrivals if a <= b < a + latency * 0.9) for a in arrivals)


def test_projects_are_downloaded_at_most_max_parallel_projects_at_a_time() -> None:
    def portfolio(latency: float) -> Simulator:  # the same 8 projects, each answer that late
        return Simulator(
            seed=3,
            events=0,
            plan_projects=8,
            plan_tasks=3,
            history_weeks=3,
            plans_latency_seconds=latency,
        )

    # What the server saw, not how long it took: the time is the benchmark's to measure. 0.4 s:
    # the 4 requests of a round arrive well within it, even on a busy machine.
    with portfolio(0.4) as sim:
        parallel = run_tap(plans_config(sim.plan_projects, max_parallel_projects=4))
        assert most_at_once(sim, 0.4) == 4
    # One at a time, 8 answers in a row: two requests at once would arrive within milliseconds,
    # far within 0.15 s, so a shorter wait proves it as well (1.2 s in all, not 3.2).
    with portfolio(0.15) as sim:
        one_at_a_time = run_tap(plans_config(sim.plan_projects, max_parallel_projects=1))
        assert most_at_once(sim, 0.15) == 1

    assert records_of(parallel) == records_of(one_at_a_time)  # the same output, in the same order


@pytest.mark.parametrize(
    ("asked", "budget"),
    [
        pytest.param([2], 2, id="each asked 2 s at once, a budget of 2"),
        pytest.param([2, 1], 3, id="each asked 2 s, then 1 s, a budget of 3"),
    ],
)
def test_waits_under_way_together_are_paid_once_from_the_retry_budget(
    asked: list[int], budget: int
) -> None:
    # Every project is asked to wait (Retry-After) at about the same moment: side by side they
    # hold the run as long as one project's waits, which the budget covers exactly. Paid one by
    # one, or each by the microseconds it starts later, the others would give up.
    with Simulator(seed=151, events=0, plan_projects=3, plan_tasks=3, history_weeks=2) as sim:
        projects = sim.plan_projects
        for project in projects:
            for seconds in asked:
                sim.set_plan_fault(project.account_id, "429", 1, retry_after=seconds)
        run = run_tap(plans_config(projects, retry_budget_seconds=budget, max_parallel_projects=3))

    landed = {record["accountId"] for record in run.records("published_plans")}
    assert landed == {project.account_id for project in projects}


def records_of(run: TapRun) -> list[tuple[str, str]]:
    return [
        (m["stream"], json.dumps(m["record"], sort_keys=True))
        for m in run.messages
        if m["type"] == "RECORD"
    ]


def test_each_projects_records_come_together_followed_by_its_state() -> None:
    with Simulator(
        seed=4, events=0, plan_projects=6, plan_tasks=3, plans_latency_seconds=0.05
    ) as sim:
        projects = sim.plan_projects
        run = run_cli(plans_config(projects, max_parallel_projects=3))

    assert run.returncode == 0, run.stderr
    order: list[str] = []  # each project as its records start
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"].startswith("published_plan"):
            account = message["record"]["accountId"]
            if not order or order[-1] != account:
                assert account not in order, "two projects' rows interleaved"
                order.append(account)
        elif message["type"] == "STATE" and order:
            # A STATE never holds a bookmark of a project whose records are still to come.
            partitions = message["value"]["bookmarks"]["published_plans"]["partitions"]
            marked = {p["context"]["accountId"] for p in partitions if "replication_key_value" in p}
            assert marked <= set(order)
    assert order == [p.account_id for p in projects]
    assert "answered in" in run.stderr
    summary = [line for line in run.stderr.splitlines() if "Summary: published plans: 6" in line]
    assert summary, run.stderr
    assert "slowest:" in summary[0]


def test_an_interrupt_stops_every_download_at_once() -> None:
    with (
        Simulator(seed=5, events=0, plan_projects=6, plan_tasks=3, plans_latency_seconds=30) as sim,
        _config_file(plans_config(sim.plan_projects)) as config,
    ):
        tap = subprocess.Popen(
            [sys.executable, "-m", "tap_aphex", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert tap.stderr is not None
        for line in tap.stderr:
            if "requesting its published plans (project 6 of 6" in line:
                break
        interrupted = time.monotonic()
        tap.send_signal(signal.SIGINT)
        out, err = tap.communicate(timeout=20)
        took = time.monotonic() - interrupted

    assert tap.returncode == 130, err
    # Stopped by the run's own path, not by the 5 s give-up (`signals.GIVE_UP_AFTER`), and long
    # before the 30 s answers: no download was waited for. (A bound of 5 s had failed on a loaded
    # machine at 5.02 s with no word of which path ended the run: `err` now says.)
    assert "Interrupted (SIGINT): stopped. The last STATE written is where" in err, err
    assert "was not being read" not in err, err
    assert took < 15, f"{took:.1f} s to stop: {err}"
    assert "Traceback" not in err
    assert [m for m in parse_messages(out) if m["type"] == "RECORD"] == []


@pytest.mark.parametrize("wait", ["a download's next answer", "more of an answer's body"])
def test_an_interrupt_during_a_wait_for_a_download_comes_once_the_wait_is_over(wait: str) -> None:
    # Raised inside `threading.Condition.wait`, an interrupt can leave the lock released, and the
    # `with` around the wait then fails (`RuntimeError: cannot release un-acquired lock`, seen once
    # as the project's failure). The race is too rare to provoke: the signal's handler is asked
    # where it came, with the tap's own rule (`signals.interrupt`).
    spool = Spool({})
    download = ProjectDownload(t.cast("t.Any", None), {}, order=1)
    came_while_held: list[bool] = []

    def handle(signum: int, frame: object) -> None:
        came_while_held.append(signals.held.writing)
        signals.interrupt()

    before = signal.signal(signal.SIGINT, handle)
    try:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            download.next_body() if wait.startswith("a download") else spool.read(10)
    finally:
        signal.signal(signal.SIGINT, before)
        spool.close()

    assert came_while_held == [True]
    assert signals.held.pending is None  # raised, not left for the next write


class _config_file:
    def __init__(self, config: dict[str, t.Any]) -> None:
        import tempfile

        self._folder = tempfile.TemporaryDirectory()
        self.path = Path(self._folder.name, "config.json")
        self.path.write_text(json.dumps(config))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc: object) -> None:
        self._folder.cleanup()


# --- kill -9 during a concurrent run ------------------------------------------------------------


def killed_run(
    config: Path, state: dict[str, t.Any] | None, after: float
) -> list[dict[str, t.Any]]:
    """The messages a target received whole from a run killed (SIGKILL) ``after`` seconds after
    its first output: counted from there, not from the start, so that a slow start (a loaded
    machine) does not move every kill before the run has begun."""
    command = [sys.executable, "-m", "tap_aphex", "--config", str(config)]
    if state is not None:
        state_path = config.with_name("state.json")
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    received = bytearray()
    begun = threading.Event()
    assert tap.stdout is not None
    stdout = tap.stdout

    def drain() -> None:
        while chunk := os.read(stdout.fileno(), 65536):
            received.extend(chunk)
            begun.set()
        begun.set()  # a run that ended without a word: nothing to wait for

    reader = threading.Thread(target=drain)
    reader.start()
    begun.wait(timeout=60)
    time.sleep(after)
    tap.kill()
    tap.wait()
    reader.join()
    stdout.close()
    whole = bytes(received).rsplit(b"\n", 1)[0]  # a line cut by the kill never reached a target
    return parse_messages(whole.decode()) if whole else []


def test_kill_9_at_random_moments_leaves_bookmarks_at_what_was_delivered() -> None:
    chance = random.Random(19)
    simulator = Simulator(
        seed=19,
        events=0,
        plan_projects=10,
        # Small plans, answers that wait 0.15 s: a whole run lasts about 1.5 s, mostly waiting,
        # and the kills (up to 0.95 s after its first output) still fall mid-run: the first two
        # runs land about 50 and 30 of the 120 versions, the later ones a few (measured; the
        # same spread as answers of 0.3 s with kills up to 1.9 s, in half the time).
        plan_tasks=20,
        history_weeks=12,
        plans_latency_seconds=0.15,
    )
    with (
        simulator as sim,
        _config_file(plans_config(sim.plan_projects, max_parallel_projects=4)) as config,
    ):
        truth = {
            (p.account_id, v["id"]): epoch_to_rfc3339(v["publishedAt"])
            for p in sim.plan_projects
            for v in sim.plan_document(p.account_id, 1000)["publishedPlans"]
        }
        delivered: set[tuple[str, str]] = set()
        rows_delivered: set[tuple[str, str]] = set()
        state: dict[str, t.Any] | None = None
        for _ in range(4):
            messages = killed_run(config, state, chance.uniform(0.0, 0.95))
            run = TapRun(messages)
            keys = [(r["accountId"], r["publishedPlanId"]) for r in run.records("published_plans")]
            # Within a run, never twice; and never a version the state already covered.
            assert len(keys) == len(set(keys))
            assert not set(keys) & covered(state, truth)
            delivered |= set(keys)
            rows = run.records("published_plan_tasks")
            rows_delivered |= {(r["accountId"], r["publishedPlanId"]) for r in rows}
            states = run.states()
            if states:
                state = states[-1]
                # No bookmark ahead of its records: all it covers was delivered whole.
                assert covered(state, truth) <= delivered
                assert covered(state, truth, "published_plan_tasks") <= rows_delivered
        config_data = json.loads(config.read_text())
        final = run_cli(config_data, state)

    assert final.returncode == 0, final.stderr
    keys = [(r["accountId"], r["publishedPlanId"]) for r in final.records("published_plans")]
    assert len(keys) == len(set(keys))
    assert not set(keys) & covered(state, truth)
    assert delivered, "no kill came after the first records: the test proved nothing"
    assert delivered | set(keys) == set(truth)


def covered(
    state: dict[str, t.Any] | None,
    truth: dict[tuple[str, str], str | None],
    stream: str = "published_plans",
) -> set[tuple[str, str]]:
    """The versions a state says were landed: published at or before each project's bookmark."""
    if not state:
        return set()
    partitions = state.get("bookmarks", {}).get(stream, {}).get("partitions", [])
    marks = {
        p["context"]["accountId"]: p["replication_key_value"]
        for p in partitions
        if "replication_key_value" in p
    }
    return {
        key
        for key, published in truth.items()
        if key[0] in marks and published is not None and published <= marks[key[0]]
    }
