from __future__ import annotations

import os
import sys
import typing as t

import pytest
from aphex_simulator import Simulator
from harness import small_organisation


@pytest.fixture
def simulator() -> t.Iterator[Simulator]:
    """A small organisation: 2,500 events in pages of 500, no daily quota."""
    with small_organisation() as sim:
        yield sim


def pytest_configure(config: pytest.Config) -> None:
    """Let Python cache compiled code, in this process and in every tap it starts.

    With PYTHONDONTWRITEBYTECODE set (some shells and containers set it), nothing is ever cached:
    each xdist worker compiled again the test modules (pytest's assertion rewriting), the simulator
    and much of hypothesis on every run (about 2 CPU s per worker), and each `tap-aphex` subprocess
    compiled whichever of its modules had no cached code yet (the Airbyte entry point, or any module
    changed since the cache was written) on every start. The caches go to `__pycache__/`, which git
    ignores. Test modules are imported after this hook, so they are cached too."""
    sys.dont_write_bytecode = False
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the children inherit this environment


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the default, pyproject.toml): three workers per two cores. Part of a test's time
    is spent waiting (a server's latency, a retry's wait, a signal's grace), so one worker per core
    leaves cores idle; two per core kept them busy but cost more CPU than it saved waiting (each
    worker collects the suite; the processes contend). Measured on 2 cores, two subsets of the
    suite: 4 workers 92 s wall / 96 CPU s and 32 s / 59 s; 3 workers 68 s / 86 s and 30 s / 53 s;
    2 workers 65 s / 80 s and 39 s / 52 s."""
    cores = os.cpu_count() or 1
    return cores + (cores + 1) // 2
