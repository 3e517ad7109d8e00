from __future__ import annotations

import typing as t

import pytest
from aphex_simulator import Simulator


@pytest.fixture
def simulator() -> t.Iterator[Simulator]:
    """A small organisation: 2,500 events in pages of 500, no daily quota."""
    with Simulator(seed=7, events=2_500, page_size=500, daily_quota=None, plan_projects=0) as sim:
        yield sim


def pytest_itemcollected(item: pytest.Item) -> None:
    """Keep the end-to-end tests on one worker when the suite runs in parallel (`--dist
    loadgroup`): they share the project's `.meltano/` (its plugins, and files Meltano rewrites on
    every run, such as the discovered catalog in `.meltano/run/`), so two at once can break each
    other; and their session fixtures (the plugins' install, a PostgreSQL server) are made once per
    worker. Marked as each is collected: xdist reads the groups in `pytest_collection_modifyitems`.
    """
    if item.get_closest_marker("e2e"):
        item.add_marker(pytest.mark.xdist_group("e2e"))
