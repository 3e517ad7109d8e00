"""End-to-end tests: `meltano run tap-aphex target-...` against the simulator."""
