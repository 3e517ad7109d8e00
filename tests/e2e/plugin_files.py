"""The files that describe the tap to Meltano and to people, and what the tap says of itself.

`tap-aphex --about` is the source of truth: meltano.yml (the development project), tap-aphex.yml
(the Meltano Hub plugin definition users add) and README's settings table must agree with it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import typing as t
from pathlib import Path

import yaml
from singer_sdk.helpers.capabilities import BATCH_CONFIG, FLATTENING_CONFIG, STREAM_MAPS_CONFIG

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_DEFINITION = ROOT / "tap-aphex.yml"

Plugin = dict[str, t.Any]


def about() -> dict[str, t.Any]:
    """`tap-aphex --about --format json`, asked of a fresh process: the SDK adds its built-in
    settings to the tap's schema in place when a tap starts, which other tests do in this one."""
    result = subprocess.run(
        [sys.executable, "-m", "tap_aphex", "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def sdk_builtin_settings() -> set[str]:
    """The settings every SDK tap with our capabilities has, beside its own."""
    return {
        name
        for schema in (STREAM_MAPS_CONFIG, FLATTENING_CONFIG, BATCH_CONFIG)
        for name in schema["properties"]
    }


def read_yaml(path: Path) -> dict[str, t.Any]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8")))


def project_plugin(plugin_type: str, name: str) -> Plugin:
    """A plugin of meltano.yml."""
    plugins: list[Plugin] = read_yaml(ROOT / "meltano.yml")["plugins"][plugin_type]
    return next(plugin for plugin in plugins if plugin["name"] == name)


def plugin_definition() -> Plugin:
    """tap-aphex.yml."""
    return read_yaml(PLUGIN_DEFINITION)


def readme_settings() -> tuple[list[str], list[str]]:
    """README's Settings section: the names in its table, and the SDK built-ins it lists."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    table = re.findall(r"^\| `(\w+)` \|", section, flags=re.MULTILINE)
    builtins_line = section.split("built-in settings", 1)[1].split(". ", 1)[0]
    return table, re.findall(r"`(\w+)`", builtins_line)
