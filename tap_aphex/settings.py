"""The tap's settings, the user-facing contract: their schema and defaults, where each was
set (`set_at`), its secrets (handed to `logs`), a project's id and label; the `TAP_APHEX_*`
variables that set them (the SDK guesses at `int(" 500 ")`, reads a typo as false), and a warning
per name that is no setting. What a config must hold beyond its schema: `config_checks`."""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import typing as t
from collections.abc import Mapping
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_aphex.decoding import (
    LONE_SURROGATE,
    KeyTwice,
    each_key_once,
    holds_lone_surrogate,
    readable,
)
from tap_aphex.logs import MIN_RUN_SECRET, printable, remember_secrets, safe_url
from tap_aphex.sdk_seam import batch_encoders

MAX_PAGE_SIZE = 4_000  # the Data API's documented limits
DAILY_QUOTA = 20_000  # "Organisations have a daily limit of 20,000 task events per day"

DEFAULT_API_URL = "https://europe-west2-aphex-prod.cloudfunctions.net/apiTaskEventsV2"
#: The vendor's task-event endpoints (the default, V1, `api.aphex.co`), casefolded: no key is in
#: them, whatever a key shares with them.
VENDOR_API_URLS = {
    DEFAULT_API_URL.casefold(),
    DEFAULT_API_URL.casefold().removesuffix("v2"),
    "https://api.aphex.co/taskevents",
}
DEFAULT_PUBLISHED_PLANS_LIMIT = 5
DEFAULT_MAX_PARALLEL_PROJECTS = 8  # polite to the vendor's fair use, and to memory (one doc each)
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
    th.Property(
        "name", th.StringType, description="Optional label for the project in logs (else its URL)."
    ),
)

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "api_key",
        th.StringType,
        secret=True,
        title="Data API key",
        description="The organisation's Data API key (Enterprise plan), sent as `x-api-key`. "
        "Enables the task_events, tasks and task_statuses streams.",
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
        th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
        title="Page size",
        description="Events per page, 1 to 4,000 (the API's cap). Sent as `pageSize` only when "
        "set (the newer endpoint accepts it).",
    ),
    th.Property(
        "max_events_per_run",
        th.IntegerType(minimum=1, maximum=1_000_000_000),  # a bound, not a policy
        title="Max events per run",
        description="Stop cleanly after this many events (the next run continues). The API counts "
        "every event of a page it served against the daily quota. With `page_size` set the last "
        "page asks only for the events left; without it, allow a page (up to 4,000) beyond this. "
        "At most 1,000,000,000.",
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
        th.IntegerType(minimum=1, maximum=1_000),  # `limit` grows up to it too
        default=DEFAULT_PUBLISHED_PLANS_LIMIT,
        title="Published versions per request",
        description="Sent as `limit`: how many published versions to ask each project for on "
        "later runs (a project's first run reads the whole history the API keeps). 1 to 1,000.",
    ),
    th.Property(
        "max_parallel_projects",
        th.IntegerType(minimum=1, maximum=64),
        default=DEFAULT_MAX_PARALLEL_PROJECTS,
        title="Projects downloaded at a time",
        description="How many projects' published plans are requested at the same time (each "
        "request is one document of up to 32 MB that the server builds before it answers). "
        "Records are still written one project after another, each followed by its STATE; "
        "memory grows with this number, not with the number of projects. 1 reads one project "
        "at a time. 1 to 64.",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1, maximum=86_400),  # a day; clocks overflow near 1e12
        default=300,
        title="Request timeout",
        description="Seconds a whole response may take, from sending the request to its last "
        "byte (a body that trickles in is cut off too); then the request is retried. 1 to "
        "86,400 (a day).",
    ),
    th.Property(
        "retry_budget_seconds",
        th.IntegerType(minimum=0, maximum=86_400),  # longer waits: the next scheduled run's
        default=600,
        title="Retry budget",
        description="Total seconds a stream may spend waiting between retries in one run (waits "
        "side by side count once); every wait is paid from it (`Retry-After`, the backoff, the "
        "Data API's 503 schedule). A wait past what is left (0.5 s of grace in all) is not waited: "
        "the stream ends (a Data API 503: the daily-limit stop). 0 never waits. 0 to 86,400 (a "
        "day).",
    ),
    th.Property(
        "metrics_log_level",
        th.StringType(allowed_values=["INFO", "DEBUG"]),
        default="DEBUG",
        title="METRIC lines' log level",
        description="The level of the SDK's METRIC lines (request durations, record counts): "
        "DEBUG (default) shows them only with `LOGLEVEL=DEBUG`; INFO shows them in every run.",
    ),
).to_dict()

#: The most records a BATCH file holds: far past what a target reads whole, short of `islice`'s.
LARGEST_BATCH = 1_000_000_000


def batch_limits() -> dict[str, t.Any]:
    """A schema of what the SDK's own leaves open in `batch_config` (0.55: any `format`) and its
    BATCH writer fails on only once pages were read (`config_checks` applies it)."""
    limits = {
        "batch_size": {"type": "integer", "minimum": 1, "maximum": LARGEST_BATCH},
        "encoding": {"properties": {"format": {"enum": batch_encoders()}}},
    }
    return {"properties": {"batch_config": {"properties": limits}}}


def set_at(where: str, variables: Mapping[str, str]) -> str:
    """``where`` (`projects[0].url`) as the variable that set it (`TAP_APHEX_PROJECTS[0].url`)."""
    setting = re.split(r"[.\[]", where, maxsplit=1)[0]
    return variables.get(setting, setting) + where[len(setting) :]


def secret_settings(config: Mapping[str, t.Any]) -> list[tuple[str, object]]:
    """The key and tokens, with where each is set (``projects[0].token``), of any config."""
    projects = config.get("projects")
    return [("api_key", config.get("api_key"))] + [
        (f"projects[{index}].token", project.get("token"))
        for index, project in enumerate(projects if isinstance(projects, list) else [])
        if isinstance(project, dict)
    ]


def config_secrets(*configs: Mapping[str, t.Any]) -> tuple[str, ...]:
    """The key and tokens of ``configs`` as `logs` keeps them for the run (long enough to hide)."""
    values = (value for config in configs for _, value in secret_settings(config))
    return tuple(sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_RUN_SECRET}))


def remember_config_secrets(*configs: Mapping[str, t.Any]) -> None:
    """Hand the key and tokens of ``configs`` (files, variables) to `logs`, so no message can
    quote them."""
    remember_secrets(*config_secrets(*configs))


PLANS_PATH = "/power-bi/v1"  # what a project's URL holds before its account id


def account_id(url: str) -> str:
    """The project's API account id: the last segment of ``.../power-bi/v1/<account_id>``; ""
    for none (the URL ends at ``/power-bi/v1``, or has no path)."""
    path = urlsplit(url).path.rstrip("/")
    return "" if path.lower().endswith(PLANS_PATH) else path.rsplit("/", 1)[-1]


def project_label(project: Mapping[str, t.Any]) -> str:
    """How logs name a project: its name, else its URL (no token nor query value), cut short."""
    return readable(str(project.get("name") or safe_url(str(project.get("url")))), 80)


class EnvRead(t.NamedTuple):
    """The `<prefix>*` variables, read once: the setting each sets (`--config ENV` puts it over
    the files'), a line per value the SDK would misread, a warning per unknown name, and the key
    and projects (with their tokens), as far as they read, for `logs` to hide before any check."""

    variables: dict[str, str]
    problems: list[str]
    unknown: list[str]
    secrets: dict[str, t.Any]


def read_env(
    schema: dict[str, t.Any],
    prefix: str,
    env: Mapping[str, str],
    from_file: t.Collection[str] = (),
) -> EnvRead:
    """``from_file``: the variables a `.env` file set (`sdk_seam.load_env_file`), said as such."""
    settings = schema["properties"]
    names = {name: prefix + name.upper().replace("-", "_") for name in settings}
    variables = {name: variable for name, variable in names.items() if variable in env}
    problems = [
        f"`{variable}`{' (set by a `.env` file)' if variable in from_file else ''} {problem}."
        for name, variable in variables.items()
        if (problem := _env_problem(name, settings[name], env[variable]))
    ]
    # The SDK reads its LOGLEVEL too; Meltano's own (`TAP_APHEX__SELECT`...) have a second `_`.
    known = [name.removeprefix(prefix) for name in names.values()] + ["LOGLEVEL"]
    given = [name.removeprefix(prefix) for name in sorted(env) if name.startswith(prefix)]
    ours = [name for name in given if not name.startswith("_")]
    unknown = _unknown("environment variable", ours, known, f"`{prefix}{{}}`")
    secrets: dict[str, t.Any] = {"api_key": env.get(f"{prefix}API_KEY")}
    with contextlib.suppress(ValueError, RecursionError):  # unreadable: `problems` says so
        secrets["projects"] = json.loads(env.get(f"{prefix}PROJECTS", "null"))
    return EnvRead(variables, problems, unknown, secrets)


def _env_problem(name: str, setting: dict[str, t.Any], value: str) -> str | None:
    types = setting.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "string" in types and not value.strip():  # named here, as the variable, not the setting
        return f"is empty: unset it to leave `{name}` unset, or set a value"
    said = printable(readable(json.dumps(value), 40))  # a number's, a flag's
    if holds_lone_surrogate(value):  # a byte no UTF-8 has, as Python reads the environment
        said = f"a value holding {LONE_SURROGATE}"
    if "integer" in types and not re.fullmatch("-?[0-9]+", value):  # no spaces, `_` nor `+`
        return f"must be a whole number (digits only, no spaces), not {said}"
    # What the SDK reads as true (all else is false to it, typos included), and their opposites.
    if "boolean" in types and not re.fullmatch("(?ai)true|1|yes|on|false|0|no|off", value):
        return f"must be true or false (or 1/0, yes/no, on/off), not {said}"
    if {"array", "object"}.isdisjoint(types):
        return None
    try:
        parsed = json.loads(value, object_pairs_hook=each_key_once)
    except KeyTwice as twice:  # as in a file (`inputs.read_json`)
        return f"holds {printable(str(twice), limit=160)}: keep one"
    except json.JSONDecodeError as error:
        kind = "an array [...]" if "array" in types else "an object {...}"
        return f"must be JSON, {kind} ({error.msg.removesuffix(' at')} at character {error.pos})"
    except RecursionError:
        return "is nested too deep to read"
    except ValueError:  # an integer of more digits than Python reads
        return "has an integer too long to read"
    return f"is null: unset it to leave `{name}` unset" if parsed is None else None


def unknown_settings(
    config: Mapping[str, t.Any], schema: dict[str, t.Any], variables: Mapping[str, str]
) -> list[str]:
    """A warning per setting the tap does not know (a typo is ignored otherwise), with a guess."""
    warnings = _unknown("setting", list(config), list(schema["properties"]), "`{}`")
    known = list(PROJECT.to_dict()["properties"])
    for index, project in enumerate(config.get("projects") or []):
        if isinstance(project, dict):
            spelt = f"`{set_at(f'projects[{index}]', variables)}.{{}}`"
            warnings += _unknown("setting", list(project), known, spelt)
    return warnings


def _unknown(kind: str, given: list[str], known: list[str], spelt: str) -> list[str]:
    """A warning per name ``given`` not ``known``, spelt as the user wrote it, with a guess."""
    warnings = []
    for name in (name for name in given if name not in known):
        if holds_lone_surrogate(name):  # never shown (a config's is refused too: `config_checks`)
            warnings.append(f"Unknown {kind} whose name holds {LONE_SURROGATE} is ignored")
            continue
        close = difflib.get_close_matches(name, known, n=1)
        guess = f"; did you mean {spelt.format(close[0])}?" if close else ""
        warnings.append(f"Unknown {kind} {spelt.format(name)} is ignored{guess}")
    return warnings
