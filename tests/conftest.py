from __future__ import annotations

import os
import typing as t

import pytest
from aphex_simulator import Simulator


@pytest.fixture
def simulator() -> t.Iterator[Simulator]:
    """A small organisation: 2,500 events in pages of 500, no daily quota."""
    with Simulator(seed=7, events=2_500, page_size=500, daily_quota=None, plan_projects=0) as sim:
        yield sim


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the default, pyproject.toml): two workers per core. About half of a test's time
    is spent waiting (for a tap subprocess to start, a server, a retry's wait), not computing."""
    return 2 * (os.cpu_count() or 1)
