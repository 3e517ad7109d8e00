"""A Meltano project of a user's own, made from scratch in a temporary folder.

Unlike the repository's project (meltano.yml), it is made as a user makes theirs: `meltano init`,
then `meltano add` of tap-aphex from the plugin definition we publish (tap-aphex.yml), its pip_url
pointed at this checkout instead of PyPI, and of target-jsonl from the definition meltano.yml pins
(the tests have no network but PyPI, so no Meltano Hub). Secrets set with `meltano config set` land
in the project's own `.env`, which this project reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from aphex_simulator import Simulator

from .meltano_project import Meltano, meltano_environment
from .plugin_files import ROOT, plugin_definition, project_plugin

_INSTALL_TIMEOUT_SECONDS = 600


def write_reference(path: Path, definition: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    return path


def create_user_project(folder: Path, **env: str) -> Meltano:
    """`meltano init` in `folder`, then tap-aphex and target-jsonl added from their definitions."""
    base = meltano_environment(folder / "unused.db", **env)
    if "MELTANO_DATABASE_URI" not in env:
        del base["MELTANO_DATABASE_URI"]  # the project's own .meltano/meltano.db, as users have
    meltano_init = Meltano(base, cwd=folder, env_file=None)
    meltano_init("init", "project", "--no_usage_stats")
    meltano = Meltano(base, cwd=folder / "project", env_file=None)

    tap = plugin_definition() | {"pip_url": str(ROOT)}  # this checkout, not the PyPI package
    tap_ref = write_reference(folder / "tap-aphex.yml", tap)
    loader = project_plugin("loaders", "target-jsonl") | {"variant": "andyh1203"}
    loader_ref = write_reference(folder / "target-jsonl.yml", loader)
    # `--plugin-type`: Meltano 4 reads `add extractor tap-aphex` as two plugins to add.
    meltano(
        "add", "--plugin-type", "extractor", "tap-aphex", "--from-ref", str(tap_ref),
        timeout=_INSTALL_TIMEOUT_SECONDS,
    )  # fmt: skip
    meltano(
        "add", "--plugin-type", "loader", "target-jsonl", "--from-ref", str(loader_ref),
        timeout=_INSTALL_TIMEOUT_SECONDS,
    )  # fmt: skip
    return meltano


def read_project(meltano: Meltano) -> dict[str, object]:
    return dict(yaml.safe_load((meltano.cwd / "meltano.yml").read_text(encoding="utf-8")))


def project_secrets(simulator: Simulator) -> list[str]:
    return [simulator.api_key, *(project.token for project in simulator.plan_projects)]


def simulator_config(simulator: Simulator) -> dict[str, str]:
    """The tap's settings for this simulator, as a user types them into `meltano config set`."""
    projects = [{"name": p.name, "url": p.url, "token": p.token} for p in simulator.plan_projects]
    return {
        "api_url": f"{simulator.base_url}/apiTaskEventsV2",
        "api_key": simulator.api_key,
        "projects": json.dumps(projects),
    }


def organisation_env(plugin: str, simulator: Simulator) -> dict[str, str]:
    """The same settings in the environment variables Meltano reads for `plugin` by its name."""
    prefix = plugin.upper().replace("-", "_")
    config = simulator_config(simulator)
    return {f"{prefix}_{name.upper()}": value for name, value in config.items()}
