from __future__ import annotations

import gc
import os
import sys
import typing as t

import forkserver
import pytest
from aphex_simulator import Simulator
from harness import small_organisation


@pytest.fixture
def simulator() -> t.Iterator[Simulator]:
    """A small organisation: 1,500 events in pages of 500, no daily quota."""
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """What is built by now (pytest, the SDK, hypothesis, the test modules and their items) lives
    until the session ends: frozen, the cyclic collector's full collections, run again and again
    as the in-process runs allocate, no longer walk it (in test_published_plans, test_task_events
    and test_airbyte: 2.0 CPU s of 42 before, 0.8 s frozen). What the tests create is collected
    as before."""
    gc.freeze()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (the default, pyproject.toml): two workers per core. About half of a test's time
    is spent waiting (for a tap subprocess to start, a server, a retry's wait), not computing."""
    return 2 * (os.cpu_count() or 1)


def pytest_unconfigure(config: pytest.Config) -> None:
    """The fork server `tap-aphex` runs start from, ended and waited for with this process."""
    forkserver.stop()
