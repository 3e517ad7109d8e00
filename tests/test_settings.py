"""The settings checks, one table per rule: what is refused, what is warned about, and the words."""

from __future__ import annotations

import typing as t

import pytest

from tap_aphex.redact import printable, safe_url, without_query_values
from tap_aphex.settings import (
    CONFIG_SCHEMA,
    config_problems,
    env_problems,
    schema_problems,
    setting_path,
    unknown_settings,
)

KEY = "k3y-s3cr3t-value"
TOKEN = "pbi_t0ken-s3cr3t"
PROJECT = "https://app.aphex.co/power-bi/v1/acc0unt"


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"page_size": 0}, "config['page_size']: must be at least 1"),
        ({"page_size": 4_001}, "config['page_size']: must be at most 4000"),
        ({"page_size": "abc"}, "config['page_size']: must be of type 'integer'"),
        ({"api_key": 123456789}, "config['api_key']: must be of type 'string'"),
        ({"projects": [{"url": PROJECT}]}, "config['projects'][0]: 'token' is required"),
        ({"projects": [{"token": 987654321, "url": PROJECT}]}, "must be of type 'string'"),
        ({"metrics_log_level": "LOUD"}, "must be one of 'INFO', 'DEBUG'"),
        ({"retry_budget_seconds": -1}, "config['retry_budget_seconds']: must be at least 0"),
    ],
)
def test_schema_problems_say_where_and_what_without_the_value(
    config: dict[str, t.Any], expected: str
) -> None:
    problems = schema_problems(CONFIG_SCHEMA, config)

    assert any(expected in problem for problem in problems), problems
    for value in _scalars(config):
        assert all(str(value) not in problem for problem in problems if str(value) != "1")


@pytest.mark.parametrize("page_size", [1, 2_000, 4_000])
def test_page_sizes_the_api_allows_are_accepted(page_size: int) -> None:
    assert schema_problems(CONFIG_SCHEMA, {"api_key": KEY, "page_size": page_size}) == []


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
        ({}, "Nothing to read: set `api_key`"),
        (
            {"projects": [{"url": PROJECT, "token": "a"}, {"url": PROJECT + "/", "token": "b"}]},
            "`projects` lists the project acc0unt twice.",
        ),
    ],
)
def test_config_problems_name_the_setting_and_never_show_a_secret(
    config: dict[str, t.Any], expected: str
) -> None:
    problems = config_problems(config)

    assert any(expected in problem for problem in problems), problems
    assert not any(KEY in problem or TOKEN in problem for problem in problems), problems


@pytest.mark.parametrize(
    "config",
    [
        {"api_key": KEY},
        {"api_key": KEY, "api_url": "http://127.0.0.1:8080/apiTaskEventsV2"},
        {"projects": [{"url": PROJECT, "token": TOKEN, "name": "Site A"}]},
    ],
)
def test_a_good_config_has_no_problem(config: dict[str, t.Any]) -> None:
    assert schema_problems(CONFIG_SCHEMA, config) == []
    assert config_problems(config) == []


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
    assert unknown_settings(config, CONFIG_SCHEMA) == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (
            {"TAP_APHEX_PAGE_SIZE": "abc"},
            ["Environment variable TAP_APHEX_PAGE_SIZE must be a whole number."],
        ),
        ({"TAP_APHEX_PAGE_SIZE": "100"}, []),
        ({"TAP_APHEX_API_KEY": "abc"}, []),  # a string: nothing to convert
        ({"OTHER_PAGE_SIZE": "abc"}, []),
    ],
)
def test_env_values_the_sdk_could_not_convert_are_named(
    environ: dict[str, str], expected: list[str]
) -> None:
    assert env_problems(CONFIG_SCHEMA, "TAP_APHEX_", environ) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [(["projects", 0, "token"], "projects[0].token"), (["api_key"], "api_key"), ([], "")],
)
def test_setting_paths_read_as_users_write_them(path: list[object], expected: str) -> None:
    assert setting_path(path) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://u:p@example.com/a?token=x&b=2", "https://example.com/a?token=…&b=…"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("http://[::1]:80/a?x=1", "http://[::1]:80/a?x=…"),
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


def _scalars(value: object) -> t.Iterator[object]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _scalars(item)
    elif isinstance(value, list):
        for item in value:
            yield from _scalars(item)
    elif not isinstance(value, str) or len(value) > 3:
        yield value
