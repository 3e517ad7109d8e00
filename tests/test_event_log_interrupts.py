"""Once an interrupt is on its way, the event log sends no STATE and no partial page to `tasks`.

The interrupt is raised by the tap's stdout itself, at a chosen message, so it strikes at an exact
point: while the SDK writes a task_events record mid-page, or while `tasks` receives a page. The
run is over real HTTP against the simulator, in this process.
"""

from __future__ import annotations

import contextlib
import gc
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import TapRun, events_config, parse_messages

from tap_aphex.tap import TapAphex

PAGE = 500


class TrippingStdout:
    """A stdout that raises ``error`` instead of writing the message ``trips`` picks."""

    def __init__(self, error: BaseException, trips: t.Callable[[dict[str, t.Any]], bool]) -> None:
        self.lines: list[str] = []
        self.after_the_interrupt: list[str] = []
        self._error, self._trips, self._tripped = error, trips, False
        self._counts: dict[str, int] = {}

    def write(self, written: str | bytes | bytearray) -> int:
        text = bytes(written).decode() if not isinstance(written, str) else written
        for line in text.splitlines():
            message = parse_messages(line)[0]
            if message["type"] == "RECORD":
                stream = message["stream"]
                self._counts[stream] = self._counts.get(stream, 0) + 1
                message["_nth"] = self._counts[stream]
            if not self._tripped and self._trips(message):
                self._tripped = True
                raise self._error
            (self.after_the_interrupt if self._tripped else self.lines).append(line)
        return len(written)

    @property
    def buffer(self) -> TrippingStdout:  # the SDK's msgspec writer writes bytes
        return self

    def flush(self) -> None:
        pass


def mid_page_task_event(message: dict[str, t.Any]) -> bool:
    """The 100th task_events record of the second page."""
    return message.get("stream") == "task_events" and message.get("_nth") == PAGE + 100


def second_page_tasks_record(message: dict[str, t.Any]) -> bool:
    """The first `tasks` record of the second page: raised while task_events hands it over."""
    record = message.get("record", {})
    return message.get("stream") == "tasks" and record.get("eventId") in SECOND_PAGE


SECOND_PAGE: set[str] = set()


@pytest.mark.parametrize(
    "error", [KeyboardInterrupt(), SystemExit(143), BrokenPipeError()], ids=type
)
@pytest.mark.parametrize("where", [mid_page_task_event, second_page_tasks_record])
def test_an_interrupt_leaves_the_last_full_checkpoint_as_the_last_state(
    error: BaseException, where: t.Callable[[dict[str, t.Any]], bool]
) -> None:
    with Simulator(seed=7, events=2_000, page_size=PAGE, daily_quota=None, plan_projects=0) as sim:
        events = sim.event_log.events
        SECOND_PAGE.clear()
        SECOND_PAGE.update(e["eventId"] for e in events[PAGE : 2 * PAGE])
        stdout = TrippingStdout(error, where)

        interrupted = False
        with contextlib.redirect_stdout(stdout):
            try:
                TapAphex(config=events_config(sim)).run()
            except type(error):
                interrupted = True
            # The traceback is gone: the SDK's abandoned generators are closed now, while the
            # tripping stdout still catches anything they would write.
            gc.collect()

    assert interrupted
    assert stdout.after_the_interrupt == []

    run = TapRun(parse_messages("\n".join(stdout.lines)))
    first_page_end = events[PAGE - 1]["eventId"]
    assert run.bookmark("task_events") == run.bookmark("tasks") == first_page_end
    for state in run.states():  # every STATE out is a full checkpoint
        bookmarks = state["bookmarks"]
        assert bookmarks["tasks"].get("replication_key_value") == (
            bookmarks["task_events"].get("replication_key_value")
        )
    tasks_from_the_second_page = [r for r in run.records("tasks") if r["eventId"] in SECOND_PAGE]
    assert tasks_from_the_second_page == []
