"""The Singer SDK's standard tap tests, run against the simulator over real HTTP."""

from __future__ import annotations

import typing as t

import pytest
from aphex_simulator import Simulator
from singer_sdk.testing import get_tap_test_class

from tap_aphex.tap import TapAphex

SIMULATOR = Simulator(seed=21, events=1_500, page_size=500, daily_quota=None, plan_projects=2)

# The SDK builds its test class from a config at import time, and discovers the streams from it
# (no request). Until the simulator runs (see `serving`), the URLs point nowhere; the SDK keeps
# this very dict, so filling it in then is what its tests run with (and its
# `test_tap_stream_returns_record` fails for any stream that read nothing).
CONFIG: dict[str, t.Any] = {
    "api_key": SIMULATOR.api_key,
    "api_url": "http://127.0.0.1:1/apiTaskEventsV2",
    "projects": [
        {"url": f"http://127.0.0.1:1/power-bi/v1/{p.account_id}", "token": p.token}
        for p in SIMULATOR.plans.projects
    ],
}


@pytest.fixture(scope="module", autouse=True)
def serving() -> t.Iterator[None]:
    with SIMULATOR:
        CONFIG.update(
            api_url=SIMULATOR.events_url,
            projects=[
                {"url": project.url, "token": project.token, "name": project.name}
                for project in SIMULATOR.plan_projects
            ],
        )
        yield


TestTapAphex = get_tap_test_class(TapAphex, config=CONFIG)
