"""The Singer SDK's standard tap tests, run against the simulator over real HTTP."""

from __future__ import annotations

import atexit

from singer_sdk.testing import get_tap_test_class

from tap_aphex.simulator import Simulator
from tap_aphex.tap import TapAphex

# The SDK builds its test class from a config at import time, so the simulator starts here.
SIMULATOR = Simulator(seed=21, events=1_500, page_size=500, daily_quota=None, plan_projects=2)
SIMULATOR.start()
atexit.register(SIMULATOR.stop)

CONFIG = {
    "api_key": SIMULATOR.api_key,
    "api_url": SIMULATOR.events_url,
    "projects": [
        {"url": project.url, "token": project.token, "name": project.name}
        for project in SIMULATOR.plan_projects
    ],
}

TestTapAphex = get_tap_test_class(TapAphex, config=CONFIG)
