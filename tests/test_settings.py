"""The settings checks, one table per rule: what is refused, what is warned about, and the words."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from aphex_simulator import Simulator
from harness import TapRun, events_config, log_lines, run_cli

from tap_aphex.config_checks import config_problems
from tap_aphex.inputs import schema_problems
from tap_aphex.logs import (
    TapLogFilter,
    printable,
    remember_secrets,
    safe_url,
    secret_forms,
    url_credentials,
    without_query_values,
)
from tap_aphex.sdk_seam import batch_encoders
from tap_aphex.settings import CONFIG_SCHEMA, DEFAULT_API_URL, read_env, unknown_settings
from tap_aphex.tap import TapAphex

KEY = "k3y-s3cr3t-value"
OTHER = "0th3r-s3cr3t-value"
TOKEN = "pbi_t0ken-s3cr3t"
PROJECT = "https://app.aphex.co/power-bi/v1/acc0unt"

SOURCE_APHEX = Path(sys.executable).with_name("source-aphex")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"page_size": 0}, "`page_size` must be a whole number from 1 to 4000, not a number 0"),
        (
            {"page_size": 4_001},
            "`page_size` must be a whole number from 1 to 4000, not a number 4001",
        ),
        (
            {"page_size": "abc"},
            '`page_size` must be a whole number from 1 to 4000, not a string "abc"',
        ),
        ({"projects": [{"url": PROJECT}]}, "`projects[0].token` is required"),
        (
            {"projects": [{"url": PROJECT, "toekn": TOKEN}]},
            "`projects[0].token` is required (`toekn` is there: a typo?)",
        ),
        ({"projects": {"url": PROJECT}}, "`projects` must be an array, not an object"),
        ({"projects": [5]}, "`projects[0]` must be an object, not a number"),
        (
            {"projects": [{"url": 5, "token": TOKEN}]},
            "`projects[0].url` must be a string, not a number 5",
        ),
        (
            {"metrics_log_level": "LOUD"},
            '`metrics_log_level` must be "INFO" or "DEBUG", not a string "LOUD"',
        ),
        (
            {"metrics_log_level": 10},
            '`metrics_log_level` must be "INFO" or "DEBUG", not a number 10',
        ),
        (
            {"retry_budget_seconds": -1},
            "`retry_budget_seconds` must be a whole number from 0 to 86400, not a number -1",
        ),
        # An integer setting is a JSON integer: not an integral float, not a bool.
        (
            {"page_size": 100.0},
            "`page_size` must be a whole number from 1 to 4000, not a number 100.0",
        ),
        (
            {"max_events_per_run": 5.0},
            "`max_events_per_run` must be a whole number from 1 to 1000000000, not a number 5.0",
        ),
        (
            {"request_timeout": True},
            "`request_timeout` must be a whole number from 1 to 86400, not a boolean true",
        ),
        (
            {"published_plans_limit": 2.0},
            "`published_plans_limit` must be a whole number from 1 to 1000, not a number 2.0",
        ),
        ({"start_after": ["e1"]}, "`start_after` must be a string, not an array"),
        # Every integer setting has a bound (1e12 s once overflowed the clock).
        (
            {"request_timeout": 10**12},
            "`request_timeout` must be a whole number from 1 to 86400, not a number 1000000000000",
        ),
        (
            {"request_timeout": 1e12},
            "`request_timeout` must be a whole number from 1 to 86400, not a number "
            "1000000000000.0",
        ),
        (
            {"published_plans_limit": 1_001},
            "`published_plans_limit` must be a whole number from 1 to 1000, not a number 1001",
        ),
        (
            {"retry_budget_seconds": 86_401},
            "`retry_budget_seconds` must be a whole number from 0 to 86400, not a number 86401",
        ),
        (
            {"max_events_per_run": 10**10},
            "`max_events_per_run` must be a whole number from 1 to 1000000000, not a number "
            "10000000000",
        ),
    ],
)
def test_schema_problems_say_where_what_it_must_be_and_what_it_is(
    config: dict[str, t.Any], expected: str
) -> None:
    assert schema_problems(CONFIG_SCHEMA, config, {}) == [expected]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"api_key": 123456789}, "`api_key` must be a string, not a number"),
        ({"api_key": [KEY]}, "`api_key` must be a string, not an array"),
        ({"api_key": {"key": KEY}}, "`api_key` must be a string, not an object"),
        (
            {"projects": [{"url": PROJECT, "token": 987654321}]},
            "`TAP_APHEX_PROJECTS[0].token` must be a string, not a number",
        ),
        (
            {"projects": [{"url": PROJECT, "token": True}]},
            "`TAP_APHEX_PROJECTS[0].token` must be a string, not a boolean",
        ),
        (  # a project written as its token: its schema holds a secret
            {"projects": [TOKEN]},
            "`TAP_APHEX_PROJECTS[0]` must be an object, not a string",
        ),
        ({"projects": TOKEN}, "`TAP_APHEX_PROJECTS` must be an array, not a string"),
    ],
)
def test_a_wrongly_typed_secret_is_named_by_its_kind_never_shown(
    config: dict[str, t.Any], expected: str
) -> None:
    problems = schema_problems(CONFIG_SCHEMA, config, {"projects": "TAP_APHEX_PROJECTS"})

    assert problems == [expected]


def _either(values: list[str]) -> str:
    words = [f'"{value}"' for value in values]
    return ", ".join(words[:-1]) + " or " + words[-1]


#: Each kind of error the settings' schema (with the SDK's) can raise: a setting, its value, and
#: the problem, `{}` where the place's name starts (the setting, or the variable that set it).
SCHEMA_REFUSALS: list[tuple[str, object, str]] = [
    ("page_size", "lots", '`{}` must be a whole number from 1 to 4000, not a string "lots"'),
    ("flattening_enabled", "yes", '`{}` must be a boolean, not a string "yes"'),
    ("request_timeout", 0, "`{}` must be a whole number from 1 to 86400, not a number 0"),
    ("page_size", 4_001, "`{}` must be a whole number from 1 to 4000, not a number 4001"),
    ("flattening_max_depth", -1, "`{}` must be a whole number of at least 0, not a number -1"),
    ("metrics_log_level", "LOUD", '`{}` must be "INFO" or "DEBUG", not a string "LOUD"'),
    ("projects", [{"url": PROJECT}], "`{}[0].token` is required"),
    ("projects", [5], "`{}[0]` must be an object, not a number"),
    ("projects", [{"url": 5, "token": TOKEN}], "`{}[0].url` must be a string, not a number 5"),
    (
        "projects",
        [{"url": PROJECT, "token": 98765432}],
        "`{}[0].token` must be a string, not a number",
    ),
    ("api_key", ["k3y-s3cr3t"], "`{}` must be a string, not an array"),
    ("stream_maps", {"x": "y"}, '`{}.x` must be "__NULL__", null or an object, not a string "y"'),
    ("stream_maps", {"x": {"__alias__": 5}}, "`{}.x.__alias__` must be a string, not a number 5"),
    (
        "faker_config",
        {"seed": {}},
        "`{}.seed` must be a number, a string, a boolean or null, not an object",
    ),
    ("faker_config", {"locale": ["en", 5]}, "`{}.locale[1]` must be a string, not a number 5"),
    (  # the SDK's batch encoders (0.55's schema takes any text, and fails at the first file)
        "batch_config",
        {"encoding": {"format": "csv"}, "storage": {"root": "file:///tmp"}},
        f'`{{}}.encoding.format` must be {_either(batch_encoders())}, not a string "csv"',
    ),
]


@pytest.mark.parametrize("by", ["file", "variable"])
@pytest.mark.parametrize(("setting", "value", "expected"), SCHEMA_REFUSALS)
def test_a_setting_the_schema_refuses_is_one_line_in_jsons_words_named_as_set(
    by: str, setting: str, value: object, expected: str
) -> None:
    variable = f"TAP_APHEX_{setting.upper()}"
    text = value if isinstance(value, str) else json.dumps(value)
    if by == "variable" and text in ("lots", "yes", '["k3y-s3cr3t"]'):
        pytest.skip("a variable is read as digits or a flag first, or is a text (a key) as it is")
    config = {"api_key": KEY} if by == "variable" else {"api_key": KEY, setting: value}
    args, env = (("--config", "ENV"), {variable: text}) if by == "variable" else ((), {})

    run = run_cli(config, None, *args, env=env)

    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    assert log_lines(run.stderr, "ERROR") == [
        "Config: " + expected.format(variable if by == "variable" else setting)
    ]
    assert "98765432" not in run.stderr
    assert "k3y-s3cr3t" not in run.stderr


#: The SDK's own integer settings, which `append_builtin_config` adds to the same schema.
SDK_INTEGERS = {"flattening_max_depth", "flattening_max_key_length"}


def test_every_integer_setting_of_the_tap_has_a_maximum() -> None:
    integers = {
        name: spec
        for name, spec in CONFIG_SCHEMA["properties"].items()
        if "integer" in spec["type"] and name not in SDK_INTEGERS
    }

    assert len(integers) == 6, sorted(integers)
    assert all("maximum" in spec for spec in integers.values()), integers


@pytest.mark.parametrize("page_size", [1, 2_000, 4_000])
def test_page_sizes_the_api_allows_are_accepted(page_size: int) -> None:
    assert schema_problems(CONFIG_SCHEMA, {"api_key": KEY, "page_size": page_size}, {}) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"api_key": KEY + "\n"}, "`api_key` has spaces or a line break around it"),
        ({"api_key": " " + KEY}, "`api_key` has spaces or a line break around it"),
        (
            {"projects": [{"url": PROJECT, "token": TOKEN + "\r\n"}]},
            "`projects[0].token` has spaces or a line break around it",
        ),
        (
            {"api_key": KEY, "api_url": f"https://user:{KEY}@example.com/api"},
            "`api_url` carries a user name or password (user:password@), which would be sent "
            "and logged with every request: remove it (https://example.com/api)",
        ),
        (
            {"projects": [{"url": f"{PROJECT}?token={TOKEN}", "token": TOKEN}]},
            f"`projects[0].url` carries a query string, which would be sent and logged with "
            f"every request: remove it ({PROJECT})",
        ),
        (
            {"api_key": KEY, "api_url": "http://example.com/api"},
            "`api_url` uses plain http:// for a host that is not loopback (example.com)",
        ),
        # A character an HTTP header cannot carry, anywhere in a key or token.
        ({"api_key": "K3Y\nZZQ"}, "`api_key` holds a character an HTTP header cannot carry"),
        ({"api_key": "K3Y\x00Z"}, "`api_key` holds a character an HTTP header cannot carry"),
        ({"api_key": "K3Y\x85Z"}, "`api_key` holds a character an HTTP header cannot carry"),
        ({"api_key": "K€Y-value"}, "`api_key` holds a character an HTTP header cannot carry"),
        (
            {"projects": [{"url": PROJECT, "token": "SECRETTOKEN\r\nX-Evil: 1"}]},
            "`projects[0].token` holds a character an HTTP header cannot carry",
        ),
        ({"api_key": KEY, "start_after": "abc\n"}, "`start_after` has spaces or a line break"),
        ({"api_key": KEY, "start_after": ""}, "`start_after` is empty or blank: remove it"),
        ({"api_key": KEY, "start_after": " \t"}, "`start_after` is empty or blank: remove it"),
        (  # a scheme but no host: not the plain-http line (it would name host None)
            {"api_key": KEY, "api_url": "http://"},
            "`api_url` must be an https:// URL (this one has no scheme or no host)",
        ),
        (
            {"api_key": KEY, "api_url": "https:///path"},
            "`api_url` must be an https:// URL (this one has no scheme or no host)",
        ),
        # userinfo is never shown, whatever else is wrong with the URL.
        (
            {"api_key": KEY, "api_url": f"https://bob:{KEY}@example.com:99999/x"},
            "`api_url` carries a user name or password (user:password@)",
        ),
        (
            {"api_key": KEY, "api_url": f"https://example.com/x;token={KEY}"},
            "`api_url` carries path parameters (;name=value)",
        ),
        (
            {"api_key": KEY, "api_url": "http://[::1/x"},
            "`api_url` is not a URL the tap can read (Invalid IPv6 URL)",
        ),
        (
            {"api_key": KEY, "api_url": "https://example.com:99999/x"},
            "`api_url` is not a URL the tap can read (Port out of range 0-65535)",
        ),
        (
            {"projects": [{"url": "https://[::1/power-bi/v1/acc", "token": TOKEN}]},
            "`projects[0].url` is not a URL the tap can read",
        ),
        ({}, "Nothing to read: set `api_key`"),
        (  # set, but to nothing: not "set `projects`"
            {"projects": []},
            "Nothing to read: `projects` is empty and `api_key` is not set; list a project (its "
            "`url` and `token`) in `projects`",
        ),
        (  # the Integrations page's URL cut before its account id: no slash less would help
            {"projects": [{"url": "https://app.aphex.co/power-bi/v1/", "token": TOKEN}]},
            "`projects[0].url` names no project (no account id after `/power-bi/v1/`): copy the "
            "URL again from the project's Integrations page, not https://app.aphex.co/power-bi/v1/",
        ),
        (
            {"projects": [{"url": "https://app.aphex.co/Power-BI/v1", "token": TOKEN}]},
            "`projects[0].url` names no project",
        ),
        (  # the key and the URL swapped: what is no URL is never shown, it may be a key
            {"api_key": "https://example.com/api", "api_url": KEY},
            "`api_url` must be an https:// URL (this one has no scheme or no host)",
        ),
        (
            {"api_key": KEY, "api_url": "ftp://example.com/api"},
            "`api_url` must be an https:// URL, got 'ftp://example.com/api'",
        ),
        (
            {"projects": [{"url": PROJECT, "token": "a"}, {"url": PROJECT + "/", "token": "b"}]},
            "`projects` lists the project acc0unt twice.",
        ),
        ({"projects": [{"url": PROJECT, "token": ""}]}, "`projects[0].token` is empty"),
        ({"projects": [{"url": PROJECT, "token": "  "}]}, "`projects[0].token` is empty"),
        ({"api_key": ""}, "`api_key` is empty"),
        (
            {"projects": [{"url": f" {PROJECT} ", "token": TOKEN}]},
            "`projects[0].url` has spaces or a line break around it",
        ),
        (
            {"projects": [{"url": f"{PROJECT}#top", "token": TOKEN}]},
            "`projects[0].url` has a #fragment, which is never sent",
        ),
        (
            {"api_key": KEY, "api_url": "http://127.0.0.1:0/x"},
            "`api_url` has port 0, on which no server answers",
        ),
        (  # the token pasted at the end of the URL's path
            {"projects": [{"url": f"{PROJECT}{TOKEN}", "token": TOKEN}]},
            "`projects[0].url` holds a key or token",
        ),
        (  # ...or 8 characters of it, in another case: what messages hide, the state would show
            {"projects": [{"url": f"{PROJECT}/{TOKEN[:8].upper()}", "token": TOKEN}]},
            "`projects[0].url` holds a key or token",
        ),
        (  # the Data API's URL too: the key would travel in the request line
            {"api_key": KEY, "api_url": f"https://example.com/apiTaskEventsV2/{KEY}"},
            "`api_url` holds a key or token, which would travel in every request's URL",
        ),
        (  # any secret of the config, in any form
            {
                "api_key": KEY,
                "api_url": f"https://example.com/{TOKEN.replace('-', '%2D')}/apiTaskEventsV2",
                "projects": [{"url": PROJECT, "token": TOKEN}],
            },
            "`api_url` holds a key or token",
        ),
        (
            {
                "projects": [
                    {"url": PROJECT, "token": "a", "name": "Tower"},
                    {"url": PROJECT + "2", "token": "b", "name": "Tower"},
                ]
            },
            "`projects` names two projects `Tower`",
        ),
        (
            {
                "projects": [
                    {"url": PROJECT, "token": "a", "name": "North  tower"},
                    {"url": PROJECT + "2", "token": "b", "name": "north tower "},
                ]
            },
            "`projects` names two projects `north tower ` (the log tells projects by name, "
            "whatever their case and spaces)",
        ),
    ],
)
def test_config_problems_name_the_setting_and_never_show_a_secret(
    config: dict[str, t.Any], expected: str
) -> None:
    problems = config_problems(config, {})

    assert any(expected in problem for problem in problems), problems
    assert not any(KEY in problem or TOKEN in problem for problem in problems), problems


@pytest.mark.parametrize(
    "api_url",
    [
        None,
        "https://europe-west2-aphex-prod.cloudfunctions.net/apiTaskEventsV2",
        "https://aphex-prod.example.com/v2",
    ],
)
def test_an_api_url_sharing_some_characters_with_the_key_is_no_key_in_it(
    api_url: str | None,
) -> None:
    # The vendor's endpoint (the default) and a key may share a run of characters by chance.
    config = {"api_key": "aphex-prod-2024-key", "api_url": api_url}

    assert config_problems({k: v for k, v in config.items() if v}, {}) == []


#: One of each check the schema cannot make: (the config file's other settings, the setting the
#: case sets, its value, and what is said, `{}` standing for where it was set). A blank
#: `start_after` set by its variable never gets here: `read_env` names the variable first.
JSONL_BATCH = {
    "encoding": {"format": "jsonl", "compression": "gzip"},
    "storage": {"root": "file:///tmp/x"},
}

WHERE_SET: dict[str, tuple[dict[str, t.Any], str, object, str]] = {
    "a bad URL": ({"api_key": KEY}, "api_url", "http://example.com/x", "`{}` uses plain http://"),
    "a project's bad URL": (
        {},
        "projects",
        [{"url": PROJECT + "#top", "token": TOKEN}],
        "`{}[0].url` has a #fragment",
    ),
    "a key with spaces": ({}, "api_key", f" {KEY}", "`{}` has spaces or a line break around it"),
    "a token with spaces": (
        {},
        "projects",
        [{"url": PROJECT, "token": TOKEN + "\n"}],
        "`{}[0].token` has spaces or a line break around it",
    ),
    "a start_after with spaces": (
        {"api_key": KEY},
        "start_after",
        "evt-1 ",
        "`{}` has spaces or a line break around it",
    ),
    "a start_after with a tab": ({"api_key": KEY}, "start_after", "evt\t1", "`{}` holds a control"),
    "a duplicated project": (
        {},
        "projects",
        [{"url": PROJECT, "token": TOKEN}, {"url": PROJECT + "/", "token": TOKEN + "2"}],
        "`{}` lists the project acc0unt twice.",
    ),
    "two projects of one name": (
        {},
        "projects",
        [
            {"url": PROJECT, "token": TOKEN, "name": "A"},
            {"url": PROJECT + "2", "token": TOKEN, "name": "a"},
        ],
        "`{}` names two projects `a`",
    ),
    # An undecodable byte in a variable reaches Python as a lone surrogate, as JSON's "\udcff".
    "a lone surrogate": (
        {"api_key": KEY},
        "start_after",
        "evt-\udcff",
        "`{}` holds a lone UTF-16 surrogate",
    ),
    "a lone surrogate in a project": (
        {},
        "projects",
        [{"url": PROJECT, "token": TOKEN, "name": "\ud83d"}],
        "`{}[0].name` holds a lone UTF-16 surrogate",
    ),
    "a batch_config": (
        {"api_key": KEY},
        "batch_config",
        {"encoding": {"format": "jsonl", "compression": "gzip"}, "storage": {"root": "nosuch://x"}},
        "`{}`: storage root `nosuch://` is no filesystem fsspec knows",
    ),
    # The SDK's jsonl files are gzip whatever it says; its BATCH message would tell the target
    # otherwise.
    **{
        f"a jsonl batch_config with compression {compression}": (
            {"api_key": KEY},
            "batch_config",
            {"encoding": {"format": "jsonl", **given}, "storage": {"root": "file:///tmp/x"}},
            f'`{{}}.encoding.compression` must be "gzip" for jsonl (the SDK writes gzip files, '
            f"and a target reads them as its BATCH messages say), not {compression}",
        )
        for compression, given in [('a string "none"', {"compression": "none"}), ("null", {})]
    },
    # The SDK read these only at the first BATCH file, after pages were read: islice's words, a
    # FileExistsError, or (0) no request at all and an exit 0.
    **{
        f"a batch_size of {said}": (
            {"api_key": KEY},
            "batch_config",
            {**JSONL_BATCH, "batch_size": size},
            f"`{{}}.batch_size` must be a whole number from 1 to 1000000000, not {said}",
        )
        for size, said in [
            *[(0, "a number 0"), (1.5, "a number 1.5"), ("10", 'a string "10"')],
            *[(True, "a boolean true"), (10**22, "a number 10000000000000000000000")],
        ]
    },
    "a batch root that is a file": (
        {"api_key": KEY},
        "batch_config",
        {**JSONL_BATCH, "storage": {"root": "file:///dev/null/batches"}},
        "`{}.storage.root` /dev/null/batches (its folder /dev/null) is a file: give a folder",
    ),
    # The SDK's schema lets both be null; its writer then failed reading them (Unexpected ...).
    **{
        f"a batch_config whose {part} is null": (
            {"api_key": KEY},
            "batch_config",
            {**JSONL_BATCH, **null},
            "`{}` cannot be read (AttributeError): it needs `encoding` (`format`, `compression`) "
            "and `storage` (`root`)",
        )
        for part, null in [("encoding", {"encoding": None}), ("storage", {"storage": None})]
    },
    "a batch_config whose root is null": (
        {"api_key": KEY},
        "batch_config",
        {**JSONL_BATCH, "storage": {"root": None}},
        "`{}` cannot be read (TypeError): it needs `encoding` (`format`, `compression`) and "
        "`storage` (`root`)",
    ),
    "a batch prefix naming a folder": (
        {"api_key": KEY},
        "batch_config",
        {**JSONL_BATCH, "storage": {"root": "file:///tmp/x", "prefix": "a/b-"}},
        "`{}.storage.prefix` must be the start of a file name, without `/`",
    ),
}


@pytest.mark.parametrize("case", WHERE_SET)
def test_a_config_problem_names_the_variable_that_set_the_value(case: str) -> None:
    config, setting, value, said = WHERE_SET[case]
    variable = f"TAP_APHEX_{setting.upper()}"
    env = {variable: value if isinstance(value, str) else json.dumps(value)}

    by_variable = config_error(run_cli(config, None, "--config", "ENV", env=env))
    in_file = config_error(run_cli({**config, setting: value}))

    assert said.format(variable) in by_variable
    assert f"`{setting}" not in by_variable
    assert said.format(setting) in in_file
    assert variable not in in_file


def test_each_value_is_named_where_it_was_set() -> None:
    batch = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": "file:///x"},
    }
    maps = {"task_events": {"extra": "1"}}
    env = {"TAP_APHEX_STREAM_MAPS": json.dumps(maps)}

    run = run_cli({"api_key": KEY, "batch_config": batch}, None, "--config", "ENV", env=env)

    assert (
        "`batch_config` with `TAP_APHEX_STREAM_MAPS` is not supported: the SDK writes BATCH "
        "files without applying them."
    ) in config_error(run)


def config_error(run: TapRun) -> str:
    """The run's one ERROR line, a config problem, with no key or token in any line."""
    assert run.returncode != 0
    assert KEY not in run.stderr
    assert TOKEN not in run.stderr
    [error] = log_lines(run.stderr, "ERROR")
    assert error.startswith("Config: "), error
    return error


LONE = "a lone UTF-16 surrogate (half an emoji, or a byte no UTF-8 has)"


@pytest.mark.parametrize(
    ("setting", "value", "in_file", "by_variable"),
    [
        (
            # `compression`: the SDK's schema lists its values on 0.54 and 0.55 (`format`'s: 0.54)
            "batch_config",
            {"encoding": {"format": "jsonl", "compression": "\ud83d"}},
            f'`{{}}.encoding.compression` must be "gzip" or "none", not a string holding {LONE}',
            None,
        ),
        (
            # An undecodable byte in a variable reaches Python as one (JSON can write it too).
            "page_size",
            "\udcff",
            f"`{{}}` must be a whole number from 1 to 4000, not a string holding {LONE}",
            f"`{{}}` must be a whole number (digits only, no spaces), not a value holding {LONE}.",
        ),
        (
            "metrics_log_level",
            "\udcff",
            f'`{{}}` must be "INFO" or "DEBUG", not a string holding {LONE}',
            None,
        ),
        (
            "stream_maps",
            {"task_events": {"\ud83d": 3}},
            f"`{{}}.task_events` holds a name with {LONE}: retype it",
            None,
        ),
    ],
)
def test_a_value_or_name_holding_a_lone_surrogate_is_named_never_shown(
    setting: str, value: object, in_file: str, by_variable: str | None
) -> None:
    variable = f"TAP_APHEX_{setting.upper()}"
    env = {variable: value if isinstance(value, str) else json.dumps(value)}

    runs = [
        (run_cli({"api_key": KEY, setting: value}), in_file.format(setting)),
        (
            run_cli({"api_key": KEY}, None, "--config", "ENV", env=env),
            (by_variable or in_file).format(variable),
        ),
    ]

    for run, said in runs:
        assert run.returncode == 1
        [error] = log_lines(run.stderr, "ERROR")
        assert error.endswith(said), error
        assert "\\ud" not in run.stderr
        assert "'" not in error  # Python's words for a text (`ascii`) are never the message's


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"api_key": KEY, "api_url": "http://h\ud83d.example/"}, "`api_url`"),
        ({"projects": [{"url": "http://h\ud83d.example/p", "token": TOKEN}]}, "`projects[0].url`"),
    ],
)
def test_a_url_holding_a_lone_surrogate_is_named_never_shown_by_either_command(
    tmp_path: Path, config: dict[str, t.Any], where: str
) -> None:
    # Its plain-http host is never quoted either: the Airbyte writer could not encode it at all.
    said = f"{where} holds {LONE}: retype it."
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))

    run = run_cli(config)
    airbyte = subprocess.run(
        [str(SOURCE_APHEX), "discover", "--config", str(config_file)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert run.returncode == airbyte.returncode == 1
    assert log_lines(run.stderr, "ERROR") == [f"Config: {said}"]
    (trace,) = [json.loads(line) for line in airbyte.stdout.splitlines()]
    assert trace["trace"]["error"] == {
        "message": f"Config is not valid: {said}",
        "failure_type": "config_error",
    }
    assert "Traceback" not in airbyte.stderr
    assert "\\ud" not in run.stderr + airbyte.stdout


def test_a_name_holding_a_lone_surrogate_is_never_shown_in_a_warning_or_a_hint() -> None:
    warnings = [
        *unknown_settings({"api_key": KEY, "x\ud83d": 1}, CONFIG_SCHEMA, {}),
        *read_env(CONFIG_SCHEMA, "TAP_APHEX_", {"TAP_APHEX_PAGE_SIZ\udcff": "1"}).unknown,
    ]
    missing = schema_problems(
        CONFIG_SCHEMA, {"projects": [{"ur\udcff": PROJECT, "token": TOKEN}]}, {}
    )

    assert warnings == [
        f"Unknown setting whose name holds {LONE} is ignored",
        f"Unknown environment variable whose name holds {LONE} is ignored",
    ]
    assert missing == [
        "`projects[0].url` is required (a name holding a lone UTF-16 surrogate is there: a typo?)"
    ]


@pytest.mark.parametrize(
    "config",
    [
        {"api_key": KEY},
        {"api_key": KEY, "api_url": "http://127.0.0.1:8080/apiTaskEventsV2"},
        {"projects": [{"url": PROJECT, "token": TOKEN, "name": "Site A"}]},
        {"api_key": "Kéy-latin-1 with inner space", "start_after": "evt-1"},
    ],
)
def test_a_good_config_has_no_problem(config: dict[str, t.Any]) -> None:
    assert schema_problems(CONFIG_SCHEMA, config, {}) == []
    assert config_problems(config, {}) == []


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"page_sise": 5}, ["Unknown setting `page_sise` is ignored; did you mean `page_size`?"]),
        ({"apikey": KEY}, ["Unknown setting `apikey` is ignored; did you mean `api_key`?"]),
        ({"zzz": 1}, ["Unknown setting `zzz` is ignored"]),
        (
            {"projects": [{"url": PROJECT, "tokn": TOKEN}]},
            ["Unknown setting `projects[0].tokn` is ignored; did you mean `projects[0].token`?"],
        ),
        ({"api_key": KEY, "page_size": 5}, []),
    ],
)
def test_unknown_settings_are_warned_about_with_the_closest_known_name(
    config: dict[str, t.Any], expected: list[str]
) -> None:
    assert unknown_settings(config, CONFIG_SCHEMA, {}) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        *(
            (
                {"TAP_APHEX_PAGE_SIZE": value},
                [
                    "`TAP_APHEX_PAGE_SIZE` must be a whole number (digits only, no spaces), not "
                    f"{json.dumps(value)}."
                ],
            )
            for value in ("abc", " 500 ", "1_000", "100.0", "+5", "")
        ),
        (
            {"TAP_APHEX_PROJECTS": '[{"url": "x", token'},
            [
                "`TAP_APHEX_PROJECTS` must be JSON, an array [...] (Expecting property name"
                " enclosed in double quotes at character 14)."
            ],
        ),
        ({"TAP_APHEX_PROJECTS": '[{"url": "x", "token": "t"}]'}, []),
        # JSON readers keep one of two values of a key: a token, or a map, dropped unsaid.
        (
            {"TAP_APHEX_STREAM_MAPS": '{"tasks": {}, "tasks": null}'},
            [
                '`TAP_APHEX_STREAM_MAPS` holds the key "tasks" twice in one object, with '
                "different values: keep one."
            ],
        ),
        ({"TAP_APHEX_PROJECTS": '[{"url": "x", "url": "x", "token": "t"}]'}, []),  # alike
        (  # equal in Python, not in JSON
            {"TAP_APHEX_STREAM_MAPS": '{"tasks": {"a": 1, "a": true}}'},
            [
                '`TAP_APHEX_STREAM_MAPS` holds the key "a" twice in one object, with different '
                "values: keep one."
            ],
        ),
        *(
            (
                {f"TAP_APHEX_{name.upper()}": "null"},
                [f"`TAP_APHEX_{name.upper()}` is null: unset it to leave `{name}` unset."],
            )
            for name in ("projects", "stream_maps")
        ),
        ({"TAP_APHEX_PAGE_SIZE": "100"}, []),
        ({"TAP_APHEX_API_KEY": "abc"}, []),  # a string: nothing to convert
        ({"OTHER_PAGE_SIZE": "abc"}, []),
    ],
)
def test_env_values_the_sdk_could_not_convert_are_named(
    environ: dict[str, str], expected: list[str]
) -> None:
    schema = TapAphex.config_jsonschema | {
        "properties": dict(TapAphex.config_jsonschema["properties"])
    }
    TapAphex.append_builtin_config(schema)  # the SDK's settings (stream_maps...) too, as the tap
    assert read_env(schema, "TAP_APHEX_", environ).problems == expected


@pytest.mark.parametrize("value", ["true", "FALSE", "1", "0", "yes", "No", "on", "off"])
def test_a_boolean_in_the_environment_is_a_word_for_true_or_false(value: str) -> None:
    schema = {"properties": {"flattening_enabled": {"type": ["boolean", "null"]}}}
    assert read_env(schema, "TAP_APHEX_", {"TAP_APHEX_FLATTENING_ENABLED": value}).problems == []
    assert read_env(
        schema, "TAP_APHEX_", {"TAP_APHEX_FLATTENING_ENABLED": value + "x"}
    ).problems == [
        "`TAP_APHEX_FLATTENING_ENABLED` must be true or false (or 1/0, yes/no, on/off), not "
        f'"{value}x".'
    ]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"TAP_APHEX_PAGE_SISE": "5"},
            [
                "Unknown environment variable `TAP_APHEX_PAGE_SISE` is ignored; did you mean "
                "`TAP_APHEX_PAGE_SIZE`?"
            ],
        ),
        ({"TAP_APHEX_ZZZ": "1"}, ["Unknown environment variable `TAP_APHEX_ZZZ` is ignored"]),
        (
            {
                "TAP_APHEX_PAGE_SIZE": "5",
                "TAP_APHEX_LOGLEVEL": "DEBUG",  # the SDK's
                "TAP_APHEX__SELECT": "[]",  # Meltano's
                "OTHER_PAGE_SISE": "5",
            },
            [],
        ),
    ],
)
def test_unknown_environment_variables_are_warned_about_with_the_closest_name(
    environ: dict[str, str], expected: list[str]
) -> None:
    assert read_env(CONFIG_SCHEMA, "TAP_APHEX_", environ).unknown == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u:p@example.com/a?token=x&b=2", "https://example.com/a?token=…&b=…"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://[::1]:80/a?x=1", "http://[::1]:80/a?x=…"),
        # userinfo goes, whatever else is wrong with the URL (here: no port it can parse).
        ("https://bob:hunter2@example.com:99999/x", "https://example.com:99999/x"),
        ("https://bob:hunt@r2@example.com:abc/x?y=1", "https://example.com:abc/x"),
        ("http://bob:hunter2@[::1/x", "http://[::1/x"),
        ("bob:hunter2@example.com/x", "bob:hunter2@example.com/x"),  # no `//`: no authority
        # `;params` lose their values as query values do.
        (
            "https://example.com/x;token=hunter2/y;v=1?a=2",
            "https://example.com/x;token=…/y;v=…?a=…",
        ),
        ("https://example.com/x;hunter2", "https://example.com/x;…"),
    ],
)
def test_safe_urls_drop_credentials_and_query_values(url: str, expected: str) -> None:
    assert safe_url(url) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'http://127.0.0.1:1 "GET /apiTaskEventsV2?startAfter=abc&pageSize=5 HTTP/1.1" 200',
            'http://127.0.0.1:1 "GET /apiTaskEventsV2?startAfter=…&pageSize=… HTTP/1.1" 200',
        ),
        ("Max retries exceeded with url: /x?token=abc (Caused", "url: /x?token=… (Caused"),
        ("did you mean `page_size`?", "did you mean `page_size`?"),
        ("startAfter=abc, pageSize=3", "startAfter=abc, pageSize=3"),  # prose, not a URL
        (  # the sentence goes on after the URL
            "HTTP 500 from https://h/x?startAfter=a&pageSize=4000; retrying in 5 s",
            "HTTP 500 from https://h/x?startAfter=…&pageSize=…; retrying in 5 s",
        ),
        ("(see https://h/x?a=1).", "(see https://h/x?a=…)."),
        ("at /x?token=abc, then", "at /x?token=…, then"),
    ],
)
def test_urls_in_log_lines_lose_their_query_values(text: str, expected: str) -> None:
    assert expected in without_query_values(text)


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("bad key \x1b[31mk3y\x1b[0m\n\tagain", ("k3y",), "bad key [31m… [0m again"),
        ("x" * 300, (), "x" * 199 + "…"),
        ("  ", (), ""),
    ],
)
def test_printable_text_is_one_short_line_without_secrets(
    text: str, secrets: tuple[str, ...], expected: str
) -> None:
    assert printable(text, secrets) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://bob:hunter2@example.com:99999/x", "a user name or password (user:password@)"),
        ("https://bob@[::1/x", "a user name or password (user:password@)"),
        ("https://example.com/x;token=hunter2", "path parameters (;name=value)"),
        ("https://example.com/x?token=hunter2", "a query string"),
        ("https://example.com/x", None),
    ],
)
def test_credentials_in_a_url_are_found_even_in_one_that_cannot_be_parsed(
    url: str, expected: str | None
) -> None:
    assert url_credentials(url) == expected


SECRETS = ["K3Y-s3cr3t\nZZQ", "SECRETTOKEN\r\nX-Evil: 1", "K€Y-s3cr3t", "tab\there", "q'uote\\"]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize(
    "quote",
    [
        lambda s: s,
        repr,
        lambda s: repr(s.encode("utf-8")),
        lambda s: repr(s.encode("latin-1", "backslashreplace")),
        lambda s: s.encode("unicode_escape").decode("ascii"),
        lambda s: f"Invalid header value {s.encode('utf-8')!r}",
        lambda s: f"InvalidHeader: {('Bearer ' + s)!r}",
    ],
)
def test_a_secret_is_hidden_however_a_message_quotes_it(
    secret: str, quote: t.Callable[[str], str]
) -> None:
    shown = printable(f"Unexpected: {quote(secret)}", (secret,), limit=1_000)

    for form in {secret, *secret_forms(secret)}:
        assert form not in shown, (shown, form)
    assert "s3cr3t" not in shown, shown
    assert "SECRET" not in shown, shown
    assert "tab" not in shown, shown


@pytest.mark.parametrize(
    "message", ["key %s", "key %r", "header %r", "bytes %s"], ids=["raw", "repr", "r2", "bytes"]
)
def test_no_log_line_holds_the_runs_secret_in_any_form(message: str) -> None:
    secret = "K3Y-s3cr3t\nZZQ"
    remember_secrets(secret)
    arg: object = secret.encode() if message.startswith("bytes") else secret
    record = logging.LogRecord("tap-aphex", logging.INFO, __file__, 1, message, (arg,), None)

    TapLogFilter(logging.getLogger("tap-aphex")).filter(record)

    assert "s3cr3t" not in record.getMessage()
    remember_secrets()


def _scalars(value: object) -> t.Iterator[object]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif not isinstance(value, str) or len(value) > 3:
        yield value


def test_a_setting_name_no_text_can_carry_is_told_by_no_path_and_never_shown() -> None:
    problems = config_problems({"api_key": KEY, "x\ud83d": 1}, {})

    assert problems == [
        "A setting's name holds a lone UTF-16 surrogate (half an emoji, or a byte no UTF-8 has): "
        "retype it."
    ]


@pytest.mark.parametrize(
    ("maps", "expected"),
    [
        (
            {"task_event": {"eventId": "md5(eventId)"}},
            "`stream_maps.task_event` names no stream of the tap (did you mean `task_events`?)",
        ),
        (
            {"hashed": {"__source__": "taks", "id": "md5(id)"}},
            "`stream_maps.hashed`'s `__source__` `taks` names no stream of the tap (did you mean "
            "`tasks`?)",
        ),
        ({"plans_*": None}, "`stream_maps.plans_*` names no stream of the tap"),
        # The SDK's own error had blamed an expression ("TypeError: expected str").
        (
            {"x": {"__source__": None}},
            "`stream_maps.x.__source__` must be a stream's name, not null",
        ),
        ({"x": {"__source__": 5}}, "`stream_maps.x.__source__` must be a string, not a number 5"),
    ],
)
def test_a_stream_map_that_would_apply_to_nothing_is_refused(
    maps: dict[str, t.Any], expected: str
) -> None:
    # The SDK passes over such a map without a word: a hash or a removal it holds would not happen.
    run = run_cli({"api_key": KEY, "api_url": "http://127.0.0.1:9/x", "stream_maps": maps})

    assert expected in config_error(run)


@pytest.mark.parametrize(
    "maps",
    [
        {"__else__": None},
        {"*": None},
        {"task_events": None, "tasks": None, "task_statuses": None},
        {"tasks": None, "__else__": None},
    ],
)
def test_stream_maps_that_remove_every_selected_stream_are_refused_before_any_request(
    maps: dict[str, t.Any],
) -> None:
    # The SDK drops every record and the run goes on: the whole log read, its bookmark moved.
    with Simulator(seed=5, events=30, page_size=4_000, daily_quota=None, plan_projects=0) as sim:
        run = run_cli(events_config(sim, stream_maps=maps))
        asked = sim.requests

    assert config_error(run) == (
        "Config: `stream_maps` remove every selected stream (task_events, task_statuses, tasks): "
        "nothing would be sent, while the streams would be read and their bookmarks moved. "
        "Deselect the streams you do not want instead."
    )
    assert asked == []


@pytest.mark.parametrize(
    ("maps", "one"),
    [
        (
            {"tasks": {"__alias__": "x"}, "task_statuses": {"__alias__": "x"}},
            "task_statuses and tasks to one table as `x`",
        ),
        (
            {"tasks": {"__alias__": "task_events"}},
            "task_events and tasks to one table as `task_events`",
        ),
        (  # one table in a SQL target: its name is folded (the SDK's `conform_name`)
            {"task_statuses": {"__alias__": "Tasks "}},
            "task_statuses and tasks to one table as `Tasks ` or `tasks`",
        ),
        (
            {"TASKS": {"__source__": "tasks", "id": "md5(id)"}},
            "tasks to one table as `tasks` or `TASKS`",
        ),
        (
            {"copy": {"__source__": "task*"}},
            "task_events, task_statuses and tasks to one table as `copy`",
        ),
        (  # two copies of one stream under one name: each record sent twice
            {"tasks": {"__alias__": "z"}, "z": {"__source__": "tasks"}},
            "tasks to one table as `z`",
        ),
        (  # a map from a stream under its own name is a second copy: the SDK sends both
            {"tasks": {"__source__": "tasks", "id": "md5(id)"}},
            "tasks to one table as `tasks`",
        ),
    ],
)
def test_stream_maps_that_send_rows_of_two_streams_to_one_table_are_refused(
    maps: dict[str, t.Any], one: str
) -> None:
    # The SDK sends both under one name, each SCHEMA with its own keys: a target upserts a mix.
    with Simulator(seed=5, events=30, page_size=4_000, daily_quota=None, plan_projects=0) as sim:
        run = run_cli(events_config(sim, stream_maps=maps))
        asked = sim.requests

    assert config_error(run) == (
        f"Config: `stream_maps` send {one}: their rows would mix (their keys and fields may "
        "differ); give each its own name"
    )
    assert asked == []


def test_stream_maps_that_remove_some_streams_say_they_are_read_all_the_same() -> None:
    with Simulator(seed=5, events=30, page_size=4_000, daily_quota=None, plan_projects=0) as sim:
        run = run_cli(events_config(sim, stream_maps={"task_events": {}, "__else__": None}))

    assert run.returncode == 0, run.stderr
    assert [line for line in log_lines(run.stderr, "WARNING") if "stream_maps" in line] == [
        "`stream_maps` remove every record of task_statuses, tasks: read all the same, their "
        "bookmarks move past what this run drops. Deselect them instead to leave them unread."
    ]


@pytest.mark.parametrize(
    "maps",
    [
        {"copy": {"__source__": "tasks"}, "tasks": {"__alias__": "current_tasks"}},
        {"task_events": None},  # the other two still go out
        {"task_*": {"eventId": "md5(eventId)"}},  # a pattern, as the SDK matches it
        {"hashed": {"__source__": "tasks"}, "__else__": None},
        {"tasks": None},
    ],
)
def test_a_stream_map_that_matches_a_stream_is_taken(maps: dict[str, t.Any]) -> None:
    with Simulator(seed=5, events=30, page_size=4_000, daily_quota=None, plan_projects=0) as sim:
        run = run_cli(events_config(sim, stream_maps=maps))

    assert run.returncode == 0, run.stderr
    assert not log_lines(run.stderr, "ERROR")


@pytest.mark.parametrize("too_short", [5, 0, -5])
def test_flattening_that_makes_two_columns_of_one_name_is_said_as_the_flattening_settings(
    too_short: int,
) -> None:
    config = {"flattening_enabled": True, "flattening_max_depth": 2}
    config["flattening_max_key_length"] = too_short

    run = run_cli({"api_key": KEY, "api_url": "http://127.0.0.1:9/x", **config})

    assert run.returncode == 1
    [error] = log_lines(run.stderr, "ERROR")
    assert error.startswith("Config: The flattening settings make two columns of one name, `")
    assert "raise `flattening_max_key_length`" in error
    assert "stream_maps" not in error


@pytest.mark.parametrize(
    "endpoint",
    [
        DEFAULT_API_URL,
        DEFAULT_API_URL + "/",
        DEFAULT_API_URL.replace("europe-west2", "Europe-West2"),
        DEFAULT_API_URL.removesuffix("V2"),  # V1
        "https://api.aphex.co/taskEvents",
    ],
)
def test_the_vendors_endpoints_are_never_said_to_hold_a_key(endpoint: str) -> None:
    # A (toy) key that is a piece of the vendor's endpoint: the user did not write that part.
    for key in ("aphex-prod", "taskEvents", "europe-west2"):
        assert config_problems({"api_key": key, "api_url": endpoint}, {}) == []


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_bundle_variable_naming_nothing_is_said_where_a_url_is_https(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    # requests would fail each https request with an OSError ("Unexpected" to the run).
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, "/nowhere/ca.pem")

    https = config_problems({"api_key": KEY, "api_url": DEFAULT_API_URL}, {})
    loopback = config_problems({"api_key": KEY, "api_url": "http://127.0.0.1:9/x"}, {})

    assert https == [
        f"`{variable}` names /nowhere/ca.pem, which does not exist: point it at the CA bundle (a "
        "PEM file, or a folder of them) that verifies the APIs' certificates, or unset it"
    ]
    assert loopback == []  # read for https only


def test_a_dotenv_file_the_sdk_would_load_is_checked_like_the_environment(tmp_path: Path) -> None:
    # The SDK loads python-dotenv's `.env` as it reads the variables, searched from its own folder
    # up (0.54: a project folder that holds the venv) or from the working folder (0.55); set there,
    # a value had met the SDK's `int()`: "Unexpected ValueError".
    tap = _with_env_file(tmp_path, f"TAP_APHEX_PAGE_SIZE=lots\nTAP_APHEX_API_KEY={KEY}\n")

    refused = tap("--config", "ENV", "--discover")
    assert refused.returncode == 1, refused.stderr
    (line,) = log_lines(refused.stderr, "ERROR")
    assert line == (
        "Config: `TAP_APHEX_PAGE_SIZE` (set by a `.env` file) must be a whole number (digits only, "
        'no spaces), not "lots".'
    )
    (said,) = [line for line in log_lines(refused.stderr, "INFO") if ".env" in line]
    assert said == (
        "`--config ENV`: `TAP_APHEX_API_KEY` and `TAP_APHEX_PAGE_SIZE` set by a `.env` file (the "
        "SDK loads python-dotenv's: docs/settings.md)."
    )
    # The file's value wins over the environment's, as the SDK loads it: said, and checked.
    over = tap("--config", "ENV", "--discover", TAP_APHEX_PAGE_SIZE="50")
    assert over.returncode == 1, over.stderr
    assert log_lines(over.stderr, "ERROR") == [line]
    # Its key is hidden from the moment the command starts: a file named in a message may hold it.
    (tmp_path / ".env").write_text(f"TAP_APHEX_API_KEY={KEY}\n")
    missing = tap("--config", "ENV", "--state", f"state-{KEY}.json")
    assert missing.returncode == 2, missing.stderr
    assert "state-" in missing.stderr
    assert KEY not in missing.stderr + missing.stdout


REFUSED_TWICE = (
    "Config: `--config ENV`: the `.env` file {} sets `TAP_APHEX_API_KEY` twice, to different "
    "values (python-dotenv would keep the last without a word): keep one."
)


@pytest.mark.parametrize(
    ("lines", "refused"),
    [
        (f"export TAP_APHEX_API_KEY={OTHER}\n", True),
        # A last line building on the one before excuses that line only, not an earlier change.
        (f"TAP_APHEX_API_KEY={OTHER}\nTAP_APHEX_API_KEY=${{TAP_APHEX_API_KEY}}\n", True),
        (f"TAP_APHEX_API_KEY='{KEY}'\n", False),  # the same value twice: the same setting
        # A Meltano project's `.env` holds every plugin's settings.
        ("TARGET_POSTGRES_PASSWORD=one\nTARGET_POSTGRES_PASSWORD=two\n", False),
        # `${NAME}` adds to the value above: meant.
        ("PYTHONPATH=/opt/extra\nPYTHONPATH=${PYTHONPATH}:/opt/more\n", False),
        ("TAP_APHEX_USER_AGENT=a\nTAP_APHEX_USER_AGENT=${TAP_APHEX_USER_AGENT}-b\n", False),
        ("TAP_APHEX_USER_AGENT=a\nTAP_APHEX_USER_AGENT=${TAP_APHEX_USER_AGENT:-x}-b\n", False),
        ("TAP_APHEX__SELECT=a\nTAP_APHEX__SELECT=b\n", False),  # Meltano's, not the tap's
        (f"TAP_APHEX_API_KEY\nTAP_APHEX_API_KEY={KEY}\n", False),  # a bare name sets nothing
    ],
)
def test_a_dotenv_file_setting_a_variable_the_tap_reads_to_another_value_is_refused(
    tmp_path: Path, lines: str, refused: bool
) -> None:
    # python-dotenv keeps the last value without a word (a stale key above a new one, say);
    # which was meant is unknown, as with a key twice in a file. No value is said: each may be
    # a key.
    tap = _with_env_file(tmp_path, f"TAP_APHEX_API_KEY={KEY}\nTAP_APHEX_PAGE_SIZE=5\n{lines}")

    run = tap("--config", "ENV", "--discover")

    if refused:
        assert run.returncode == 1, run.stderr
        assert log_lines(run.stderr, "ERROR") == [REFUSED_TWICE.format(tmp_path / ".env")]
    else:
        assert run.returncode == 0, run.stderr
        assert '"task_events"' in run.stdout
    assert KEY not in run.stderr
    assert OTHER not in run.stderr + run.stdout


def test_a_key_a_dotenv_file_set_that_the_api_refuses_is_said_to_come_from_the_file(
    tmp_path: Path,
) -> None:
    # The file's value wins over the shell's: "check TAP_APHEX_API_KEY" alone sent the user to a
    # shell where the key is right.
    with Simulator(seed=5, events=30, daily_quota=None, plan_projects=0) as sim:
        tap = _with_env_file(tmp_path, "TAP_APHEX_API_KEY=stale-key-from-dotenv\n")
        env = {"TAP_APHEX_API_KEY": sim.api_key, "TAP_APHEX_API_URL": sim.events_url}

        refused = tap("--config", "ENV", **env)

    assert refused.returncode == 1, refused.stderr
    said = log_lines(refused.stderr, "ERROR")[-1]  # the run's last line, after the stream's
    assert "Check `TAP_APHEX_API_KEY` (set by a `.env` file):" in said
    assert "stale-key" not in refused.stderr


def test_a_dotenv_line_python_dotenv_cannot_parse_is_one_warning_naming_the_file(
    tmp_path: Path,
) -> None:
    # python-dotenv warned at each of the file's loads (four in a run), naming only a line; the
    # "Nothing to read" that follows a key's line skipped was left unexplained.
    tap = _with_env_file(tmp_path, f'TAP_APHEX_API_KEY="{KEY}\nTAP_APHEX_PAGE_SIZE=5\n')

    run = tap("--config", "ENV")

    assert run.returncode == 1, run.stderr
    assert log_lines(run.stderr, "WARNING") == [  # python-dotenv's own: none
        f"`--config ENV`: python-dotenv cannot read line 1 of the `.env` file {tmp_path / '.env'}, "
        "and skips it: a variable set there is not set. Write each as NAME=value (a quoted value "
        "needs its closing quote)."
    ]
    (nothing,) = log_lines(run.stderr, "ERROR")
    assert nothing.startswith("Config: Nothing to read: set `api_key`")
    assert KEY not in run.stderr


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"LOGLEVEL=bogus", "ERROR: Config: `LOGLEVEL` must be DEBUG, INFO, WARNING or ERROR"),
        (b"TAP_APHEX_LOGLEVEL=Verbose", "ERROR: Config: `TAP_APHEX_LOGLEVEL` must be DEBUG,"),
        (
            b"LOGLEVEL=debug",
            "WARNING: `LOGLEVEL`, set by a `.env` file, comes too late for the log",
        ),
        (b"SINGER_SDK_LOG_CONFIG=/x.yml", "WARNING: `SINGER_SDK_LOG_CONFIG`, set by a `.env` file"),
        (
            b"\xff\xfeTAP_APHEX_API_KEY=x",
            "ERROR: Config: `--config ENV`: the `.env` file the SDK loads is ",
        ),
    ],
)
def test_a_dotenv_file_setting_what_the_log_reads_first_is_said(
    tmp_path: Path, line: bytes, expected: str
) -> None:
    # Logging is set up before the file is read: a level in it cannot apply (the SDK's metrics
    # logger read a bad one: "Unexpected ValueError"); a file python-dotenv cannot decode, too.
    tap = _with_env_file(tmp_path, "")
    (tmp_path / ".env").write_bytes(line + f"\nTAP_APHEX_API_KEY={KEY}\n".encode())

    run = tap("--config", "ENV", "--discover", LOGLEVEL="INFO")

    said = [
        f"{level}: {text}"
        for level in ("ERROR", "WARNING")
        for text in log_lines(run.stderr, level)
    ]
    assert [text for text in said if text.startswith(expected)], run.stderr
    assert run.returncode == (1 if expected.startswith("ERROR") else 0), run.stderr
    assert "Unexpected" not in run.stderr


def test_a_dotenv_file_the_tap_cannot_read_is_one_config_line_naming_it(tmp_path: Path) -> None:
    tap = _with_env_file(tmp_path, f"TAP_APHEX_API_KEY={KEY}\n")
    (tmp_path / ".env").chmod(0)
    if os.access(tmp_path / ".env", os.R_OK):
        pytest.skip("the tests' user reads any file (root): CI runs this as a user")

    refused = tap("--config", "ENV", "--discover")

    assert refused.returncode == 1, refused.stderr
    assert log_lines(refused.stderr, "ERROR") == [
        f"Config: `--config ENV`: the `.env` file {tmp_path / '.env'} cannot be read (Permission "
        "denied): let the tap's user read it, or remove it (docs/settings.md)."
    ]


def _with_env_file(folder: Path, text: str) -> t.Callable[..., subprocess.CompletedProcess[str]]:
    """`tap-aphex` run in ``folder``, with the SDK imported from below it, and a `.env` there:
    both SDKs' searches (its folder up, the working folder) find that file."""
    import singer_sdk

    site = folder / "site"
    site.mkdir()
    (site / "singer_sdk").symlink_to(Path(singer_sdk.__file__).parent, target_is_directory=True)
    (folder / ".env").write_text(text)

    def tap(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tap_aphex", *args],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), **env},
            cwd=folder,
            check=False,
        )

    return tap
