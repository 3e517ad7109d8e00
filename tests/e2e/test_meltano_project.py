"""meltano.yml: the tap as Meltano 4 sees it, matching what the tap itself declares."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing as t
from importlib.metadata import version

import pytest
import yaml

from tap_aphex.simulator import Simulator

from .meltano_project import ROOT, Meltano

pytestmark = pytest.mark.e2e

PROJECT: dict[str, t.Any] = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
# What the tap reports about itself, as Meltano and Meltano Hub read it: its own settings and the
# SDK's built-in ones, and its capabilities. (Asked of a fresh process: the SDK adds its built-in
# settings to the tap's schema in place when a tap starts, which the other tests do here.)
ABOUT: dict[str, t.Any] = json.loads(
    subprocess.run(
        [sys.executable, "-m", "tap_aphex", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
)
SETTINGS: dict[str, dict[str, t.Any]] = ABOUT["settings"]["properties"]

# The Meltano setting kind for each JSON Schema type of the tap's settings.
KINDS = {
    "string": "string",
    "integer": "integer",
    "array": "array",
    "boolean": "boolean",
    "object": "object",
}


def plugin(plugin_type: str, name: str) -> dict[str, t.Any]:
    plugins: list[dict[str, t.Any]] = PROJECT["plugins"][plugin_type]
    return next(p for p in plugins if p["name"] == name)


def declared_settings() -> dict[str, dict[str, t.Any]]:
    return {setting["name"]: setting for setting in plugin("extractors", "tap-aphex")["settings"]}


def json_type(schema: dict[str, t.Any]) -> str:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    (only,) = [name for name in types if name != "null"]
    return str(only)


def holds_a_secret(schema: dict[str, t.Any]) -> bool:
    nested = schema.get("items", {}).get("properties", {}).values()
    return bool(schema.get("secret")) or any(holds_a_secret(p) for p in nested)


def test_meltano_yml_declares_every_setting_of_the_tap_with_its_kind() -> None:
    declared = declared_settings()

    assert sorted(declared) == sorted(SETTINGS)
    for name, schema in SETTINGS.items():
        expected_kind = "password" if schema.get("secret") else KINDS[json_type(schema)]
        assert declared[name]["kind"] == expected_kind, name
        assert bool(declared[name].get("sensitive")) == holds_a_secret(schema), name
        assert declared[name].get("value") == schema.get("default"), name


def test_meltano_yml_declares_the_capabilities_the_tap_reports() -> None:
    declared = plugin("extractors", "tap-aphex")["capabilities"]

    assert sorted(declared) == sorted(ABOUT["capabilities"])


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
