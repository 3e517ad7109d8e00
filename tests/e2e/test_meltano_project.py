"""meltano.yml: the tap as Meltano 4 sees it (test_plugin_files.py checks its declarations)."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from aphex_simulator import Simulator

from .meltano_project import ROOT, Meltano
from .plugin_files import about, project_plugin, read_yaml

pytestmark = pytest.mark.e2e

SETTINGS = about()["settings"]["properties"]
# How Meltano marks a setting of a settings_group_validation group.
GROUP = r"(?: \(required by group \d\))?"


def test_loaders_are_pinned_to_exact_versions_and_duckdb_to_the_one_we_read_with() -> None:
    for loader in read_yaml(ROOT / "meltano.yml")["plugins"]["loaders"]:
        requirements = loader["pip_url"].split()
        assert all("==" in requirement for requirement in requirements), loader["pip_url"]

    duckdb_loader = project_plugin("loaders", "target-duckdb")
    pins = dict(r.split("==") for r in duckdb_loader["pip_url"].split())
    assert pins["duckdb"] == version("duckdb"), "target-duckdb writes files we must read"


def test_meltano_lists_every_setting_with_its_environment_variable(meltano: Meltano) -> None:
    listing = meltano("config", "list", "--all", "tap-aphex").stdout

    for name in SETTINGS:
        assert re.search(rf"^{name}{GROUP} \[env: TAP_APHEX_{name.upper()}\]", listing, re.M), name
    # settings_group_validation: Meltano tells a user that one of the two is needed.
    assert "api_key (required by group 1)" in listing
    assert "projects (required by group 2)" in listing


def test_meltano_redacts_the_api_key_and_the_project_tokens(
    meltano: Meltano, simulator: Simulator
) -> None:
    result = meltano("--environment=simulator", "config", "list", "tap-aphex")
    output = result.stdout + result.stderr

    for name in ("api_key", "projects"):
        env = f"TAP_APHEX_{name.upper()}"
        assert re.search(rf"{name}{GROUP} \[env: {env}\] current value: \(redacted\)", output)
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
