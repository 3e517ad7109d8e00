"""What a config must hold beyond what its schema says, each problem one line naming where it
was set (`set_at`), quoting no secret: texts a request can carry as they are, URLs without
credentials, projects told apart, something to read; and the SDK's built-in settings that the SDK
itself checks only once pages are read (`batch_config`) or never (a map naming no stream)."""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import re
import typing as t
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

import fsspec  # type: ignore[import-untyped]  # the SDK's BATCH storage (loaded already)

from tap_aphex.decoding import LONE_SURROGATE, described, holds_lone_surrogate, readable
from tap_aphex.inputs import schema_problems
from tap_aphex.logs import printable, safe_url, secret_forms, url_credentials, without_secrets
from tap_aphex.sdk_seam import batch_config_from
from tap_aphex.settings import (
    DEFAULT_API_URL,
    PLANS_PATH,
    VENDOR_API_URLS,
    account_id,
    batch_limits,
    config_secrets,
    secret_settings,
    set_at,
)

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
    secrets = config_secrets(config)  # as `logs` keeps them for the run: its search is built once
    api_url = str(config.get("api_url", DEFAULT_API_URL))
    if not config.get("api_key"):
        pass  # not requested: nothing to say of it
    elif problem := _url_problem(api_url):
        problems.append(f"`{set_at('api_url', variables)}` {problem}")
    elif api_url.rstrip("/").casefold() not in VENDOR_API_URLS and _holds_secret(api_url, secrets):
        problems.append(
            f"`{set_at('api_url', variables)}` holds a key or token, which would travel in every "
            "request's URL and be logged: the URL is the Data API's endpoint as its documentation "
            "gives it, the key goes in `api_key`."
        )
    urls = [api_url] * bool(config.get("api_key")) + [p["url"] for p in projects]
    problems += _ca_bundle_problems(urls)
    accounts: set[str] = set()
    names: set[str] = set()
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
                f"`{where}` names no project (no account id after `{PLANS_PATH}/`): copy the URL "
                f"again from the project's Integrations page, not {safe_url(url)}"
            )
        elif account in accounts:
            problems.append(f"`{listed}` lists the project {account} twice.")
        else:
            accounts.add(account)
        name = project.get("name") or ""  # the schema's: a string, or null
        told = " ".join(name.split()).casefold()
        if told and told in names:
            problems.append(
                f"`{listed}` names two projects `{readable(name, 40)}` (the log tells projects by "
                "name, whatever their case and spaces): give each its own."
            )
        names.add(told)
    return problems


def ca_bundle() -> tuple[str, str] | None:
    """The CA bundle the environment names, as requests reads it: the variable, and its path."""
    names = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
    return next(((name, os.environ[name]) for name in names if os.environ.get(name)), None)


def _ca_bundle_problems(urls: list[str]) -> list[str]:
    """A CA bundle variable naming nothing, where a URL is https (requests reads it then only,
    and would fail each request with an OSError)."""
    https = any(url.lower().startswith("https://") for url in urls)
    if not https or (named := ca_bundle()) is None or os.path.exists(named[1]):
        return []
    name, bundle = named
    return [
        f"`{name}` names {readable(bundle, 80)}, which does not exist: point it at the CA bundle "
        "(a PEM file, or a folder of them) that verifies the APIs' certificates, or unset it"
    ]


def _holds_secret(url: str, secrets: t.Iterable[str]) -> bool:
    """Whether ``url`` holds a whole key or token, in any form (escaped, encoded). Not 8 of its
    characters, as a project's URL may not (the log would hide them): the vendor's endpoint, the
    default, may share that much with a key by chance."""
    texts = (url.casefold(), unquote(url).casefold())  # any character percent-encoded, too
    return any(f.casefold() in text for s in secrets for f in secret_forms(s) for text in texts)


def _nothing_to_read(
    config: Mapping[str, t.Any], variables: Mapping[str, str], unread: t.Sequence[str]
) -> str:
    key, listed = (f"`{set_at(name, variables)}`" for name in ("api_key", "projects"))
    data_api = "(Data API: task_events, tasks, task_statuses)"
    plans_api = "(Published Plans API: published_plans and its tables)"
    said = f"Nothing to read: set {key} {data_api} and/or {listed} {plans_api}."
    if config.get("projects") == []:  # set, to nothing
        said = (
            f"Nothing to read: {listed} is empty and {key} is not set; list a project (its `url` "
            f"and `token`) in {listed} {plans_api} and/or set {key} {data_api}."
        )
    if unread:  # what the user set, where this run does not look
        names = ", ".join(f"`{name}`" for name in unread[:3]) + (", ..." if unread[3:] else "")
        said += (
            f" {names} {'is' if len(unread) == 1 else 'are'} set, but `TAP_APHEX_*` variables "
            "are read only with `--config ENV` (beside any config file)."
        )
    return said


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
        if said := _text_problem(text, rules.get(where)):
            yield where, said


def _text_problem(text: str, rule: tuple[str, re.Pattern[str], str] | None) -> str | None:
    if rule:
        if_empty, forbidden, holds = rule
        if not text.strip():
            return f"is empty{if_empty}"
        if text != text.strip():
            return _SPACED
        if forbidden.search(text):  # a key's or token's forbids lone surrogates too
            return f"holds {holds}"
    return f"holds {LONE_SURROGATE}: retype it." if holds_lone_surrogate(text) else None


def cursor_problem(text: str) -> str | None:
    """Why ``text`` (`start_after`, a state's bookmark) cannot be sent as `startAfter`, or None."""
    return _text_problem(text, _START_AFTER)


def _url_problem(url: str) -> str | None:
    """Why ``url`` must not be used (credentials in it, or not https), after the setting's name."""
    if holds_lone_surrogate(url):
        return None  # the text check names it, never showing it: the URL is not shown either
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


def batch_config_problems(config: Mapping[str, t.Any], variables: Mapping[str, str]) -> list[str]:
    """A `batch_config` that would fail only once pages were read (its schema checks `format`)."""
    if not (raw := config.get("batch_config")):
        return []
    where = set_at("batch_config", variables)
    # The SDK writes BATCH files from the records as read, never through the record path that
    # applies them; the SCHEMA would still say they were applied (a map dropping a field, too).
    if applied := [name for name in ("stream_maps", "flattening_enabled") if config.get(name)]:
        names = " and ".join(f"`{set_at(name, variables)}`" for name in applied)
        unapplied = "the SDK writes BATCH files without applying them. Use one or the other."
        return [f"`{where}` with {names} is not supported: {unapplied}"]
    if problems := schema_problems(batch_limits(), config, variables):
        return problems
    try:  # a key missing or unknown (TypeError), an `encoding` or a `storage` that is null
        batch = batch_config_from(raw)
        kind, compression = str(batch.encoding.format), batch.encoding.compression
        root, prefix = os.fspath(batch.storage.root), batch.storage.prefix or ""
    except (TypeError, AttributeError) as error:
        needs = "`encoding` (`format`, `compression`) and `storage` (`root`)"
        return [f"`{where}` cannot be read ({type(error).__name__}): it needs {needs}"]
    # The SDK's jsonl files are gzip whatever `compression` says, which its BATCH messages repeat.
    if kind == "jsonl" and compression != "gzip":
        gzips = "the SDK writes gzip files, and a target reads them as its BATCH messages say"
        return [
            f'`{where}.encoding.compression` must be "gzip" for jsonl ({gzips}), not '
            f"{described(compression)}"
        ]
    # The SDK imports pyarrow only when it writes the first such file, too late to refuse.
    if kind in ("arrow", "parquet") and importlib.util.find_spec("pyarrow") is None:
        install = "install it where the tap runs (`pip install pyarrow`), or use format `jsonl`"
        return [f"`{where}`: format `{kind}` needs the package `pyarrow`, not installed; {install}"]
    scheme = fsspec.utils.get_protocol(root)  # `file` when it names none
    try:
        filesystem = fsspec.get_filesystem_class(scheme)
    except ImportError as error:
        missing = printable(str(error), limit=120)
        return [f"`{where}`: storage root `{scheme}://` needs a package not installed ({missing})"]
    except ValueError:
        return [f"`{where}`: storage root `{scheme:.20}://` is no filesystem fsspec knows"]
    # The SDK makes the root's folders, not the prefix's: a `/` in it fails at the first file.
    if "/" in prefix or os.sep in prefix:
        return [f"`{where}.storage.prefix` must be the start of a file name, without `/`"]
    if scheme == "file":  # a local root that cannot take files fails only after pages were read
        folder = Path(filesystem._strip_protocol(root))  # fsspec's reading of it
        # The nearest folder that exists: the SDK makes the rest.
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            problem = "cannot be written in" if existing.is_dir() else "is a file"
            named = "" if existing == folder else f" (its folder {readable(str(existing), 60)})"
            return [
                f"`{where}.storage.root` {readable(str(folder), 80)}{named} {problem}: give a "
                "folder the tap can write BATCH files in"
            ]
    return []
