"""The connector image: built from the Dockerfile, it answers `spec` as Airbyte calls it.

Needs a Docker daemon; where there is none, the test skips and says why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from airbyte_protocol.models import AirbyteMessage

from tap_aphex.airbyte.protocol import connector_specification

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "source-aphex:test"


def _docker_daemon() -> str:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker command on PATH: the connector image cannot be built here")
    info = subprocess.run(
        [docker, "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        pytest.skip(f"no Docker daemon to build the connector image with: {reason}")
    return docker


def test_the_image_answers_spec_with_airbytes_entrypoint(request: pytest.FixtureRequest) -> None:
    docker = _docker_daemon()
    # Built here only, when this (e2e) test is selected; said on the terminal past pytest's capture.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"tests/test_docker.py: building the connector image {IMAGE} from the Dockerfile "
            "(the tap on a Python base image), to check Airbyte's `spec` call on it"
        )
    subprocess.run([docker, "build", "-t", IMAGE, str(ROOT)], check=True, timeout=900)

    spec = subprocess.run(
        [docker, "run", "--rm", IMAGE, "spec"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    inspected = subprocess.run(
        [docker, "image", "inspect", IMAGE, "--format", "{{json .Config}}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    messages = [json.loads(line) for line in spec.stdout.splitlines()]
    (message,) = [m for m in messages if m["type"] == "SPEC"]
    AirbyteMessage.parse_obj(message)
    assert message["spec"] == json.loads(json.dumps(connector_specification()))
    config = json.loads(inspected.stdout)
    assert "AIRBYTE_ENTRYPOINT=source-aphex" in config["Env"]
    assert config["Entrypoint"] == ["source-aphex"]
    assert config["Labels"]["io.airbyte.name"] == "airbyte/source-aphex"
