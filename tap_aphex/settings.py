"""The tap's settings (the user-facing contract) and the checks JSON Schema cannot express."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_aphex.client import DEFAULT_TIMEOUT_SECONDS, insecure_url_problem

DEFAULT_API_URL = "https://europe-west2-aphex-prod.cloudfunctions.net/apiTaskEventsV2"
DEFAULT_PUBLISHED_PLANS_LIMIT = 5

PROJECT = th.ObjectType(
    th.Property(
        "url",
        th.StringType,
        required=True,
        description="The project's API URL, exactly as its Integrations page shows it.",
    ),
    th.Property(
        "token",
        th.StringType,
        required=True,
        secret=True,
        description="A token generated on that page (tokens expire after 90 days).",
    ),
    th.Property("name", th.StringType, description="Optional label used in logs and records."),
)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        title="Data API key",
        description="The organisation's Data API key (Enterprise plan), sent as `x-api-key`. "
        "Enables the task_events and tasks streams.",
    ),
    th.Property(
        "api_url",
        th.StringType,
        default=DEFAULT_API_URL,
        title="Task events URL",
        description="The task-events endpoint. The V1 endpoint and "
        "https://api.aphex.co/taskEvents speak the same cursor protocol.",
    ),
    th.Property(
        "start_after",
        th.StringType,
        title="Start after event",
        description="Event id to start after when there is no state (default: the first event).",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1),
        title="Page size",
        description="Sent as `pageSize` only when set (the newer endpoint accepts it).",
    ),
    th.Property(
        "max_events_per_run",
        th.IntegerType(minimum=1),
        title="Max events per run",
        description="Stop cleanly after this many events, to stay within the daily quota.",
    ),
    th.Property(
        "projects",
        th.ArrayType(PROJECT),
        title="Published-plans projects",
        description="One entry per project: its API URL, a token, and an optional name. "
        "Enables the published_plans, published_plan_tasks and published_plan_statuses streams.",
    ),
    th.Property(
        "published_plans_limit",
        th.IntegerType(minimum=1),
        default=DEFAULT_PUBLISHED_PLANS_LIMIT,
        title="Published versions per request",
        description="Sent as `limit`: how many published versions to ask each project for.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=DEFAULT_TIMEOUT_SECONDS,
        title="Request timeout",
        description="Seconds to wait for a response before retrying.",
    ),
).to_dict()


def account_id(url: str) -> str:
    """The project's API account id: the last segment of ``.../power-bi/v1/<account_id>``."""
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]


def project_label(project: t.Mapping[str, t.Any]) -> str:
    """How logs name a project: its name, else its URL (never its token)."""
    return str(project.get("name") or project.get("url"))


def config_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """What is wrong with a config that its JSON schema accepts."""
    problems: list[str] = []
    projects = config.get("projects") or []
    if not config.get("api_key") and not projects:
        problems.append(
            "Nothing to read: set `api_key` (Data API: task_events, tasks) and/or `projects` "
            "(Published Plans API: published_plans and its tables)."
        )
    if config.get("api_key"):
        problem = insecure_url_problem(str(config.get("api_url", DEFAULT_API_URL)), "api_url")
        if problem:
            problems.append(problem)
    seen: set[str] = set()
    for project in projects:
        url = str(project.get("url", ""))
        problem = insecure_url_problem(url, f"projects[{project_label(project)}].url")
        if problem:
            problems.append(problem)
        if not account_id(url):
            problems.append(f"`projects[{project_label(project)}].url` has no account id: {url}")
        elif account_id(url) in seen:
            problems.append(f"`projects` lists the project {account_id(url)} twice.")
        seen.add(account_id(url))
    return problems


def without_value(message: str) -> str:
    """A config validation message with the offending value left out (it may be a secret).

    The SDK words them "<value> is not of type 'integer' in config['page_size']".
    """
    problem, _, where = message.rpartition(" in config")
    if not problem or problem.endswith(" is a required property"):
        return message  # no value in it
    for phrase, wording in (
        (" is not of type ", "must be of type "),
        (" is less than the minimum of ", "must be at least "),
        (" is greater than the maximum of ", "must be at most "),
        (" is not one of ", "must be one of "),
    ):
        if phrase in problem:
            return f"config{where}: {wording}{problem.split(phrase, 1)[1]}"
    return f"config{where}: invalid value (not shown, as it may be a secret)"
