"""meltano.yml: the tap as Meltano 4 sees it (test_plugin_files.py checks its declarations)."""

from __future__ import annotations

import re
import typing as t
from importlib.metadata import version

import pytest
import yaml

from tap_aphex.simulator import Simulator

from .meltano_project import ROOT, Meltano
from .plugin_files import about

pytestmark = pytest.mark.e2e

PROJECT: dict[str, t.Any] = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
SETTINGS = about()["settings"]["properties"]


def plugin(plugin_type: str, name: str) -> dict[str, t.Any]:
    plugins: list[dict[str, t.Any]] = PROJECT["plugins"][plugin_type]
    return next(p for p in plugins if p["name"] == name)


def test_loaders_are_pinned_to_exact_versions_and_duckdb_to_the_one_we_read_with() -> None:
    for loader in PROJECT["plugins"]["loaders"]:
        requirements = loader["pip_url"].split()
        assert all("==" in requirement for requirement in requirements), loader["pip_url"]

    pins = dict(r.split("==") for r in plugin("loaders", "target-duckdb")["pip_url"].split())
    assert pins["duckdb"] == version("duckdb"), "target-duckdb writes files we must read"


def test_meltano_lists_every_setting_with_its_environment_variable(meltano: Meltano) -> None:
    listing = meltano("config", "list", "--all", "tap-aphex").stdout

    for name in SETTINGS:
        assert f"{name} [env: TAP_APHEX_{name.upper()}]" in listing


def test_meltano_redacts_the_api_key_and_the_project_tokens(
    meltano: Meltano, simulator: Simulator
) -> None:
    result = meltano("--environment=simulator", "config", "list", "tap-aphex")
    output = result.stdout + result.stderr

    assert re.search(r"api_key \[env: TAP_APHEX_API_KEY\] current value: \(redacted\)", output)
    assert re.search(r"projects \[env: TAP_APHEX_PROJECTS\] current value: \(redacted\)", output)
    secrets = [simulator.api_key, *(project.token for project in simulator.plan_projects)]
    assert not [secret for secret in secrets if secret in output]


def test_meltano_config_test_passes_against_the_simulator(meltano: Meltano) -> None:
    result = meltano("--environment=simulator", "config", "test", "tap-aphex")

    assert "Plugin configuration is valid" in result.stdout + result.stderr


def test_meltano_config_test_fails_when_the_api_refuses_the_key(meltano: Meltano) -> None:
    meltano.env.update(TAP_APHEX_API_KEY="not-the-key", TAP_APHEX_PROJECTS="[]")

    result = meltano("--environment=simulator", "config", "test", "tap-aphex", check=False)

    assert result.returncode != 0
    assert "HTTP 401" in result.stdout + result.stderr
