"""A Meltano project of a user's own, made from scratch in a temporary folder.

Unlike the repository's project (meltano.yml), it is made as a user makes theirs: `meltano init`,
then `meltano add` of tap-aphex from the plugin definition we publish (tap-aphex.yml) by the three
lines its header gives for a clone (run with bash as written, the clone's path being this checkout),
and of target-jsonl from the definition meltano.yml pins
(the tests have no network but PyPI, so no Meltano Hub). Secrets set with `meltano config set` land
in the project's own `.env`, which this project reads.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import meltano_runner
import yaml
from aphex_simulator import Simulator

from .meltano_project import Meltano, meltano_environment
from .plugin_files import PLUGIN_DEFINITION, ROOT, project_plugin

_INSTALL_TIMEOUT_SECONDS = 600


def write_reference(path: Path, definition: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(definition, sort_keys=False), encoding="utf-8")
    return path


def documented_clone_commands() -> list[str]:
    """The lines tap-aphex.yml's header tells a user to type to add the tap from a clone."""
    header = PLUGIN_DEFINITION.read_text(encoding="utf-8").split("\nname: ", 1)[0].splitlines()
    start = next(i for i, line in enumerate(header) if "Before that, from a clone" in line)
    lines = [line.removeprefix("#   ") for line in header[start:] if line.startswith("#   ")]
    assert lines[0] == "TAP_APHEX_CLONE=/path/to/tap-aphex", lines
    assert lines[-1].startswith("meltano add --plugin-type extractor tap-aphex --from-ref"), lines
    return lines


def add_tap_as_documented(meltano: Meltano) -> None:
    """The documented lines, run by bash in the user's project; only the clone's path filled in."""
    commands = documented_clone_commands()
    commands[0] = f"TAP_APHEX_CLONE={ROOT}"
    meltano_folder = Path(meltano_runner.meltano_executable()).parent
    env = meltano.env | {"PATH": f"{meltano_folder}{os.pathsep}{meltano.env['PATH']}"}
    script = "set -euo pipefail\n" + "\n".join(commands) + "\n"
    result = subprocess.run(
        ["bash", "-c", script], cwd=meltano.cwd, env=env, capture_output=True, text=True,
        timeout=_INSTALL_TIMEOUT_SECONDS, check=False,
    )  # fmt: skip
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"


def create_user_project(folder: Path, **env: str) -> Meltano:
    """`meltano init` in `folder`, then tap-aphex and target-jsonl added from their definitions."""
    base = meltano_environment(folder / "unused.db", **env)
    if "MELTANO_DATABASE_URI" not in env:
        del base["MELTANO_DATABASE_URI"]  # the project's own .meltano/meltano.db, as users have
    meltano_init = Meltano(base, cwd=folder, env_file=None)
    meltano_init("init", "project", "--no_usage_stats")
    meltano = Meltano(base, cwd=folder / "project", env_file=None)

    add_tap_as_documented(meltano)  # pip_url: this checkout, not the PyPI package
    loader = project_plugin("loaders", "target-jsonl") | {"variant": "andyh1203"}
    loader_ref = write_reference(folder / "target-jsonl.yml", loader)
    # `--plugin-type`: Meltano 4 reads `add loader target-jsonl` as two plugins to add.
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
