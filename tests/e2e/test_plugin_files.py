"""meltano.yml, tap-aphex.yml and README declare the settings and capabilities the tap reports.

Fast (no Meltano run): part of the quick suite, so a setting added to the tap without its entry in
the plugin files fails at once.
"""

from __future__ import annotations

import typing as t
from importlib.metadata import entry_points, metadata, version

import pytest

from .plugin_files import (
    Plugin,
    about,
    plugin_definition,
    project_plugin,
    readme_settings,
    sdk_builtin_settings,
)

ABOUT = about()
SETTINGS: dict[str, dict[str, t.Any]] = ABOUT["settings"]["properties"]
PLUGIN_FILES: dict[str, Plugin] = {
    "meltano.yml": project_plugin("extractors", "tap-aphex"),
    "tap-aphex.yml": plugin_definition(),
}
# The Meltano setting kind for each JSON Schema type of the tap's settings.
KINDS = {
    "string": "string",
    "integer": "integer",
    "array": "array",
    "boolean": "boolean",
    "object": "object",
}


def json_type(schema: dict[str, t.Any]) -> str:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    (only,) = [name for name in types if name != "null"]
    return str(only)


def holds_a_secret(schema: dict[str, t.Any]) -> bool:
    nested = schema.get("items", {}).get("properties", {}).values()
    return bool(schema.get("secret")) or any(holds_a_secret(p) for p in nested)


def declared_settings(plugin: Plugin) -> dict[str, dict[str, t.Any]]:
    return {setting["name"]: setting for setting in plugin["settings"]}


@pytest.mark.parametrize("file", PLUGIN_FILES)
def test_declares_every_setting_of_the_tap_with_its_kind_secrecy_and_default(file: str) -> None:
    declared = declared_settings(PLUGIN_FILES[file])

    assert sorted(declared) == sorted(SETTINGS)
    for name, schema in SETTINGS.items():
        expected_kind = (
            "password" if schema.get("secret")
            else "options" if "enum" in schema  # a choice among values: Meltano lists them
            else KINDS[json_type(schema)]
        )  # fmt: skip
        assert declared[name]["kind"] == expected_kind, name
        assert bool(declared[name].get("sensitive")) == holds_a_secret(schema), name
        assert declared[name].get("value") == schema.get("default"), name


@pytest.mark.parametrize("file", PLUGIN_FILES)
def test_offers_as_options_exactly_the_values_the_tap_accepts(file: str) -> None:
    declared = declared_settings(PLUGIN_FILES[file])
    with_options = {name for name, setting in declared.items() if "options" in setting}

    assert with_options == {name for name, schema in SETTINGS.items() if "enum" in schema}
    for name in with_options:
        values = [option["value"] for option in declared[name]["options"]]
        assert sorted(values) == sorted(SETTINGS[name]["enum"]), name
        assert all(option.get("label") for option in declared[name]["options"]), name


@pytest.mark.parametrize("file", PLUGIN_FILES)
def test_describes_each_of_the_taps_own_settings_as_about_does(file: str) -> None:
    # What `meltano config list` and Meltano Hub show is what --about and the README say. (The
    # SDK's built-in settings are worded by the SDK, which may change them between releases.)
    declared = declared_settings(PLUGIN_FILES[file])
    for name in set(SETTINGS) - sdk_builtin_settings():
        assert declared[name]["description"] == SETTINGS[name]["description"], name


@pytest.mark.parametrize("file", PLUGIN_FILES)
def test_declares_the_capabilities_the_tap_reports(file: str) -> None:
    assert sorted(PLUGIN_FILES[file]["capabilities"]) == sorted(ABOUT["capabilities"])


def test_the_tap_does_not_declare_activate_version_which_no_incremental_stream_can_honour() -> None:
    # The SDK sends ACTIVATE_VERSION only for full-table reads; a target that gets one deletes
    # every row of an older version, which would drop history the bookmarks never read again.
    assert "activate-version" not in ABOUT["capabilities"]


@pytest.mark.parametrize("file", PLUGIN_FILES)
def test_a_config_needs_the_api_key_or_the_projects(file: str) -> None:
    assert PLUGIN_FILES[file]["settings_group_validation"] == [["api_key"], ["projects"]]


def test_the_plugin_definition_gives_every_setting_a_label_description_and_secrecy() -> None:
    for setting in plugin_definition()["settings"]:
        assert setting.get("label"), setting["name"]
        assert len(setting.get("description", "")) > 20, setting["name"]
        assert isinstance(setting.get("sensitive"), bool), setting["name"]


def test_the_plugin_definition_names_the_published_package_and_its_executable() -> None:
    definition = plugin_definition()
    scripts = {entry.name for entry in entry_points(group="console_scripts")}

    assert definition["pip_url"] == metadata("tap-aphex")["Name"] == "tap-aphex"
    assert definition["executable"] in scripts
    assert definition["namespace"] == "tap_aphex"
    for field in ("name", "variant", "label", "description", "repo", "docs", "keywords"):
        assert definition.get(field), field
    assert "meltano_sdk" in definition["keywords"]
    assert version("tap-aphex")  # the checkout is installed, so --from-ref can point at it


def test_the_readme_settings_table_names_every_setting_of_the_tap() -> None:
    table, builtins = readme_settings()
    own = set(SETTINGS) - sdk_builtin_settings()

    assert sorted(table) == sorted(own)
    assert sorted(builtins) == sorted(sdk_builtin_settings())
