"""The command as users meet it: bad files, interrupts, a closed pipe, DEBUG logs, `--test`.

Every way a run ends is one clear line on stderr, a non-zero exit when it did not finish, and no
traceback; no key, token or URL query value reaches the output at any log level.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aphex_simulator import Simulator
from harness import (
    UNWRITABLE_STDOUTS,
    TapRun,
    events_config,
    log_lines,
    parse_messages,
    run_cli,
    run_command,
    run_tap,
    selecting,
    signalled,
    signalled_after_states,
    start_cli,
    tap_aphex_process,
    wait_until_writing_to_a_full_pipe,
    with_output_closed,
)

from tap_aphex import sdk_seam, signals
from tap_aphex.cli import commands_given
from tap_aphex.inputs import read_json
from tap_aphex.report import ConfigError, RunReport, StopReason
from tap_aphex.streams import plan_report
from tap_aphex.tap import TapAphex

if t.TYPE_CHECKING:
    from collections.abc import Callable


def one_clear_error(stderr: str) -> str:
    """The run's single ERROR line; fails if there is none, several, or a traceback."""
    assert "Traceback" not in stderr, stderr
    errors = log_lines(stderr, "ERROR")
    assert len(errors) == 1, stderr
    return errors[0]


FILES: dict[str, Callable[[Path], object]] = {
    "not_json": lambda path: path.write_text("api_key: abc"),
    "empty": lambda path: path.write_text(" \n"),
    "a_list": lambda path: path.write_text("[1, 2]"),
    # Python reads no int of more than 4,300 digits: JSON, but no value the tap can hold.
    "a_long_integer": lambda path: path.write_text('{"max_events_per_run": ' + "9" * 5000 + "}"),
    # Read by Python's JSON, but the SDK cannot write them back in its STATE message.
    "a_lone_surrogate": lambda path: path.write_text(
        '{"bookmarks": {"task_events": {"replication_key": "eventId", '
        '"replication_key_value": ["\\ud800"]}}}'
    ),
    "too_deep": lambda path: path.write_text(
        '{"bookmarks": {"task_events": {"replication_key": "eventId", "replication_key_value": '
        + "[" * 900
        + "]" * 900
        + "}}}"
    ),
    # Past Python's recursion limit, where its JSON decoder gives up.
    "far_too_deep": lambda path: path.write_text("[" * 100_000 + "]" * 100_000),
    "a_directory": lambda path: path.mkdir(),
    "missing": lambda path: None,
    "latin_1": lambda path: path.write_bytes('{"start_after": "café"}'.encode("latin-1")),
    "endless": lambda path: path.symlink_to("/dev/zero"),  # read for ever, as a whole file
    # JSON readers keep the last of the two: a first `projects` list dropped without a word.
    "a_nan_twice": lambda path: path.write_text(
        '{"api_key": "k", "stream_map_config": {"x": NaN, "x": NaN}}'
    ),
    "a_key_twice": lambda path: path.write_text(
        '{"api_key": "k", "api_key": "k", "bookmarks": {"tasks": {"context": {"a": 1, "a": 2}}}}'
    ),
    # The decoder's messages for these end in "at" ("Unterminated string starting at").
    "unterminated": lambda path: path.write_text('{"api_key": "x'),
    "a_tab_in_a_string": lambda path: path.write_text('{"api_key": "x\t"}'),
}


CONFIG, STATE = "The config file {path}", "The state file {path}"


def test_a_key_twice_is_named_without_a_secret_the_file_holds(tmp_path: Path) -> None:
    key = "k3y-s3cr3t-value-of-the-config"
    path = tmp_path / "config.json"
    path.write_text(f'{{"api_key": "{key}", "{key}": 1, "{key}": 2}}')

    run = run_command("--config", str(path))

    assert run.returncode == 1
    assert key not in run.stderr + run.stdout
    assert log_lines(run.stderr, "ERROR") == [
        f'The config file {path} holds the key "…" twice in one object, with different values: '
        "keep one."
    ]
    # A state named with the key: its line hides it as every line does (the config's secrets
    # had been replaced by the state's, which holds none).
    path.write_text(f'{{"api_key": "{key}", "api_url": "http://127.0.0.1:9/x"}}')
    state = tmp_path / f"state-{key}.json"
    state.write_text('{"bookmarks": {"a": 1, "a": 2}}')
    run = run_command("--config", str(path), "--state", str(state))
    assert run.returncode == 1
    assert key not in run.stderr + run.stdout
    assert 'holds the key "a" twice in one object' in run.stderr
    # Written alike is read, NaN too (Python's NaN is no NaN, but both are the one `json` reads).
    path.write_text('{"stream_map_config": {"x": NaN, "x": NaN}, "page_size": 1, "page_size": 1}')
    read = t.cast("dict[str, t.Any]", read_json(path, "config"))
    assert math.isnan(read["stream_map_config"]["x"])
    assert read["page_size"] == 1


@pytest.mark.parametrize(
    ("option", "kind", "expected"),
    [
        ("--config", "not_json", "The config file {path} is not JSON (Expecting value at line 1)"),
        (
            "--config",
            "a_list",
            "The config file {path} must hold a JSON object {{...}}, not an array",
        ),
        ("--config", "a_directory", "The config file {path} cannot be read: Is a directory"),
        ("--config", "missing", "The config file {path} cannot be read: No such file or directory"),
        ("--config", "a_long_integer", "The config file {path} holds an integer too long to read"),
        ("--config", "latin_1", "The config file {path} is not UTF-8 text: save it as UTF-8."),
        ("--state", "latin_1", "The state file {path} is not UTF-8 text: save it as UTF-8."),
        ("--state", "not_json", "The state file {path} is not JSON"),
        *(
            (
                option,
                "a_key_twice",
                f'{kind} {{path}} holds the key "a" twice in one object, with different values',
            )
            for option, kind in (("--state", "The state file"), ("--config", "The config file"))
        ),
        ("--state", "empty", "The state file {path} is empty: give it a JSON object {{...}}."),
        ("--config", "empty", "The config file {path} is empty: give it a JSON object {{...}}."),
        ("--state", "a_long_integer", "The state file {path} holds an integer too long to read"),
        *(
            (
                "--state",
                kind,
                "The state file {path} cannot be used (it holds a value the tap cannot write back",
            )
            for kind in ("a_lone_surrogate", "too_deep")
        ),
        (
            "--state",
            "a_list",
            "The state file {path} must hold a JSON object {{...}}, not an array",
        ),
        *(
            (option, "far_too_deep", f"{kind} {{path}} is nested too deep to read.")
            for option, kind in (("--state", "The state file"), ("--config", "The config file"))
        ),
        ("--state", "a_directory", "Invalid value for '--state': '{path}': Is a directory"),
        (
            "--config",
            "unterminated",
            "The config file {path} is not JSON (Unterminated string starting at line 1).",
        ),
        (
            "--state",
            "a_tab_in_a_string",
            "The state file {path} is not JSON (Invalid control character at line 1).",
        ),
        *(
            (option, "endless", f"{kind} {{path}} is larger than 64 MiB: no {what} is")
            for option, kind, what in (
                ("--state", "The state file", "state"),
                ("--config", "The config file", "config"),
            )
        ),
    ],
)
def test_an_unusable_file_is_one_line_naming_it_and_the_problem(
    tmp_path: Path, option: str, kind: str, expected: str
) -> None:
    path = tmp_path / "file.json"
    FILES[kind](path)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_key": "k", "api_url": "http://127.0.0.1:9/x"}))
    args = (
        [option, str(path)]
        if option == "--config"
        else ["--config", str(config), option, str(path)]
    )

    run = run_command(*args)

    assert run.returncode != 0
    assert one_clear_error(run.stderr).startswith(expected.format(path=path))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_files_saved_with_a_bom_or_as_utf_16_are_read(
    organisation: Simulator, tmp_path: Path, encoding: str
) -> None:
    # Notepad saves UTF-8 with a BOM; PowerShell's `>` writes UTF-16.
    config = events_config(organisation, max_events_per_run=10)
    files = {
        "--config": config,
        "--state": {"bookmarks": {}},
        "--catalog": TapAphex(config=config).catalog_dict,
    }
    args = []
    for option, content in files.items():
        path = tmp_path / f"{option.strip('-')}.json"
        path.write_bytes(json.dumps(content).encode(encoding))
        args += [option, str(path)]

    run = run_command(*args)

    assert run.returncode == 0, run.stderr
    assert len(run.records("task_events")) == 10


def test_a_state_of_the_wrong_shape_says_how_to_start_afresh(tmp_path: Path) -> None:
    run = run_cli({"api_key": "k", "api_url": "http://127.0.0.1:9/x"}, {"bookmarks": []})

    assert run.returncode != 0
    assert "drop `--state`, or clear the state in Meltano" in one_clear_error(run.stderr)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        *(
            (
                {"TAP_APHEX_PAGE_SIZE": value},
                "`TAP_APHEX_PAGE_SIZE` must be a whole number (digits only, no spaces), not "
                f"{json.dumps(value)}.",
            )
            for value in ("abc", " 500 ", "1_000")
        ),
        (
            {"TAP_APHEX_PROJECTS": '[{"url": "x", token'},
            "`TAP_APHEX_PROJECTS` must be JSON, an array [...]",
        ),
        (  # the decoder's message ends in "at": said once
            {"TAP_APHEX_PROJECTS": '[{"url": "x'},
            "`TAP_APHEX_PROJECTS` must be JSON, an array [...] (Unterminated string starting at "
            "character 9).",
        ),
        (
            {"TAP_APHEX_REQUEST_TIMEOUT": "1000000000000"},
            "`TAP_APHEX_REQUEST_TIMEOUT` must be a whole number from 1 to 86400, not a number "
            "1000000000000",
        ),
        (  # a setting the schema refuses is named as the variable that set it, with its path
            {"TAP_APHEX_PROJECTS": '[{"url": 5}]'},
            "`TAP_APHEX_PROJECTS[0].token` is required; `TAP_APHEX_PROJECTS[0].url` must be a "
            "string, not a number 5",
        ),
        *(
            (
                {"TAP_APHEX_FLATTENING_ENABLED": value},  # one of the SDK's built-in settings
                "`TAP_APHEX_FLATTENING_ENABLED` must be true or false (or 1/0, yes/no, on/off), "
                f"not {json.dumps(value)}.",
            )
            for value in ("maybe", "ture", "")
        ),
        (  # empty is not unset: reading from the first event would send the whole log again
            {"TAP_APHEX_START_AFTER": ""},
            "`TAP_APHEX_START_AFTER` is empty: unset it to leave `start_after` unset, or set a "
            "value.",
        ),
    ],
)
def test_a_bad_environment_value_names_the_variable(env: dict[str, str], expected: str) -> None:
    run = run_cli({"api_key": "k"}, None, "--config", "ENV", env=env)

    assert run.returncode != 0
    assert expected in one_clear_error(run.stderr)
    assert "Unexpected" not in run.stderr


@pytest.mark.parametrize(
    "env",
    [
        {"TAP_APHEX_PAGE_SIZE": "abc"},
        {"TAP_APHEX_FLATTENING_ENABLED": "maybe"},
        {"TAP_APHEX_PROJECTS": "["},
        {"TAP_APHEX_START_AFTER": ""},
    ],
)
def test_a_variable_the_tap_cannot_read_is_a_config_problem_like_any_other(
    env: dict[str, str],
) -> None:
    # docs/settings.md: config problems are all one line `Config: ...` (`=-5` was, `=abc` not).
    run = run_cli(
        {"api_key": "k", "api_url": "http://127.0.0.1:9/x"}, None, "--config", "ENV", env=env
    )

    assert run.returncode == 1
    assert one_clear_error(run.stderr).startswith(f"Config: `{next(iter(env))}` ")


def integer_settings() -> dict[str, dict[str, t.Any]]:
    """Every integer setting, the SDK's built-in ones too, with its schema as the tap checks it."""
    schema = copy.deepcopy(TapAphex.config_jsonschema)
    sdk_seam.add_builtin_settings(TapAphex, schema)
    return {
        name: setting
        for name, setting in schema["properties"].items()
        if "integer" in setting.get("type", [])
    }


@pytest.mark.parametrize("name", sorted(integer_settings()))
@pytest.mark.parametrize("sign", ["", "-"])
def test_an_integer_variable_too_long_for_python_is_said_as_any_out_of_range_one(
    name: str, sign: str
) -> None:
    # Python reads no text of more than 4,300 digits as an int (nor writes one): the SDK's int().
    variable, digits = f"TAP_APHEX_{name.upper()}", "9" * 4301
    run = run_cli({"api_key": "k"}, None, "--config", "ENV", env={variable: sign + digits})

    assert run.returncode == 1
    error, bounds = one_clear_error(run.stderr), integer_settings()[name]
    if ("minimum" if sign else "maximum") in bounds:  # as any value out of them
        assert f"`{variable}` must be a whole number " in error
        shown = (sign + digits)[:60]
        assert f", not a number {shown}… ({len(sign + digits)} characters)" in error
    else:  # the SDK's flattening settings: no bound to be out of, yet no int Python reads
        assert f"`{variable}` is a whole number too long to read (over 4,300 digits)" in error
    assert "Unexpected" not in run.stderr


@pytest.mark.parametrize("where", ["{url}/{key}", "{base}/{key}/apiTaskEventsV2"])
def test_an_api_url_holding_the_key_is_refused_before_any_request(
    simulator: Simulator, where: str
) -> None:
    base = simulator.events_url.rsplit("/", 1)[0]
    url = where.format(url=simulator.events_url, base=base, key=simulator.api_key)

    run = run_cli(events_config(simulator, api_url=url))

    assert run.returncode == 1
    assert one_clear_error(run.stderr) == (
        "Config: `api_url` holds a key or token, which would travel in every request's URL and "
        "be logged: the URL is the Data API's endpoint as its documentation gives it, the key "
        "goes in `api_key`."
    )
    assert simulator.requests == []  # the key never travelled
    assert simulator.api_key not in run.stderr


@pytest.mark.parametrize("config", [None, {}, {"projects": []}])
def test_variables_set_without_config_env_are_named_when_nothing_is_read(
    tmp_path: Path, config: dict[str, t.Any] | None
) -> None:
    args = []
    if config is not None:
        (tmp_path / "config.json").write_text(json.dumps(config))
        args = ["--config", str(tmp_path / "config.json")]
    env = {"TAP_APHEX_API_KEY": "k3y-s3cr3t", "TAP_APHEX_PAGE_SIZE": "7"}

    run = run_command(*args, env=env)

    assert run.returncode == 1
    assert one_clear_error(run.stderr).endswith(
        "Nothing to read: set `api_key` (Data API: task_events, tasks, task_statuses) and/or "
        "`projects` (Published Plans API: published_plans and its tables). `TAP_APHEX_API_KEY`, "
        "`TAP_APHEX_PAGE_SIZE` are set, but `TAP_APHEX_*` variables are read only with `--config "
        "ENV` (beside any config file)."
        if config != {"projects": []}
        else "`TAP_APHEX_PAGE_SIZE` are set, but `TAP_APHEX_*` variables are read only with "
        "`--config ENV` (beside any config file)."
    )
    assert "k3y-s3cr3t" not in run.stderr


def test_a_variable_puts_its_value_over_a_refused_one_in_the_config_file() -> None:
    config = {"api_key": "k", "api_url": "http://127.0.0.1:9/x", "retry_budget_seconds": 0}
    config["page_size"] = 0

    fixed = run_cli(config, None, "--config", "ENV", env={"TAP_APHEX_PAGE_SIZE": "7"})
    refused = run_cli(config)

    # The value the run would use is the variable's: it goes on, to find no server on port 9.
    assert "page_size" not in fixed.stderr
    assert "no connection" in fixed.stderr.strip().splitlines()[-1]
    assert "`page_size` must be a whole number from 1 to 4000, not a number 0" in one_clear_error(
        refused.stderr
    )


def test_an_unknown_key_in_a_project_set_by_its_variable_is_named_by_the_variable() -> None:
    projects = [{"url": "http://127.0.0.1:9/power-bi/v1/P1", "token": "t" * 20, "tokn": 1}]
    env = {"TAP_APHEX_PROJECTS": json.dumps(projects), "TAP_APHEX_RETRY_BUDGET_SECONDS": "0"}

    run = run_cli({}, None, "--config", "ENV", env=env)

    assert (
        "Unknown setting `TAP_APHEX_PROJECTS[0].tokn` is ignored; did you mean "
        "`TAP_APHEX_PROJECTS[0].token`?"
    ) in log_lines(run.stderr, "WARNING")


def test_an_unknown_environment_variable_is_warned_about_with_the_closest_name() -> None:
    config = {"api_key": "k", "api_url": "http://127.0.0.1:9/x", "retry_budget_seconds": 0}

    run = run_cli(config, None, "--config", "ENV", env={"TAP_APHEX_PAGE_SISE": "5"})

    warnings = log_lines(run.stderr, "WARNING")
    assert (
        "Unknown environment variable `TAP_APHEX_PAGE_SISE` is ignored; did you mean "
        "`TAP_APHEX_PAGE_SIZE`?"
    ) in warnings


UNSENDABLE: dict[str, tuple[dict[str, t.Any], str]] = {
    "api_key with a newline inside": ({"api_key": "K3Y-s3cr3t\nZZQ"}, "`api_key`"),
    "api_key outside Latin-1": ({"api_key": "K3Y-s3cr3t€ZZQ"}, "`api_key`"),
    "api_key with a control character": ({"api_key": "K3Y-s3cr3t\x07ZZQ"}, "`api_key`"),
    "token with a header injection": (
        {
            "projects": [
                {"url": "https://app.aphex.co/power-bi/v1/acc", "token": "S3CR3T\r\nX-Evil: 1"}
            ]
        },
        "`projects[0].token`",
    ),
}


@pytest.mark.parametrize("command", [(), ("--discover",), ("--test",)])
@pytest.mark.parametrize("case", UNSENDABLE)
def test_a_key_or_token_no_header_can_carry_is_refused_by_name_in_every_command(
    case: str, command: tuple[str, ...]
) -> None:
    config, where = UNSENDABLE[case]
    secret = str(config.get("api_key") or config["projects"][0]["token"])

    run = run_cli(config, None, *command, env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 1
    error = one_clear_error(run.stderr)
    assert f"{where} holds a character an HTTP header cannot carry" in error
    output = run.stderr + run.stdout
    for shown in (secret, repr(secret)[1:-1], secret.encode("unicode_escape").decode()):
        assert shown not in output
    assert "s3cr3t" not in output.lower()


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            {"api_url": "https://bob:hunter2@example.com:99999/x"},
            "`api_url` carries a user name or password (user:password@), which would be sent "
            "and logged with every request: remove it (https://example.com:99999/x)",
        ),
        (
            {"api_url": "https://example.com/x;token=hunter2"},
            "`api_url` carries path parameters (;name=value)",
        ),
        (
            {"api_url": "http://[::1/x"},
            "`api_url` is not a URL the tap can read (Invalid IPv6 URL); write it as "
            "https://host/path, not http://[::1/x",
        ),
        (
            {"page_size": 100.0},
            "`page_size` must be a whole number from 1 to 4000, not a number 100.0",
        ),
        (
            {"page_size": "abc"},
            '`page_size` must be a whole number from 1 to 4000, not a string "abc"',
        ),
        (
            {"request_timeout": 1e12},
            "`request_timeout` must be a whole number from 1 to 86400, not a number "
            "1000000000000.0",
        ),
        ({"start_after": " evt-1"}, "`start_after` has spaces or a line break around it"),
        *(
            (
                {"start_after": value},
                "`start_after` is empty or blank: remove it to start from the first event, or set "
                "an eventId.",
            )
            for value in ("", "  ")
        ),
        (  # no host: the line for a URL with none, not the plain-http one naming host None
            {"api_url": "http://"},
            "`api_url` must be an https:// URL (this one has no scheme or no host)",
        ),
        ({"start_after": "evt\x1b[31m-1"}, "`start_after` holds a control character"),
        ({"start_after": "evt\u2028-1"}, "`start_after` holds a control character"),
        (  # a key of a setting's object too
            {"stream_maps": {"task_events": {"x\ud83d": "1"}}},
            "`stream_maps.task_events` holds a lone UTF-16 surrogate",
        ),
        (  # JSON can write half an emoji; no request, record or state can carry it
            {"start_after": "evt\ud83d", "api_url": "http://127.0.0.1:9/\udcff"},
            "`api_url` holds a lone UTF-16 surrogate (half an emoji, or a byte no UTF-8 has): "
            "retype it; `start_after` holds a lone UTF-16 surrogate",
        ),
        (
            {"flattening_max_depth": "abc"},
            '`flattening_max_depth` must be a whole number of at least 0, not a string "abc"',
        ),
        ({"stream_maps": 5}, "`stream_maps` must be an object, not a number 5"),
        (  # the SDK's schema for `__else__` holds a bare "null", on which jsonschema crashed
            {"stream_maps": {"task_events": {"__else__": "1/0"}}},
            '`stream_maps.task_events.__else__` must be "__NULL__" or null, not a string "1/0"',
        ),
        (  # the SDK reads -1 as unset, and says the depth is required
            {"flattening_enabled": True, "flattening_max_depth": -1},
            "`flattening_max_depth` must be a whole number of at least 0, not a number -1",
        ),
        # What the stream maps make of the streams (a discovery had offered a catalog for them).
        ({"stream_maps": {"__else__": None}}, "`stream_maps` remove every selected stream"),
        (
            {"stream_maps": {"tasks": {"__alias__": "t"}, "task_statuses": {"__alias__": "t"}}},
            "`stream_maps` send task_statuses and tasks to one table as `t`",
        ),
        ({"stream_maps": {"tasks": {"x": "((("}}}, "`stream_maps.tasks.x`: an expression failed"),
    ],
)
@pytest.mark.parametrize("command", [(), ("--discover",)])
def test_a_setting_that_cannot_work_is_one_line_naming_it_in_a_sync_and_a_discovery(
    config: dict[str, t.Any], expected: str, command: tuple[str, ...]
) -> None:
    run = run_cli({"api_key": "k", "api_url": "http://127.0.0.1:9/x", **config}, None, *command)

    assert run.returncode == 1
    assert run.stdout == ""  # no catalog for a config a sync would refuse
    error = one_clear_error(run.stderr)  # one line: no "Config validation failed" after it
    assert expected in error
    assert "hunter2" not in run.stderr
    assert "Unexpected" not in run.stderr


def test_discovery_without_settings_is_an_empty_catalog_saying_what_enables_streams() -> None:
    run = tap_aphex_process("--discover")  # not `run_command`: a catalog is one JSON document

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"streams": []}
    infos = log_lines(run.stderr, "INFO")
    assert "No `api_key` set: skipping the task_events, tasks and task_statuses streams." in infos
    assert "No `projects` set: skipping the published-plans streams." in infos


def test_a_discovery_whose_reader_went_away_says_nothing_of_state() -> None:
    # As `tap-aphex --discover | head` once head has what it wants.
    result = with_output_closed([sys.executable, "-m", "tap_aphex", "--discover"])

    assert result.returncode == 1
    error = one_clear_error(result.stderr)
    assert error == "Output closed by its reader (broken pipe): stopped."
    assert "STATE" not in result.stderr


def test_about_on_a_buffered_stdout_whose_reader_went_away_is_one_line() -> None:
    # The SDK ends `--about` with `sys.exit(0)`, its text still in stdout's buffer: flushed at
    # Python's exit, it failed with a traceback. `-E`: no PYTHONUNBUFFERED, which hid it.
    result = with_output_closed([sys.executable, "-E", "-m", "tap_aphex", "--about"])

    assert result.returncode == 1
    assert one_clear_error(result.stderr) == "Output closed by its reader (broken pipe): stopped."


CATALOGS_AND_STATES = [
    ("--catalog", {"streams": 5}, "The catalog file {path} is not a catalog the tap can use: "),
    ("--catalog", {"streams": [5]}, "`streams[0]` must be an object, not a number."),
    (
        "--catalog",
        {"streams": [{"tap_stream_id": "task_events", "schema": {}, "replication_key": 5}]},
        "stream `task_events`'s `replication_key` must be a string or null, not a number",
    ),
    ("--catalog", {"streams": [{}]}, "`streams[0]`: missing required field `tap_stream_id`"),
    (
        "--catalog",
        {"streams": [{"tap_stream_id": "tasks", "schema": {}, "metadata": [{"breadcrumb": "x"}]}]},
        "stream `tasks`'s `metadata[0].breadcrumb` must be an array, not a string",
    ),
    (
        "--catalog",
        {"streams": [{"tap_stream_id": "task_events", "metadata": 5}]},
        "stream `task_events`'s `metadata` must be an array, not a number",
    ),
    # A selection that is not a JSON boolean: the SDK would take the string "false" as selected.
    (
        "--catalog",
        {
            "streams": [
                {
                    "tap_stream_id": "task_events",
                    "metadata": [{"breadcrumb": [], "metadata": {"selected": "false"}}],
                }
            ]
        },
        "stream `task_events`'s `metadata[0].metadata.selected` must be a boolean, not a string",
    ),
    (
        "--catalog",
        {
            "streams": [
                {
                    "tap_stream_id": "tasks",
                    "metadata": [
                        {"breadcrumb": [], "metadata": {"selected": True}},
                        {
                            "breadcrumb": ["properties", "id"],
                            "metadata": {"selected-by-default": 0},
                        },
                    ],
                }
            ]
        },
        "stream `tasks`'s `metadata[1].metadata.selected-by-default` must be a boolean, not a "
        "number",
    ),
    (
        "--state",
        {"bookmarks": {"published_plans": {"partitions": "x"}}},
        "The state file {path} cannot be used (in the bookmark of `published_plans`, `partitions` "
        "must be an array, not a string)",
    ),
    (
        "--state",
        {"bookmarks": {"published_plans": {"partitions": [{"context": 5}]}}},
        "in the bookmark of `published_plans`, `partitions[0].context` must be an object, not a "
        "number",
    ),
    (  # a partition without its context: the SDK reads every partition's
        "--state",
        {"bookmarks": {"published_plans": {"partitions": [{"replication_key_value": "x"}]}}},
        "the bookmark of `published_plans` has a partition without a `context`",
    ),
    (  # one project's partition twice: the SDK refuses such a state, quoting it
        "--state",
        {
            "bookmarks": {
                "published_plans": {
                    "partitions": [
                        {"context": {"accountId": "a1"}},
                        {"context": {"accountId": "a1"}},
                    ]
                }
            }
        },
        "the bookmark of `published_plans` has two partitions of one `context`",
    ),
    # States a user may pass by mistake: none holds the bookmarks where the tap reads them, and
    # reading from the first event instead would send the whole log again.
    (
        "--state",
        {"type": "STATE", "value": {"bookmarks": {"task_events": {}}}},
        "(it is a STATE message: pass its `value`, e.g. `jq .value`)",
    ),
    (
        "--state",
        {"singer_state": {"bookmarks": {"task_events": {}}}},
        "(it is Meltano's wrapper (from `meltano state get`): pass its `singer_state`)",
    ),
    ("--state", {"bookmark": {"task_events": {}}}, "(it has no `bookmarks`, only `bookmark`)"),
    ("--state", {"bookmarks": []}, "(`bookmarks` must be an object)"),
    (
        "--state",
        {"bookmarks": {"task_event": {"replication_key_value": "e1"}}},
        "(it has a bookmark for `task_event`, which is no stream of this tap (its streams: "
        "task_events, tasks, task_statuses, published_plans, published_plan_tasks, "
        "published_plan_statuses))",
    ),
]


@pytest.mark.parametrize(("option", "content", "expected"), CATALOGS_AND_STATES)
def test_a_catalog_or_state_of_a_shape_the_tap_cannot_use_is_one_line_naming_it(
    tmp_path: Path, option: str, content: dict[str, t.Any], expected: str
) -> None:
    config, path = tmp_path / "config.json", tmp_path / "file.json"
    config.write_text(json.dumps({"api_key": "k", "api_url": "http://127.0.0.1:9/x"}))
    path.write_text(json.dumps(content))

    run = run_command("--config", str(config), option, str(path))

    assert run.returncode == 1
    assert expected.format(path=path) in one_clear_error(run.stderr)
    assert "Unexpected" not in run.stderr


def test_a_catalog_stream_the_tap_does_not_have_is_warned_about_not_skipped_unsaid(
    tmp_path: Path,
) -> None:
    config, path = tmp_path / "config.json", tmp_path / "catalog.json"
    config.write_text(json.dumps({"api_key": "k", "api_url": "http://127.0.0.1:9/x"}))
    path.write_text(json.dumps({"streams": [{"tap_stream_id": "task_event", "schema": {}}]}))

    run = run_command("--config", str(config), "--catalog", str(path))

    assert run.returncode == 0, run.stderr  # nothing else selected: nothing to read
    assert f"The catalog file {path} names a stream this tap does not have, `task_event`" in (
        run.stderr
    )


@pytest.mark.parametrize("state", [[], "", 0])
def test_a_state_given_in_code_that_is_no_object_is_refused_even_when_empty(state: object) -> None:
    with pytest.raises(ConfigError, match=r"`bookmarks` must be an object"):
        TapAphex(config={}, state=state)  # type: ignore[arg-type]


def test_a_key_with_a_trailing_newline_is_refused_without_showing_it() -> None:
    key = "0123456789abcdef-key"

    run = run_cli({"api_key": key + "\n", "api_url": "http://127.0.0.1:9/x", "page_sise": 10})

    assert run.returncode != 0
    assert "`api_key` has spaces or a line break around it" in one_clear_error(run.stderr)
    assert "Unknown setting `page_sise` is ignored; did you mean `page_size`?" in run.stderr
    assert key not in run.stderr + run.stdout


def test_credentials_in_urls_are_refused_without_showing_them_even_at_debug() -> None:
    secret = "p4ssw0rd-in-a-url"
    config = {
        "api_key": "k",
        "api_url": f"https://me:{secret}@example.com/apiTaskEventsV2",
        "projects": [{"url": f"https://app.aphex.co/power-bi/v1/acc?token={secret}", "token": "t"}],
    }

    run = run_cli(config, env={"LOGLEVEL": "DEBUG"})

    assert run.returncode != 0
    assert "`api_url` carries a user name or password" in run.stderr
    assert "`projects[0].url` carries a query string" in run.stderr
    assert "https://app.aphex.co/power-bi/v1/acc)" in run.stderr  # shown without them
    assert secret not in run.stderr + run.stdout
    assert "Traceback" not in run.stderr


def test_a_usage_error_is_one_line() -> None:
    run = run_command("--no-such-option")

    assert run.returncode == 2
    assert one_clear_error(run.stderr).startswith("No such option")


def new_organisation() -> Simulator:
    """Events and two projects, with credentials worth hiding."""
    return Simulator(seed=5, events=1_200, page_size=400, daily_quota=None, plan_projects=2)


@pytest.fixture
def organisation() -> t.Iterator[Simulator]:
    """A `new_organisation` for each test."""
    with new_organisation() as sim:
        yield sim


@pytest.fixture(scope="module")
def plain_run() -> t.Iterator[tuple[Simulator, TapRun]]:
    """`tap-aphex --config FILE` on an organisation, shared by the tests that read that same run
    (each made it on its own before); the simulator is only read after."""
    with new_organisation() as sim:
        yield sim, run_cli(full_config(sim))


def full_config(sim: Simulator) -> dict[str, t.Any]:
    projects = [{"url": p.url, "token": p.token} for p in sim.plan_projects]
    return events_config(sim, projects=projects)


def test_at_debug_no_key_token_or_query_value_reaches_the_output(organisation: Simulator) -> None:
    run = run_cli(full_config(organisation), env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 0, run.stderr
    assert "urllib3.connectionpool" in run.stderr  # DEBUG lines, URLs included, were written
    output = run.stderr + run.stdout
    for secret in [organisation.api_key, *(p.token for p in organisation.plan_projects)]:
        assert secret not in output
    queries = re.findall(r"\?([^\s\"']+)", run.stderr)
    assert queries  # the request lines carry their query, without values
    assert all(set(re.findall(r"=([^&]*)", query)) == {"…"} for query in queries), queries


def test_a_normal_run_tells_its_story_in_a_few_lines(plain_run: tuple[Simulator, TapRun]) -> None:
    _, run = plain_run

    assert run.returncode == 0, run.stderr
    lines = run.stderr.strip().splitlines()
    assert "Summary: task_events: 1,200 records sent" in run.stderr
    assert not [line for line in lines if "METRIC" in line or "Beginning sync" in line]
    assert "Stream is assumed to be unsorted" not in run.stderr
    assert len(lines) <= 30, run.stderr


def test_metric_lines_come_back_with_metrics_log_level_info(organisation: Simulator) -> None:
    run = run_cli(events_config(organisation, metrics_log_level="INFO"))

    assert run.returncode == 0, run.stderr
    assert any(line.startswith("METRIC: ") for line in log_lines(run.stderr, "INFO"))


def test_the_connection_test_passes_quietly_on_a_good_config(organisation: Simulator) -> None:
    run = run_cli(full_config(organisation), None, "--test")

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "ERROR") == []
    assert (
        "Connection test passed: the Data API served its first event, every project answered."
        in run.stderr
    )
    # Every project was asked once, for one version: no download of whole documents.
    projects = sorted(urlsplit(p.url).path for p in organisation.plan_projects)
    asked = [r for r in organisation.requests if r.path in projects]
    assert sorted(r.path for r in asked) == projects
    assert {r.query.get("limit") for r in asked} == {"1"}
    for project in organisation.plan_projects:  # and each answer is said
        assert f"Connection test: project {project.url} answered." in run.stderr


def test_the_connection_test_reads_from_the_states_bookmark_as_a_sync_would(
    organisation: Simulator,
) -> None:
    # Its STATE then points past the one record it sent: piped to a target, no bookmark goes back.
    # (`--test` comes before `--state` here: click has not read the state when `--test` is seen.)
    events = organisation.event_log.events
    mark = {"replication_key": "eventId", "replication_key_value": events[99]["eventId"]}
    state = {"bookmarks": {name: mark for name in ("task_events", "tasks", "task_statuses")}}

    run = run_cli(events_config(organisation), state, "--test")

    assert run.returncode == 0, run.stderr
    assert organisation.requests[0].query["startAfter"] == events[99]["eventId"]
    sent = [record["eventId"] for record in run.records("task_events")]
    assert sent == [events[100]["eventId"]]
    assert "Connection test passed: the Data API served an event." in run.stderr


@pytest.mark.parametrize(
    "given",
    [
        ["--test", "--catalog", "{catalog}"],
        # Click would open it before `--test` runs, when it comes first: missing, or a folder.
        ["--catalog", "{folder}/missing.json", "--test"],
        ["--catalog={folder}", "--test"],
    ],
)
def test_the_connection_test_says_that_it_does_not_read_a_catalog(
    organisation: Simulator, tmp_path: Path, given: list[str]
) -> None:
    config = full_config(organisation)
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps(selecting(config, ["published_plans"])))
    args = [arg.format(catalog=catalog, folder=tmp_path) for arg in given]

    run = run_cli(config, None, *args)

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == []  # nothing is lost: said at INFO
    assert "`--catalog` is not read by `--test`, which tests every stream." in log_lines(
        run.stderr, "INFO"
    )
    assert "Connection test passed: the Data API served its first event" in run.stderr


@pytest.mark.parametrize(
    "maps",
    [{"task_events": None}, {"task_events": {"__filter__": "False"}, "tasks": None}],
)
def test_the_connection_test_judges_the_api_not_what_the_stream_maps_let_through(
    organisation: Simulator, maps: dict[str, t.Any]
) -> None:
    # It had said "its log holds no event yet" of a log of events the maps dropped.
    run = run_cli({**full_config(organisation), "stream_maps": maps}, None, "--test")

    assert run.returncode == 0, run.stderr
    assert "Connection test passed: the Data API served its first event" in run.stderr


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--test", "--discover"], "`--test` and `--discover`"),
        (["--discover", "--test=schema"], "`--discover` and `--test=schema`"),
        (["--about", "--test"], "`--about` and `--test`"),
        (["--discover", "--about"], "`--discover` and `--about`"),
        (["--test", "--test=schema"], "`--test` and `--test=schema`"),
        (["--test", "schema", "--about"], "`--test=schema` and `--about`"),
        (["--test", "--test=disabled"], "`--test` and `--test=disabled`"),
    ],
)
def test_two_commands_given_together_are_refused_whatever_their_order(
    organisation: Simulator, args: list[str], named: str
) -> None:
    # Click would run the one it reads first alone, and say nothing of the other.
    run = run_cli(events_config(organisation), None, *args)

    assert run.returncode == 1
    assert log_lines(run.stderr, "ERROR") == [f"{named} are separate commands: give one of them."]
    assert (run.stdout, organisation.requests) == ("", [])


def test_a_refusal_naming_a_file_with_a_line_break_in_its_name_is_one_line(
    organisation: Simulator, tmp_path: Path
) -> None:
    state = tmp_path / "copied\nname.json"
    state.write_text('{"bookmarks": {"task_events": {"replication_key": "eventId"}}}')
    config = tmp_path / "config.json"
    config.write_text(json.dumps(events_config(organisation)))

    run = run_command("--config", str(config), "--state", str(state))

    assert run.returncode == 1
    (error,) = log_lines(run.stderr, "ERROR")
    assert error.startswith(f"The state file {tmp_path}/copied\\nname.json cannot be used: ")
    assert run.stderr.count("\n") == 2  # the version line and the error, each whole


@pytest.mark.parametrize(
    ("args", "commands"),
    [
        (["--test=disabled"], []),
        (["--test", "--test=disabled"], ["--test", "--test=disabled"]),  # refused: two values
        (["--test", "disabled", "--discover"], ["--discover"]),
        (["--config", "--test", "--discover"], ["--discover"]),  # a file named `--test`
        (["--test=all", "--state", "s.json"], ["--test"]),
        (["--about", "--format", "json"], ["--about"]),
        (["--about", "--", "--discover"], ["--about"]),  # after `--`: arguments, no options
        (["--discover", "--help"], ["--help"]),  # click's help, whatever else is given
    ],
)
def test_commands_are_told_apart_from_values_and_disabled_tests(
    args: list[str], commands: list[str]
) -> None:
    # A sync (`--test=disabled`) keeps its words on where the next run resumes.
    assert commands_given(args) == commands


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--discover"], "`--catalog` is not read by `--discover`, which describes every stream."),
        (["--test=schema"], "`--state` and `--catalog` are not read by `--test=schema`, which"),
    ],
)
def test_a_command_says_which_files_it_does_not_read(
    organisation: Simulator, tmp_path: Path, args: list[str], said: str
) -> None:
    config, state = tmp_path / "config.json", tmp_path / "state.json"
    config.write_text(json.dumps(events_config(organisation)))
    state.write_text("{}")
    given = ["--config", str(config), "--state", str(state), "--catalog", str(state)]

    run = tap_aphex_process(*args, *given)

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == []  # nothing is lost: said at INFO
    assert [line for line in log_lines(run.stderr, "INFO") if line.startswith(said)]


ABOUT_SAID = "`--state` is not read by `--about`, which describes the tap."
FORMAT_SAID = "`--format` is read only by `--about`."


@pytest.mark.parametrize(
    ("command", "unread", "said"),
    [
        (["--about"], ["--state", "{folder}/missing.json"], ABOUT_SAID),
        (["--about"], ["--catalog={folder}"], ABOUT_SAID.replace("state", "catalog")),
        (["--about"], ["--state=x", "--catalog", "{folder}"], "`--state` and `--catalog` are not"),
        (["--test=schema"], ["--state", "{folder}/missing.json"], "`--state` is not read by"),
        (["--discover"], ["--catalog={folder}/missing.json"], "`--catalog` is not read by"),
        (["--discover"], ["--format=xml"], FORMAT_SAID),
        (["--test", "schema"], ["--format", "markdown"], FORMAT_SAID),
        (["--discover"], ["--format", "xml", "--catalog", "x"], "`--catalog` is not read by"),
        # No word (`_UNSAID`): Meltano passes its config, and its state, to every command.
        (["--discover"], ["--state", "{folder}/missing.json"], None),
        (["--about", "--format=json"], ["--config={folder}/missing.json"], None),
        (["--version"], ["--config", "{folder}", "--state", "x"], None),
        (["--help"], ["--config={folder}/missing.json"], None),
    ],
)
def test_an_option_a_command_does_not_read_is_said_at_most_once_and_never_checked(
    organisation: Simulator, tmp_path: Path, command: list[str], unread: list[str], said: str | None
) -> None:
    # Before the command, click would check it (open the file, match the format) and fail the
    # run; after it, it would not: the command runs as it does without it, whatever it holds.
    config = tmp_path / "config.json"
    config.write_text(json.dumps(full_config(organisation)))
    args = [arg.format(folder=tmp_path) for arg in unread]

    run = tap_aphex_process(*args, "--config", str(config), *command)
    without = tap_aphex_process("--config", str(config), *command)

    assert run.returncode == 0, run.stderr
    assert (run.stdout, without.returncode) == (without.stdout, 0)
    assert log_lines(run.stderr, "ERROR") == []
    # A `--format` is a mistake (WARNING); a file, what `meltano invoke` passes (INFO).
    level = "WARNING" if said == FORMAT_SAID else "INFO"
    lines = [line for line in log_lines(run.stderr, level) if "read" in line and "`--" in line]
    assert len(lines) == (0 if said is None else 1), run.stderr
    assert said is None or lines[0].startswith(said)
    format_unread = any(arg.startswith("--format") for arg in unread) and "--about" not in command
    assert log_lines(run.stderr, "WARNING") == ([FORMAT_SAID] if format_unread else [])


def test_a_discovery_says_of_each_unread_option_once(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"api_key": "k"}')  # a discovery sends no request

    run = tap_aphex_process("--format=xml", "--config", str(config), "--discover", "--catalog", "x")

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == [FORMAT_SAID]
    assert "`--catalog` is not read by `--discover`, which describes every stream." in log_lines(
        run.stderr, "INFO"
    )


def test_a_sync_says_that_it_does_not_read_a_format(organisation: Simulator) -> None:
    run = run_cli(full_config(organisation), None, "--format", "markdown")

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == [FORMAT_SAID]
    assert run.records("task_events")


def test_the_last_line_stays_readable_whatever_the_length_of_a_files_name(tmp_path: Path) -> None:
    folder = tmp_path.joinpath(*["d" * 200] * 15)  # a path of over 3,000 characters
    folder.mkdir(parents=True)
    (folder / "state.json").write_text("x")
    config = tmp_path / "config.json"
    config.write_text('{"api_key": "k"}')

    run = run_command("--config", str(config), "--state", str(folder / "state.json"))

    (error,) = log_lines(run.stderr, "ERROR")
    assert error.startswith("The state file ")
    assert len(error) == 2_000
    assert error.endswith("…")


def test_a_discovery_with_a_state_as_meltano_runs_it_says_nothing_of_it(
    organisation: Simulator, tmp_path: Path
) -> None:
    # Meltano passes its state to every discovery of an incremental run: a word each run is noise.
    config, state = tmp_path / "config.json", tmp_path / "state.json"
    config.write_text(json.dumps(events_config(organisation)))
    state.write_text("{}")

    run = tap_aphex_process("--config", str(config), "--discover", "--state", str(state))

    assert run.returncode == 0, run.stderr
    assert log_lines(run.stderr, "WARNING") == []


def test_a_key_in_a_files_name_is_hidden_though_the_file_is_read_first(tmp_path: Path) -> None:
    key = "Zk93hQx7LmP2vR8tW4yB"
    config, state = tmp_path / "config.json", tmp_path / f"{key}.json"
    config.write_text(json.dumps({"api_key": key}))
    state.write_text("x")

    runs = [
        run_command("--config", str(config), "--state", str(state)),
        run_command("--config", "ENV", "--state", str(state), env={"TAP_APHEX_API_KEY": key}),
        # The file's key stays hidden beside variables that hold none.
        run_command(
            "--config",
            str(config),
            "--config",
            "ENV",
            "--state",
            str(state),
            env={"TAP_APHEX_PAGE_SIZE": "500"},
        ),
    ]

    for run in runs:
        assert run.returncode == 1
        assert "is not JSON" in log_lines(run.stderr, "ERROR")[-1]
        assert key not in run.stderr

    # A state the tap reads, then refuses: the variable's key is hidden as the tap is made too.
    state.write_text('{"bookmarks": {"task_event": {}}}')
    run = run_command("--config", "ENV", "--state", str(state), env={"TAP_APHEX_API_KEY": key})
    assert "cannot be used" in log_lines(run.stderr, "ERROR")[-1]
    assert key not in run.stderr


def test_the_connection_test_refuses_a_state_a_sync_would_refuse(organisation: Simulator) -> None:
    mark = {"replication_key": "eventId", "replication_key_value": " e9"}

    run = run_cli(events_config(organisation), {"bookmarks": {"task_events": mark}}, "--test")

    assert run.returncode == 1
    assert "cannot be used: in the bookmark of task_events" in log_lines(run.stderr, "ERROR")[-1]
    assert organisation.requests == []
    assert run.stdout == ""


def test_the_connection_test_says_why_a_project_answering_500_failed(
    organisation: Simulator,
) -> None:
    failing = organisation.plan_projects[1]
    organisation.set_plan_fault(failing.account_id, "500", 20)

    run = run_cli(full_config(organisation), None, "--test")

    assert run.returncode == 1
    last = log_lines(run.stderr, "ERROR")[-1]
    assert f"project {failing.url}: HTTP 500 Internal Server Error from {failing.url}" in last
    assert "Twice, for one version: the project's server fails." in last
    assert "tell Aphex (hello@aphex.co)" in last


def test_the_connection_test_asks_again_after_a_passing_500(organisation: Simulator) -> None:
    # As a read does: the first 500 may be passing, so the project is asked once more.
    passing = organisation.plan_projects[0]
    organisation.set_plan_fault(passing.account_id, "500", 1)

    run = run_cli(full_config(organisation), None, "--test")

    assert run.returncode == 0, run.stderr
    assert f"Connection test: project {passing.url} answered." in run.stderr


def test_the_connection_test_asks_for_one_event_when_page_size_is_set(
    organisation: Simulator,
) -> None:
    run = run_cli(full_config(organisation) | {"page_size": 400}, None, "--test")

    assert run.returncode == 0, run.stderr
    assert [r.query.get("pageSize") for r in organisation.requests if r.events] == ["1"]
    assert organisation.served_today == 1


def test_the_connection_test_fails_when_a_503_left_the_key_unchecked(
    organisation: Simulator,
) -> None:
    # In a run a 503 is the daily limit's clean stop; in a test, it means nothing was checked.
    organisation.inject_fault("503", 20)

    run = run_cli(full_config(organisation) | {"retry_budget_seconds": 0}, None, "--test")

    assert run.returncode == 1
    last = log_lines(run.stderr, "ERROR")[-1]
    assert last.startswith(
        "the connection test failed: task events: the Data API answered HTTP 503"
    )
    assert "so the key could not be checked: test again later" in last
    assert "next run" not in run.stderr  # a test is no run to resume
    assert "Connection test passed" not in run.stderr


def test_the_connection_test_passes_on_an_empty_log_and_says_so() -> None:
    with Simulator(seed=5, events=0, daily_quota=None, plan_projects=1) as sim:
        run = run_cli(full_config(sim), None, "--test")

    assert run.returncode == 0, run.stderr
    assert (
        "Connection test passed: the Data API answered (its log holds no event yet), every "
        "project answered." in run.stderr
    )
    assert "Reached the end of the log: 0 events read in this run." in run.stderr
    assert "next run" not in run.stderr  # a test is no run to resume


def test_the_connection_test_names_every_failure_not_only_the_first(
    organisation: Simulator,
) -> None:
    config = full_config(organisation) | {"api_key": "wrong-key-of-the-test"}
    for project in config["projects"]:
        project["token"] = "wrong-token-of-the-test"

    run = run_cli(config, None, "--test")

    assert run.returncode == 1
    last = log_lines(run.stderr, "ERROR")[-1]
    assert "The Data API refused the key (HTTP 401)" in last
    for project in organisation.plan_projects:
        assert f"project {project.url}: The Published Plans API refused the token" in last


@pytest.mark.parametrize(
    ("break_it", "expected"),
    [
        (lambda c: c | {"api_key": "wrong"}, "The Data API refused the key (HTTP 401)"),
        (
            lambda c: c | {"projects": [c["projects"][0] | {"token": "wrong"}]},
            "The Published Plans API refused the token",
        ),
        (  # not only the first project is asked
            lambda c: c | {"projects": [c["projects"][0], c["projects"][1] | {"token": "wrong"}]},
            "The Published Plans API refused the token",
        ),
        (
            lambda c: c | {"api_url": "http://127.0.0.1:9/x", "retry_budget_seconds": 0},
            "ConnectionError (no connection) for http://127.0.0.1:9/x after 1 try",
        ),
    ],
)
def test_the_connection_test_fails_with_the_taps_own_words(
    organisation: Simulator,
    break_it: Callable[[dict[str, t.Any]], dict[str, t.Any]],
    expected: str,
) -> None:
    run = run_cli(break_it(full_config(organisation)), None, "--test")

    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    last = log_lines(run.stderr, "ERROR")[-1]
    assert expected in last
    assert last.startswith("the connection test failed: ")
    assert "An unhandled error occurred" not in run.stderr
    # A test delivers nothing and keeps no state: no word of landing or resuming.
    assert "landed" not in run.stderr
    assert "resumes" not in run.stderr


@pytest.mark.parametrize("value", ["schem", "bogus", "", "ALL"])
def test_a_test_the_sdk_does_not_know_is_refused_naming_those_it_does(value: str) -> None:
    # The SDK ran its own connection test for any such value: a wrong key was logged, exit 0.
    run = run_cli({"api_key": "wrong", "api_url": "http://127.0.0.1:9/x"}, None, f"--test={value}")

    assert run.returncode == 2
    assert one_clear_error(run.stderr) == (
        "Invalid value for '--test': must be `all` (as a bare `--test`: one record per stream), "
        f"`schema` (the SCHEMA messages only) or `disabled` (no test), not {value!r}."
    )
    assert "connection" not in run.stderr.lower()  # nothing was asked of the server
    assert not run.messages


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1/0", "(ZeroDivisionError: division by zero)"),
        ("no_such_name", "(MapExpressionError: Failed to evaluate"),
        # One that does not parse is a config problem, refused before any request.
        ("(((", "(MapExpressionError: Failed to parse expression"),
    ],
)
def test_a_stream_map_expression_that_fails_is_one_line_naming_stream_maps(
    long_log: Simulator, expression: str, expected: str
) -> None:
    config = events_config(long_log, stream_maps={"task_events": {"extra": expression}})
    long_log.clear_requests()

    run = run_cli(config)

    assert run.returncode == 1
    error = one_clear_error(run.stderr)
    # Named down to the property, whether it failed to parse or to evaluate.
    config_problem = "parse" in expected
    prefix = "Config: " if config_problem else ""
    assert error.startswith(f"{prefix}`stream_maps.task_events.extra`: an expression failed ")
    assert (long_log.requests == []) == config_problem
    assert expected in error
    assert "Unexpected" not in run.stderr


def test_a_tasks_map_that_fails_for_another_reason_gets_no_word_on_deleted_tasks(
    long_log: Simulator,
) -> None:
    run = run_cli(events_config(long_log, stream_maps={"tasks": {"extra": "1/0"}}))

    assert run.returncode == 1
    error = one_clear_error(run.stderr)
    assert error.endswith("Fix it in the `stream_maps` setting."), error


def test_a_tasks_map_that_fails_says_what_a_deleted_task_holds(long_log: Simulator) -> None:
    # The SDK's own hashing example fails on the first deletion, which carries no ownerEmail.
    config = events_config(long_log, stream_maps={"tasks": {"ownerEmail": "md5(ownerEmail)"}})

    run = run_cli(config)

    assert run.returncode == 1
    assert one_clear_error(run.stderr).endswith(
        "Fix it in the `stream_maps` setting (a deleted task's record holds only `id`, "
        "`_sdc_deleted_at` and the event's: read others by `record.get`)."
    )


def test_a_stream_map_dropping_the_key_names_the_stream_and_what_to_do(
    long_log: Simulator,
) -> None:
    # `__else__: null` drops the key property: the map is refused, no expression failed (the
    # SDK's own words were "Invalid key properties ... 'eventId' was not detected in schema").
    config = events_config(long_log, stream_maps={"task_events": {"__else__": None, "x": "1"}})

    run = run_cli(config)

    assert run.returncode == 1
    assert one_clear_error(run.stderr) == (
        "Config: `stream_maps.task_events` drops the key `eventId` of task_events (by `__else__`): "
        'keep it (`"eventId": "eventId"`), or give `__key_properties__` the fields that key the '
        "records"
    )


def test_one_event_read_is_said_in_the_singular(long_log: Simulator) -> None:
    run = run_cli(events_config(long_log, max_events_per_run=1, page_size=1))

    assert run.returncode == 0, run.stderr
    assert "Stopping after 1 event read in this run" in run.stderr
    assert "1 events" not in run.stderr


@pytest.mark.parametrize(
    ("bookmarks", "expected"),
    [
        (
            [dt.datetime(2025, 11, 28, 15, 48, 1, 88_000, tzinfo=dt.timezone.utc)],
            "after the version published at 2025-11-28T15:48:01.088Z",
        ),
        (
            [dt.datetime(2025, 11, 28, 15, 48, 1, tzinfo=dt.timezone.utc)],
            "after the version published at 2025-11-28T15:48:01.000Z",
        ),
        (
            [dt.datetime(2025, 11, 28, 15, 48, 1, 88_123, tzinfo=dt.timezone.utc)],
            "after the version published at 2025-11-28T15:48:01.088123Z",
        ),
        ([None], "from the start of the history the API keeps"),
    ],
)
def test_resume_words_show_times_as_the_state_holds_them(
    bookmarks: list[dt.datetime | None], expected: str
) -> None:
    assert plan_report.resume_at(bookmarks) == expected


@pytest.fixture
def long_log() -> t.Iterator[Simulator]:
    """Enough small pages that a run is still going when it is interrupted."""
    with Simulator(seed=3, events=3_000, page_size=100, daily_quota=None, plan_projects=0) as sim:
        yield sim


def interrupted_run(
    sim: Simulator, tmp_path: Path, signals: list[signal.Signals]
) -> tuple[int, str, str]:
    """Start a run, send ``signals`` once its third STATE is out; return code, stdout, stderr."""
    return signalled_after_states(events_config(sim), tmp_path, signals)


@pytest.mark.parametrize(
    ("signals", "code", "name"),
    [
        ([signal.SIGINT], 130, "SIGINT"),
        ([signal.SIGTERM], 143, "SIGTERM"),
        ([signal.SIGTERM, signal.SIGTERM], 143, "SIGTERM"),
        ([signal.SIGINT, signal.SIGTERM, signal.SIGINT], 130, "SIGINT"),
    ],
)
def test_an_interrupt_ends_with_one_line_and_the_next_run_resumes_at_the_last_state(
    long_log: Simulator, tmp_path: Path, signals: list[signal.Signals], code: int, name: str
) -> None:
    returncode, stdout, stderr = interrupted_run(long_log, tmp_path, signals)

    assert returncode == code
    assert one_clear_error(stderr) == (
        f"Interrupted ({name}): stopped. The last STATE written is where the next run resumes "
        "(none written: where this one started)."
    )
    # Everything up to the last bookmark was delivered, and the next run starts right after it.
    messages = parse_lenient(stdout)
    states = [m["value"]["bookmarks"] for m in messages if m["type"] == "STATE"]
    # Every STATE, the last one written on the way out included, keeps the two log streams together.
    positions = [
        (s["task_events"]["replication_key_value"], s["tasks"]["replication_key_value"])
        for s in states
    ]
    assert all(events == tasks for events, tasks in positions), positions
    bookmark = states[-1]["task_events"]["replication_key_value"]
    log = [event["eventId"] for event in long_log.event_log.events]
    delivered = [
        m["record"]["eventId"]
        for m in messages
        if m["type"] == "RECORD" and m["stream"] == "task_events"
    ]
    assert delivered[: delivered.index(bookmark) + 1] == log[: log.index(bookmark) + 1]
    last_state = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    second = run_tap(events_config(long_log, max_events_per_run=1), last_state)
    assert [r["eventId"] for r in second.records("task_events")] == [log[log.index(bookmark) + 1]]


def test_signals_until_the_process_is_gone_leave_the_first_ones_exit_status(
    long_log: Simulator, tmp_path: Path
) -> None:
    process = start_cli(events_config(long_log), tmp_path)
    assert process.stdout is not None
    while '"type":"STATE"' not in process.stdout.readline().replace(" ", ""):
        pass
    process.send_signal(signal.SIGINT)
    reader = threading.Thread(target=process.communicate)
    reader.start()
    while process.poll() is None:  # as an impatient runner would, through Python's shutdown
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        time.sleep(0.001)
    reader.join(timeout=60)

    assert process.returncode == 130


def test_a_closed_stdout_ends_with_one_line_and_exit_1(long_log: Simulator, tmp_path: Path) -> None:
    process = start_cli(events_config(long_log), tmp_path)
    assert process.stdout is not None
    process.stdout.readline()  # as `tap-aphex ... | head -1`
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 1
    assert one_clear_error(stderr).startswith("Output closed by its reader (broken pipe)")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="Linux's /dev/full")
@pytest.mark.parametrize("redirect", list(UNWRITABLE_STDOUTS))
@pytest.mark.parametrize("command", [["--config", "CONFIG"], ["--about"], ["--discover"]])
def test_a_stdout_that_cannot_be_written_is_one_line_saying_why(
    simulator: Simulator, tmp_path: Path, redirect: str, command: list[str]
) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(events_config(simulator)))
    args = [str(config) if arg == "CONFIG" else arg for arg in command]
    shell = f'exec "$@" {redirect}'  # as a user's shell leaves it
    done = subprocess.run(
        ["sh", "-c", shell, "sh", sys.executable, "-m", "tap_aphex", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 1
    expected = f"Output cannot be written: {UNWRITABLE_STDOUTS[redirect]}"
    if command[0] == "--config" and redirect == ">/dev/full":  # a sync claims nothing landed
        expected += " The last STATE written in full is where the next run resumes."
    assert one_clear_error(done.stderr) == expected
    assert "Unexpected" not in done.stderr


def test_a_full_file_mid_run_ends_the_run_not_one_project(
    organisation: Simulator, tmp_path: Path
) -> None:
    # The file may grow to 40 kB (`ulimit -f`): the first project's versions stop mid-way. Its
    # download's own failures end that project only; the output's ends the run, said once.
    config = tmp_path / "config.json"
    projects = [{"url": p.url, "token": p.token} for p in organisation.plan_projects]
    config.write_text(json.dumps({"projects": projects}))
    output = tmp_path / "out.jsonl"
    limit = 40_000

    def small_files() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with output.open("wb") as out:
        done = subprocess.run(
            [sys.executable, "-m", "tap_aphex", "--config", str(config)],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
            preexec_fn=small_files,
        )

    assert done.returncode == 1
    assert one_clear_error(done.stderr) == (
        "Output cannot be written: the file stdout writes to has reached the largest size "
        "allowed: stopped. The last STATE written in full is where the next run resumes."
    )
    assert 0 < output.stat().st_size <= limit  # versions went out before it filled


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_a_slow_reader_holds_the_output_leaves_only_whole_lines(
    tmp_path: Path, signum: signal.Signals
) -> None:
    with Simulator(seed=3, events=5_000, page_size=4_000, daily_quota=None, plan_projects=0) as sim:
        process = start_cli(events_config(sim), tmp_path)
        wait_until_writing_to_a_full_pipe(process)  # nothing read: the pipe is full
        process.send_signal(signum)
        time.sleep(0.5)  # a slow reader: the signal has arrived well before it reads again

        stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 128 + signum
    assert one_clear_error(stderr).startswith(f"Interrupted ({signum.name}): stopped.")
    assert "not being read" not in stderr  # the line went out in time: no giving up on it
    assert stdout.endswith("\n")
    messages = parse_messages(stdout)  # every line whole: a target can read them all
    assert messages[-1]["type"] in ("RECORD", "STATE")


@pytest.mark.parametrize("signum", [signal.SIGTERM])  # SIGINT's way: test_signals.py
def test_a_signal_while_the_reader_has_stopped_reading_stops_the_tap_within_the_wait(
    tmp_path: Path, signum: signal.Signals
) -> None:
    # A target that stalls for good: the line being written never goes out, so the tap gives it
    # `GIVE_UP_AFTER` and then ends as the signal asks, rather than when the reader goes away.
    with Simulator(seed=3, events=5_000, page_size=4_000, daily_quota=None, plan_projects=0) as sim:
        process = start_cli(events_config(sim), tmp_path)
        wait_until_writing_to_a_full_pipe(process)
        waited, stderr = signalled(process, signum, within=signals.GIVE_UP_AFTER + 10)

    assert process.returncode == 128 + signum
    assert signals.GIVE_UP_AFTER - 0.5 <= waited <= signals.GIVE_UP_AFTER + 5
    assert one_clear_error(stderr).startswith(
        f"Interrupted ({signum.name}): stopped. The output was not being read, so its last line "
        "may be cut; the last STATE the reader received is where the next run resumes."
    )
    assert log_lines(stderr.splitlines()[-1], "ERROR")  # the last line it wrote


def parse_lenient(text: str) -> list[dict[str, t.Any]]:
    """The whole lines of an interrupted run's output (its last line may be cut short)."""
    lines = text.splitlines()
    return parse_messages("\n".join(line for line in lines if line.endswith("}")))


@pytest.mark.parametrize(
    ("stops", "records", "expected"),
    [
        (
            {"task_events": (StopReason.END_OF_LOG, "after event e9")},
            {"task_events": 1200, "tasks": 900},
            [
                "task_events: 1,200 records sent; stopped: end of the log; "
                "the next run resumes after event e9",
                "tasks: 900 records sent",
            ],
        ),
        (
            {"published_plans": (StopReason.FAILURE, None)},
            {},
            ["published_plans: 0 records sent; stopped: failure"],
        ),
        ({}, {}, ["nothing was selected, or nothing was new"]),
    ],
)
def test_the_closing_summary_says_per_stream_what_was_sent_and_where_it_resumes(
    stops: dict[str, tuple[StopReason, str | None]], records: dict[str, int], expected: list[str]
) -> None:
    report = RunReport()
    for stream, (reason, resume_at) in stops.items():
        report.stopped(stream, reason, resume_at)
    report.records_sent.update(records)

    assert report.summary() == expected


def test_a_project_is_summed_up_by_how_it_ended_its_records_by_their_stream() -> None:
    report = RunReport()
    report.records_sent.update({"published_plans": 26})
    report.stopped("published_plans", StopReason.UP_TO_DATE, "after X", part="Riverside Tower")

    assert report.summary() == [
        "published_plans: 26 records sent",
        "published_plans (Riverside Tower): stopped: up to date; the next run resumes after X",
    ]


def test_a_setting_set_to_null_is_not_set_its_default_holds(
    plain_run: tuple[Simulator, TapRun],
) -> None:
    # Every setting the schema allows to be null (all but the credentials), set to null.
    properties = TapAphex.config_jsonschema["properties"]
    nulls = {name: None for name in properties if name not in {"api_key", "projects", "api_url"}}
    organisation, plain = plain_run
    nulled = run_cli(full_config(organisation) | nulls)

    assert nulled.returncode == plain.returncode == 0, nulled.stderr
    assert log_lines(nulled.stderr, "WARNING") == log_lines(plain.stderr, "WARNING")
    for stream in ("task_events", "published_plans", "published_plan_tasks"):
        assert len(nulled.records(stream)) == len(plain.records(stream)) > 0


@pytest.mark.parametrize(
    ("variable", "value", "env"),
    [
        ("LOGLEVEL", "bogus", {}),
        ("TAP_APHEX_LOGLEVEL", "5", {}),
        ("LOGLEVEL", "", {}),  # the SDK fails on it: `Unknown level: ''`
        # An empty TAP_APHEX_LOGLEVEL is unset to the SDK, which reads LOGLEVEL instead.
        ("LOGLEVEL", "", {"TAP_APHEX_LOGLEVEL": ""}),
        ("LOGLEVEL", "bogus", {"TAP_APHEX_LOGLEVEL": ""}),
        ("LOGLEVEL", "verbose", {}),
    ],
)
def test_a_log_level_that_is_no_level_is_one_line_naming_the_variable(
    variable: str, value: str, env: dict[str, str]
) -> None:
    run = run_command("--discover", env={"LOGLEVEL": "", **env, variable: value})

    assert run.returncode == 1
    assert run.stderr.strip() == (
        f"Config: `{variable}` must be DEBUG, INFO, WARNING or ERROR (or unset: INFO), not "
        f"{json.dumps(value)}."
    )


@pytest.mark.parametrize("args", [["--discover", "--format"], ["--test=schema", "--state"]])
def test_an_option_at_the_end_of_the_line_without_its_value_is_refused(
    organisation: Simulator, args: list[str]
) -> None:
    run = run_cli(full_config(organisation), None, *args)

    assert run.returncode == 2
    assert run.stdout == ""
    assert log_lines(run.stderr, "ERROR") == [
        f"`{args[-1]}` has no value (it ends the line): give its value, or leave it out."
    ]


@pytest.mark.parametrize(
    "args",
    [
        ["--format", "--discover"],  # was a sync: `--discover` read as the format, then dropped
        ["--about", "--state", "--format=markdown"],
        ["--config", "--test"],
        ["--catalog", "--about"],
    ],
)
def test_an_option_whose_value_was_left_out_is_refused_before_anything_runs(
    organisation: Simulator, args: list[str]
) -> None:
    run = run_cli(full_config(organisation), None, *args)

    assert run.returncode == 2
    assert run.stdout == ""
    (line,) = log_lines(run.stderr, "ERROR")
    assert line == (
        f"`{args[-2]}` has no value (`{args[-1]}` follows it): give its value, or leave it out "
        f"(a value that starts with `--`: `{args[-2]}={args[-1]}`)."
    )


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["--discover", "junk"], "argument (junk)"),  # was a discovery: its callback runs first
        (["--discover", "--", "junk"], "argument (junk)"),
        (["--test", "schema", "--", "a", "--b"], "arguments (a --b)"),
        (["--test=schema", "junk"], "argument (junk)"),
        (["--", "junk"], "argument (junk)"),
        (["--about", "--", "--discover"], "argument (--discover)"),
        (["--", "--help"], "argument (--help)"),  # after `--`: an argument, not the help
    ],
)
def test_an_argument_is_refused_before_any_command_runs(
    organisation: Simulator, args: list[str], extra: str
) -> None:
    run = run_cli(full_config(organisation), None, *args)

    assert run.returncode == 2
    assert run.stdout == ""
    assert log_lines(run.stderr, "ERROR") == [f"Got unexpected extra {extra}"]
    assert organisation.requests == []


@pytest.mark.parametrize("variable", ["LOGLEVEL", "TAP_APHEX_LOGLEVEL"])
def test_a_key_set_as_the_log_level_is_never_shown(variable: str, tmp_path: Path) -> None:
    # Read before any config, so before the key is known to be one: a long value goes unquoted.
    key = "simulator-key-abcdef"
    env = {"LOGLEVEL": "", "TAP_APHEX_API_KEY": key, variable: key}
    run = run_command("--config", "ENV", env=env)

    assert run.returncode == 1
    assert key[:8] not in run.stderr
    assert run.stderr.strip() == (
        f"Config: `{variable}` must be DEBUG, INFO, WARNING or ERROR (or unset: INFO), not a "
        "20-character text."
    )


def discovery(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`tap-aphex --discover` with no config (an empty catalog) and ``env``: one JSON document."""
    return tap_aphex_process("--discover", env=env)


def test_an_empty_tap_log_level_is_unset_as_the_sdk_reads_it() -> None:
    run = discovery({"TAP_APHEX_LOGLEVEL": "", "LOGLEVEL": "WARNING"})

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"streams": []}
    assert log_lines(run.stderr, "INFO") == []  # LOGLEVEL's WARNING holds


LOG_CONFIGS: dict[str, tuple[Callable[[Path], str], str]] = {
    "empty": (lambda _: "", "SINGER_SDK_LOG_CONFIG='': it is set but empty."),
    "a directory": (lambda folder: str(folder), "it names a directory, not a file."),
    "not YAML": (
        lambda folder: _written(folder / "log.yaml", "a: [\n"),
        "the file is not valid YAML (expected the node content, but found '<stream end>' at "
        "line 2).",
    ),
    "no logging config": (
        lambda folder: _written(folder / "log.yaml", "foo: bar\n"),
        "the file is not a logging config Python's logging.config.dictConfig accepts "
        "(ValueError: dictionary doesn't specify a version).",
    ),
    "an empty file": (
        lambda folder: _written(folder / "log.yaml", ""),
        "is not a logging config Python's logging.config.dictConfig accepts (TypeError",
    ),
}


def _written(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("case", LOG_CONFIGS)
def test_a_log_config_file_the_sdk_cannot_use_is_one_line_naming_the_variable(
    tmp_path: Path, case: str
) -> None:
    make, expected = LOG_CONFIGS[case]
    run = run_command("--discover", env={"SINGER_SDK_LOG_CONFIG": make(tmp_path)})

    assert run.returncode == 1
    assert run.stdout == ""
    error = one_clear_error(run.stderr)
    assert error.startswith("SINGER_SDK_LOG_CONFIG="), error
    assert expected in error
    assert error.endswith("Point it at a YAML logging config file, or unset it.")


@pytest.mark.parametrize(
    "handler",
    [
        "{class: logging.StreamHandler, stream: ext://sys.stdout}",
        "{class: logging.FileHandler, filename: /dev/stdout}",  # the same pipe, opened anew
        "{class: logging.FileHandler, filename: /dev/stdout, delay: true}",  # opened at its first
    ],
)
@pytest.mark.parametrize("command", [("--discover",), ("--about",), ()])
def test_a_log_config_writing_to_stdout_is_refused_before_any_line_reaches_it(
    tmp_path: Path, command: tuple[str, ...], handler: str
) -> None:
    handler = f"handlers: {{out: {handler}}}"
    log_config = _written(
        tmp_path / "log.yaml", f"version: 1\n{handler}\nroot: {{handlers: [out]}}\n"
    )
    config = _written(
        tmp_path / "config.json", '{"api_key": "k", "api_url": "http://127.0.0.1:9/"}'
    )

    run = run_command(*command, "--config", config, env={"SINGER_SDK_LOG_CONFIG": log_config})

    assert run.returncode == 1
    assert run.stdout == ""  # a target would have read log lines as messages
    assert run.stderr.strip() == (
        f"SINGER_SDK_LOG_CONFIG={log_config!r} sends the root logger's lines to stdout, where the "
        "tap writes its messages: send them to stderr (ext://sys.stderr) or a file."
    )


def test_a_log_config_file_that_does_not_exist_is_a_warning_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "logging.yaml"
    run = discovery({"SINGER_SDK_LOG_CONFIG": str(missing)})

    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"streams": []}
    assert f"Logging config file not found: {missing}" in log_lines(run.stderr, "WARNING")


def test_several_config_problems_read_as_one_sentence() -> None:
    run = run_cli({"api_key": "", "start_after": ""})

    error = one_clear_error(run.stderr)
    assert run.returncode == 1
    assert error.startswith("Config: `api_key` is empty; set it as Aphex shows it; "), error
    assert ".;" not in error
    assert error.endswith(".")


def test_a_failure_before_a_stream_map_error_ends_the_run_is_said_again_before_its_last_line() -> (
    None
):
    with Simulator(seed=4, events=50, daily_quota=None, plan_projects=1, history_weeks=2) as sim:
        (project,) = sim.plan_projects
        config = {
            **events_config(sim),
            # Published plans go first: this project fails, and the run goes on...
            "projects": [{"url": project.url + "x", "token": project.token, "name": "Typo"}],
            "stream_maps": {"task_events": {"x": "1/0"}},  # ...until this ends the whole run
        }

        run = run_cli(config)

    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1
    assert "`stream_maps.task_events.x`: an expression failed" in lines[-1]
    (said,) = [line for line in lines[:-1] if "Failed before the run ended: project Typo" in line]
    assert "ERROR" in said
    assert "No published plans at its URL (HTTP 404)" in said


def test_a_non_blocking_stdout_that_fills_up_loses_no_record(tmp_path: Path) -> None:
    # A reader that set its pipe non-blocking (some runners do): a full pipe answers "would
    # block", which was taken as written, so records went missing while the STATE moved on.
    with Simulator(seed=3, events=3_000, page_size=500, daily_quota=None, plan_projects=0) as sim:
        config = tmp_path / "config.json"
        config.write_text(json.dumps(events_config(sim)))
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        command = [sys.executable, "-m", "tap_aphex", "--config", str(config)]
        process = subprocess.Popen(command, stdout=write_end, stderr=subprocess.PIPE)
        os.close(write_end)
        # The pipe fills while nobody reads it: the tap waits for room ("poll_schedule_timeout").
        wait_until_writing_to_a_full_pipe(process, read_end, waits="poll_schedule")
        with os.fdopen(read_end, "rb") as output:
            messages = parse_messages(output.read().decode())
        stderr = process.communicate(timeout=60)[1].decode()

    assert process.returncode == 0, stderr
    records = [m for m in messages if m["type"] == "RECORD" and m["stream"] == "task_events"]
    events = [record["record"]["eventId"] for record in records]
    assert len(events) == len(set(events)) == 3_000


@pytest.mark.parametrize(
    "log_config", [None, "{class: logging.StreamHandler, stream: ext://sys.stderr}"]
)
def test_stderr_sent_where_stdout_goes_is_the_users_choice(
    tmp_path: Path, log_config: str | None
) -> None:
    # `tap-aphex --about 2>&1 | less`: the log and stdout are one pipe, by the user's choice.
    env = dict(os.environ)
    if log_config is not None:
        text = f"version: 1\nhandlers: {{err: {log_config}}}\nroot: {{handlers: [err]}}\n"
        env["SINGER_SDK_LOG_CONFIG"] = _written(tmp_path / "log.yaml", text)
    command = [sys.executable, "-m", "tap_aphex", "--about"]
    run = subprocess.run(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, check=False
    )

    assert run.returncode == 0, run.stdout
    assert b"sends the" not in run.stdout


@pytest.mark.parametrize(
    ("handlers", "said"),
    [
        (  # logging would print a traceback at the first line, where the file cannot be opened
            "{h: {class: logging.FileHandler, filename: /nowhere/at/all.log, delay: true}}",
            "names a log file that cannot be opened, /nowhere/at/all.log (No such file or "
            "directory): give one the tap can write, or unset it.",
        ),
        (  # a handler that hands its lines on to one writing to stdout
            "{out: {class: logging.StreamHandler, stream: ext://sys.stdout}, h: {class: "
            "logging.handlers.MemoryHandler, capacity: 10, target: out}}",
            "sends the root logger's lines to stdout, where the tap writes its messages",
        ),
    ],
)
def test_a_log_config_that_would_spoil_the_run_is_one_line_before_any_request(
    tmp_path: Path, handlers: str, said: str
) -> None:
    log_config = _written(
        tmp_path / "log.yaml", f"version: 1\nhandlers: {handlers}\nroot: {{handlers: [h]}}\n"
    )
    config = _written(
        tmp_path / "config.json", '{"api_key": "k", "api_url": "http://127.0.0.1:9/"}'
    )

    run = run_command("--config", config, env={"SINGER_SDK_LOG_CONFIG": log_config})

    assert run.returncode == 1
    assert run.stdout == ""
    [line] = run.stderr.strip().splitlines()  # one line, no traceback
    assert line.startswith(f"SINGER_SDK_LOG_CONFIG={log_config!r} {said}")
