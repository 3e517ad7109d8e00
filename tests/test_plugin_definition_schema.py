"""tap-aphex.yml is a valid Meltano Hub extractor definition, by the Hub's own JSON schema.

The schema files are vendored under tests/schemas/hub/ (see the README there). They reference one
another by relative names whose `$id`s do not resolve to their folders, so each reference is found
by its file name: the five names are distinct.
"""

from __future__ import annotations

import json
import typing as t
from pathlib import Path

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = ROOT / "tests" / "schemas" / "hub"
EXTRACTOR_SCHEMA = SCHEMAS / "plugin_definitions" / "extractors.schema.json"


def _load(path: Path) -> dict[str, t.Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def _by_file_name(uri: str) -> Resource[t.Any]:
    (path,) = SCHEMAS.rglob(uri.rsplit("/", 1)[-1])
    return Resource.from_contents(_load(path))


def hub_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(
        _load(EXTRACTOR_SCHEMA),
        registry=Registry(retrieve=_by_file_name),  # type: ignore[call-arg]
        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
    )


def errors(definition: dict[str, t.Any]) -> list[str]:
    return sorted(
        f"{'/'.join(map(str, error.absolute_path)) or '(top)'}: {error.message}"
        for error in hub_validator().iter_errors(definition)
    )


def plugin_definition() -> dict[str, t.Any]:
    return dict(yaml.safe_load((ROOT / "tap-aphex.yml").read_text(encoding="utf-8")))


def test_tap_aphex_yml_is_a_valid_hub_extractor_definition() -> None:
    assert errors(plugin_definition()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"quality": None}, "(top): 'quality' is a required property", id="quality"),
        pytest.param({"namespace": None}, "(top): 'namespace' is a required property", id="ns"),
        pytest.param({"capabilities": ["abuot"]}, "capabilities/0: 'abuot' is not one", id="cap"),
        pytest.param({"homepage": "x"}, "(top): Additional properties are not allowed", id="extra"),
        pytest.param(
            {"settings": [{"name": "x", "kind": "options", "options": [{"value": 1}]}]},
            "settings/0/options/0/value: 1 is not of type 'string'",
            id="option",
        ),
    ],
)
def test_the_schema_catches_what_hub_refuses(change: dict[str, t.Any], expected: str) -> None:
    """The vendored schema is wired up: each reference resolves and its rules are applied."""
    definition = plugin_definition() | change
    for name in [name for name, value in change.items() if value is None]:
        del definition[name]

    assert any(error.startswith(expected) for error in errors(definition)), errors(definition)


def test_each_options_setting_lists_its_choices_with_its_default_among_them() -> None:
    """A setting of kind `options` is a choice Meltano shows by its options: the Hub's schema
    lets a definition leave them out or name a default that is not one of them."""
    settings = plugin_definition()["settings"]
    choices = [setting for setting in settings if setting["kind"] == "options"]

    assert choices, "tap-aphex.yml has no setting of kind options (metrics_log_level is one)"
    assert all("options" not in setting for setting in settings if setting not in choices)
    for setting in choices:
        values = [option["value"] for option in setting.get("options", [])]
        assert values, setting["name"]
        assert len(set(values)) == len(values), setting["name"]
        assert all(option.get("label") for option in setting["options"]), setting["name"]
        assert setting.get("value", values[0]) in values, setting["name"]
