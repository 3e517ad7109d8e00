from __future__ import annotations

import typing as t

import pytest
from aphex_simulator import Simulator


@pytest.fixture
def simulator() -> t.Iterator[Simulator]:
    """A small organisation: 2,500 events in pages of 500, no daily quota."""
    with Simulator(seed=7, events=2_500, page_size=500, daily_quota=None, plan_projects=0) as sim:
        yield sim


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the end-to-end tests on one worker when the suite runs in parallel (`--dist
    loadgroup`): their session fixtures (the Meltano plugins installed in `.meltano/`, one
    PostgreSQL server) are made once per worker, and their Meltano runs would only compete for the
    cores the other tests use."""
    for item in items:
        if item.get_closest_marker("e2e"):
            item.add_marker(pytest.mark.xdist_group("e2e"))
