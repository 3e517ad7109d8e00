"""The release workflow's safety properties, read from .github/workflows/release.yml."""

from __future__ import annotations

import re
import typing as t
from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "release.yml"


def workflow() -> dict[t.Any, t.Any]:
    return dict(yaml.safe_load(WORKFLOW.read_text(encoding="utf-8")))


def test_it_runs_on_version_tags_only() -> None:
    # YAML 1.1 reads the key `on` as True.
    assert workflow()[True] == {"push": {"tags": ["v*"]}}


def test_only_the_publish_job_may_ask_for_an_id_token_and_it_runs_in_the_pypi_environment() -> None:
    jobs = workflow()["jobs"]
    assert workflow()["permissions"] == {}
    with_token = [name for name, job in jobs.items() if "id-token" in job.get("permissions", {})]
    assert with_token == ["publish"]
    assert jobs["publish"]["permissions"] == {"id-token": "write"}
    assert jobs["publish"]["environment"]["name"] == "pypi"
    assert "password" not in WORKFLOW.read_text(encoding="utf-8")  # trusted publishing, no token


def test_every_action_is_pinned_by_commit() -> None:
    uses = re.findall(r"uses:\s*(\S+)", WORKFLOW.read_text(encoding="utf-8"))
    assert uses
    assert [use for use in uses if not re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", use)] == []
