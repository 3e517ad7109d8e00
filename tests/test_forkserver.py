"""The fork server (tests/forkserver.py) gives what an exec'd `python -m tap_aphex` gives, serves
where it can fork (a broken helper fails here, not silently in the suite's CPU), and stays right
after a run that fails on the test's side."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import typing as t

import forkserver
import pytest
from harness import tap_aphex_process

if t.TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork here: every run is exec'd")


def exec_d(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The run as it is started without the fork server (`APHEX_TESTS_NO_FORKSERVER=1`)."""
    return subprocess.run(
        [sys.executable, "-m", "tap_aphex", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def forked(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    server = forkserver.server(env)
    assert server is not None, "this run should be forked"
    run = server.run(args, env, 120)
    assert run is not None
    return run


def config_file(folder: Path, config: dict[str, t.Any]) -> str:
    path = folder / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(lambda folder: ["--about", "--format=json"], id="about"),
        pytest.param(  # refused: exit 1, its error line (after the INFO banner)
            lambda folder: [
                "--config",
                config_file(folder, {"api_key": "k", "page_size": 0}),
            ],
            id="refused-config",
        ),
        pytest.param(
            lambda folder: [
                "--discover",
                "--config",
                config_file(folder, {"api_key": "k", "api_url": "http://127.0.0.1:9/x"}),
            ],
            id="discover",
        ),
        pytest.param(  # a variable read at run time: forked too
            lambda folder: ["--discover", "--config", "ENV"], id="discover-env"
        ),
    ],
)
def test_a_forked_run_is_an_exec_d_run(
    command: t.Callable[[Path], list[str]], tmp_path: Path
) -> None:
    if os.environ.get("APHEX_TESTS_NO_FORKSERVER"):
        pytest.skip("APHEX_TESTS_NO_FORKSERVER is set")
    args = command(tmp_path)
    env = {**os.environ, "TAP_APHEX_API_KEY": "k", "LOGLEVEL": "INFO"}

    mine, theirs = forked(*args, env=env), exec_d(*args, env=env)

    assert mine.returncode == theirs.returncode
    assert mine.stdout == theirs.stdout
    assert unstamped(mine.stderr) == unstamped(theirs.stderr)


def unstamped(stderr: str) -> str:
    """``stderr`` without its log lines' times (the two runs are not made in the same
    millisecond)."""
    return re.sub(r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", "", stderr)


def test_the_refused_config_is_one_line(tmp_path: Path) -> None:
    # What the comparison above compares (so that it compares a refusal, not two crashes).
    run = tap_aphex_process(
        "--config",
        config_file(tmp_path, {"api_key": "k", "page_size": 0}),
        env={"LOGLEVEL": "WARNING"},
    )

    assert run.returncode == 1
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the saving is measured on Linux")
def test_the_fork_server_serves() -> None:
    if os.environ.get("APHEX_TESTS_NO_FORKSERVER"):
        pytest.skip("APHEX_TESTS_NO_FORKSERVER is set")
    server = forkserver.started()

    assert server.ready, f"the fork server refused to serve: {server.refusal}"
    assert forkserver.server(dict(os.environ)) is server


@pytest.mark.parametrize(
    "variable", ["IJSON_BACKEND", "PYTHONWARNINGS", "LANG", "TZ", "LC_ALL", "PYTHONHASHSEED"]
)
def test_a_variable_read_before_the_command_runs_makes_the_run_exec_d(variable: str) -> None:
    environ = {**os.environ, variable: "something else"}

    assert forkserver.server(environ) is None


@pytest.mark.parametrize("variable", ["TAP_APHEX_PAGE_SIZE", "LOGLEVEL", "SINGER_SDK_LOG_CONFIG"])
def test_a_variable_read_when_the_command_runs_is_forked(variable: str) -> None:
    assert forkserver.started().forks_with({**os.environ, variable: "something else"})


@pytest.fixture
def own_server() -> t.Iterator[forkserver.ForkServer]:
    """A helper of the test's own (the one the worker shares is left as it is)."""
    server = forkserver.ForkServer()
    assert server.ready, server.refusal
    yield server
    server.close()


@pytest.mark.parametrize("error", [OSError, KeyboardInterrupt])
def test_a_run_failing_on_the_test_s_side_leaves_the_server_right(
    own_server: forkserver.ForkServer, error: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(out: int, err: int, deadline: float, command: list[str]) -> t.NoReturn:
        os.close(out)
        os.close(err)
        raise error("while reading the child's output")

    env = dict(os.environ)
    with monkeypatch.context() as patch:
        patch.setattr(forkserver, "_read_both", failing)
        with pytest.raises(error):
            own_server.run(["--about", "--format=json"], env, 60)

    # The failed run's status was read: the next run reads its own replies.
    after = own_server.run(["--about", "--format=json"], env, 60)
    assert own_server.ready
    assert after is not None
    assert after.returncode == 0
    assert json.loads(after.stdout)["name"] == "tap-aphex"


def test_a_run_whose_replies_are_lost_stops_the_server(
    own_server: forkserver.ForkServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def lost() -> t.NoReturn:
        raise OSError("a reply lost")

    with monkeypatch.context() as patch:
        patch.setattr(own_server, "_reply", lost)
        with pytest.raises(OSError, match="a reply lost"):
            own_server.run(["--about", "--format=json"], dict(os.environ), 60)

    assert not own_server.ready
    assert own_server.run(["--about"], dict(os.environ), 60) is None  # so the run is exec'd


@pytest.mark.parametrize(
    ("noise", "said"),
    [
        ("warnings.warn('an upgraded dependency warns', UserWarning)", "an upgraded dependency"),
        ("print('a dependency prints')", "a dependency prints"),
        ("os.write(2, b'a library writes to fd 2')", "a library writes to fd 2"),
    ],
)
def test_imports_that_warn_or_write_leave_the_runs_exec_d(
    noise: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if importing the tap's dependencies did this: a user's start would show it on stderr (or
    # stdout), so runs must be exec'd, where the tests see it too.
    importing = "    import tap_aphex.tap"
    assert importing in forkserver.HELPER
    monkeypatch.setattr(
        forkserver, "HELPER", forkserver.HELPER.replace(importing, f"    {noise}\n{importing}")
    )

    server = forkserver.ForkServer()

    assert not server.ready
    assert said in server.refusal
    assert server.run(["--about"], dict(os.environ), 60) is None
