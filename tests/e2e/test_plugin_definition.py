"""tap-aphex.yml works as published: a user adds it to a Meltano project of their own and runs it.

A fresh project in a temporary folder (`meltano init`), the tap added with `meltano add --from-ref`
from our plugin definition by the lines its header gives for a clone (pip_url: this checkout),
configured with `meltano config set` against the simulator, then `meltano config test` and
`meltano run tap-aphex target-jsonl`.
"""

from __future__ import annotations

import pytest
from aphex_simulator import Simulator

from .landing import JsonlLanding
from .meltano_project import ROOT, Meltano
from .truth import landing_differences
from .user_project import create_user_project, project_secrets, read_project, simulator_config

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory) -> Meltano:
    return create_user_project(tmp_path_factory.mktemp("user_project"))


def test_meltano_adds_the_tap_from_the_plugin_definition_and_nothing_else(
    user_project: Meltano,
) -> None:
    plugins = read_project(user_project)["plugins"]

    assert isinstance(plugins, dict)
    assert sorted(plugins) == ["extractors", "loaders"]
    (tap,) = plugins["extractors"]
    assert tap["name"] == "tap-aphex"
    assert tap["pip_url"] == str(ROOT)  # the clone, by the documented lines (see user_project.py)
    assert tap["settings_group_validation"] == [["api_key"], ["projects"]]
    listing = user_project("config", "list", "tap-aphex").stdout
    assert "api_key (required by group 1)" in listing
    assert "projects (required by group 2)" in listing


def test_a_user_configures_tests_and_runs_the_tap_from_the_plugin_definition(
    user_project: Meltano, simulator: Simulator
) -> None:
    for name, value in simulator_config(simulator).items():
        user_project("config", "set", "tap-aphex", name, value)
    output = user_project.cwd / "output" / "jsonl"
    user_project("config", "set", "target-jsonl", "destination_path", str(output))

    tested = user_project("config", "test", "tap-aphex")
    user_project("run", "tap-aphex", "target-jsonl")

    assert "Plugin configuration is valid" in tested.stdout + tested.stderr
    assert landing_differences(JsonlLanding(output), simulator) == []
    # The key and the tokens went to the project's .env, never into meltano.yml.
    project_file = (user_project.cwd / "meltano.yml").read_text(encoding="utf-8")
    dotenv = (user_project.cwd / ".env").read_text(encoding="utf-8")
    for secret in project_secrets(simulator):
        assert secret not in project_file
        assert secret in dotenv
