"""The tap's settings (the user-facing contract) and the checks JSON Schema cannot express."""

from __future__ import annotations

import ipaddress
import re
import typing as t
from collections.abc import Mapping
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_aphex.decoding import readable
from tap_aphex.logs import MIN_RUN_SECRET, safe_url, url_credentials, without_secrets

MAX_PAGE_SIZE = 4_000  # the Data API's documented limits
DAILY_QUOTA = 20_000  # "Organisations have a daily limit of 20,000 task events per day"

DEFAULT_API_URL = "https://europe-west2-aphex-prod.cloudfunctions.net/apiTaskEventsV2"
DEFAULT_PUBLISHED_PLANS_LIMIT = 5
DEFAULT_MAX_PARALLEL_PROJECTS = 8  # polite to the vendor's fair use, and to memory (one doc each)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE = "holds a lone UTF-16 surrogate (half an emoji, or a byte no UTF-8 has): retype it."
#: Surrounding whitespace is refused, not silently stripped (a value is sent as it is set).
_SPACED = "has spaces or a line break around it (a copied newline?); remove them where it is set."
#: A key's or token's rule, as `start_after`'s: (said after "is empty", forbidden, after "holds").
_KEY_OR_TOKEN = (
    "; set it as Aphex shows it.",
    re.compile(r"[^\x20-\x7e\xa0-\xff]"),  # an HTTP header value: Latin-1, no control characters
    "a character an HTTP header cannot carry (a line break, a control character, or one outside "
    "Latin-1 such as '€'); set it exactly as Aphex shows it.",
)
# Empty is not unset: a run that silently started from the first event would re-send (and spend
# quota on) the whole log. Unset is the setting left out (or null).
_START_AFTER = (
    " or blank: remove it to start from the first event, or set an eventId.",
    re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]"),  # and the line separators
    "a control character (an escape code, a tab), which no eventId has; set it to the eventId "
    "exactly as you received it.",
)

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
        description="Total seconds a stream may spend waiting between retries in one run; every "
        "wait is paid from it (`Retry-After`, the backoff, the Data API's 503 schedule). A wait "
        "longer than what is left is not waited: the stream ends (a Data API 503: the daily-"
        "limit stop). 0 never waits. 0 to 86,400 (a day).",
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


def config_problems(
    config: Mapping[str, t.Any],
    variables: Mapping[str, str],
    *,
    streams_required: bool = True,
    unread: t.Sequence[str] = (),
) -> list[str]:
    """What is wrong with a config its schema accepts, where it was set, quoting no secret;
    ``unread``: `TAP_APHEX_*` variables set, not read (no `--config ENV`)."""
    problems = [  # a key is told by the object holding it: a setting's name, by none
        f"`{set_at(where, variables)}` {said}" if where else f"A setting's name {said}"
        for where, said in _text_problems(config)
    ]
    projects = config.get("projects") or []
    if streams_required and not config.get("api_key") and not projects:
        problems.append(_nothing_to_read(config, variables, unread))
    listed = set_at("projects", variables)
    # As `logs` keeps them for the run (the same set: its search is built once).
    keys = (value for _, value in secret_settings(config))
    secrets = tuple(v for v in keys if isinstance(v, str) and len(v) >= MIN_RUN_SECRET)
    api_url = str(config.get("api_url", DEFAULT_API_URL))
    if not config.get("api_key"):
        pass  # not requested: nothing to say of it
    elif problem := _url_problem(api_url):
        problems.append(f"`{set_at('api_url', variables)}` {problem}")
    elif without_secrets(api_url, secrets) != api_url:  # any form, or 8 characters, of one
        problems.append(
            f"`{set_at('api_url', variables)}` holds a key or token, which would travel in every "
            "request's URL and be logged: the URL is the Data API's endpoint as its documentation "
            "gives it, the key goes in `api_key`."
        )
    accounts: set[str] = set()
    names: set[str | None] = set()
    for index, project in enumerate(projects):
        url, where = project["url"], f"{listed}[{index}].url"
        if problem := _url_problem(url):
            problems.append(f"`{where}` {problem}")
        elif without_secrets(url, secrets) != url:  # any form, or 8 characters, of one
            problems.append(
                f"`{where}` holds a key or token, which would be logged and kept in the state "
                "with the project's id: the URL is the one the Integrations page shows, the "
                "token goes in `token`."
            )
        elif not (account := account_id(url)):
            problems.append(
                f"`{where}` names no project (no account id after `{_PLANS_PATH}/`): copy the URL "
                f"again from the project's Integrations page, not {safe_url(url)}"
            )
        elif account in accounts:
            problems.append(f"`{listed}` lists the project {account} twice.")
        else:
            accounts.add(account)
        name = project.get("name")
        told = " ".join(name.split()).casefold() if isinstance(name, str) else None
        if told and told in names:
            problems.append(
                f"`{listed}` names two projects `{readable(name, 40)}` (the log tells projects by "
                "name, whatever their case and spaces): give each its own."
            )
        names.add(told)
    return problems


def _nothing_to_read(
    config: Mapping[str, t.Any], variables: Mapping[str, str], unread: t.Sequence[str]
) -> str:
    key, listed = (f"`{set_at(name, variables)}`" for name in ("api_key", "projects"))
    data_api = "(Data API: task_events, tasks, task_statuses)"
    plans_api = "(Published Plans API: published_plans and its tables)"
    if config.get("projects") == []:  # set, to nothing
        said = (
            f"Nothing to read: {listed} is empty and {key} is not set; list a project (its `url` "
            f"and `token`) in {listed} {plans_api} and/or set {key} {data_api}."
        )
    else:
        said = f"Nothing to read: set {key} {data_api} and/or {listed} {plans_api}."
    if unread:  # what the user set, where this run does not look
        names = ", ".join(f"`{name}`" for name in unread[:3]) + (", ..." if unread[3:] else "")
        said += (
            f" {names} {'is' if len(unread) == 1 else 'are'} set, but `TAP_APHEX_*` variables "
            "are read only with `--config ENV` (beside any config file)."
        )
    return said


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


def _text_problems(config: Mapping[str, t.Any]) -> t.Iterator[tuple[str, str]]:
    """Texts that cannot be sent as they are, never shown (the HTTP library's error would print a
    whole key): a key, token or `start_after` by its rule; anywhere, a lone UTF-16 surrogate (JSON
    can write ``"\\ud83d"``, a variable an undecodable byte), which nothing can carry."""
    rules = {where: _KEY_OR_TOKEN for where, _ in secret_settings(config)}
    rules["start_after"] = _START_AFTER
    texts, pending = [], [("", t.cast("object", config))]
    while pending:  # every text, a key's where its mapping is
        where, value = pending.pop()
        if isinstance(value, str):
            texts.append((where, value))
        elif isinstance(value, Mapping):  # the SDK's config is a read-only mapping
            pending += [(f"{where}.{key}".lstrip("."), item) for key, item in value.items()]
            texts += [(where, str(key)) for key in value]
        elif isinstance(value, list):
            pending += [(f"{where}[{index}]", item) for index, item in enumerate(value)]
    for where, text in sorted(texts):
        rule = rules.get(where)
        if rule and (said := _rule_problem(text, rule)):
            yield where, said
        if rule is not _KEY_OR_TOKEN and _LONE_SURROGATE.search(text):  # else: its rule's to say
            yield where, _SURROGATE


def _rule_problem(text: str, rule: tuple[str, re.Pattern[str], str]) -> str | None:
    if_empty, forbidden, holds = rule
    if not text.strip():
        return f"is empty{if_empty}"
    if text != text.strip():
        return _SPACED
    return f"holds {holds}" if forbidden.search(text) else None


def cursor_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent as `startAfter` (`start_after`'s rule, whatever holds it: a
    state's bookmark too), after its name; None: it can."""
    said = _rule_problem(text, _START_AFTER)
    return said or (_SURROGATE if _LONE_SURROGATE.search(text) else None)


def _url_problem(url: str) -> str | None:
    """Why ``url`` must not be used (credentials in it, or not https), after the setting's name."""
    if credentials := url_credentials(url):
        return (
            f"carries {credentials}, which would be sent and logged with every request: remove it "
            f"({re.split('[?;]', safe_url(url), maxsplit=1)[0]}). The key or token has its own "
            "setting."
        )
    if url != url.strip():
        return _SPACED
    try:
        parts = urlsplit(url)
        if parts.port == 0:
            return "has port 0, on which no server answers: write the API's port."
    except ValueError as error:  # also a port that is not a number from 0 to 65535
        return (
            f"is not a URL the tap can read ({error}); write it as https://host/path, not "
            f"{safe_url(url)}"
        )
    if parts.fragment or url.endswith("#"):
        return f"has a #fragment, which is never sent; remove it: {safe_url(url)}"
    if not (parts.scheme and parts.hostname):  # ("http://" too) Perhaps a key: never shown.
        return "must be an https:// URL (this one has no scheme or no host)"
    # Plain http only for the bundled simulator: elsewhere it sends credentials in clear text.
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return (
            f"uses plain http:// for a host that is not loopback ({parts.hostname}); it would "
            "send credentials in clear text. Use https://."
        )
    if parts.scheme not in ("http", "https"):
        return f"must be an https:// URL, got {safe_url(url)!r}"
    return None


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_PLANS_PATH = "/power-bi/v1"  # what a project's URL holds before its account id


def account_id(url: str) -> str:
    """The project's API account id: the last segment of ``.../power-bi/v1/<account_id>``; ""
    for none (the URL ends at ``/power-bi/v1``, or has no path)."""
    path = urlsplit(url).path.rstrip("/")
    return "" if path.lower().endswith(_PLANS_PATH) else path.rsplit("/", 1)[-1]


def project_label(project: Mapping[str, t.Any]) -> str:
    """How logs name a project: its name, else its URL (no token nor query value), cut short."""
    return readable(str(project.get("name") or safe_url(str(project.get("url")))), 80)
