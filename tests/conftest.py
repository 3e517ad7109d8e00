from __future__ import annotations

import typing as t

import pytest
from aphex_simulator import Simulator


@pytest.fixture
def simulator() -> t.Iterator[Simulator]:
    """A small organisation: 2,500 events in pages of 500, no daily quota."""
    with Simulator(seed=7, events=2_500, page_size=500, daily_quota=None, plan_projects=0) as sim:
        yield sim
