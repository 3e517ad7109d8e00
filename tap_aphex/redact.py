"""Text that is safe to print: URLs without credentials or query values, bodies without secrets."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

#: A URL inside free text (a log line, an exception message), up to its first space or quote,
#: or a bare path with a query (urllib3 logs `"GET /path?query HTTP/1.1"`).
_URL_IN_TEXT = re.compile(r"""(?i)https?://[^\s'"<>]+|[^\s'"<>?]*\?[^\s'"<>]+""")
_QUERY_VALUE = re.compile(r"=[^&#\s'\"]*")
#: A `;name=value` path parameter (RFC 3986 allows them in every segment): its value, or a bare one.
_PATH_PARAM = re.compile(r";([^/;=?#]*)(=[^/;?#]*)?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]+")
_REDACTED = "…"

#: The run's keys and tokens, once read from the config (`remember_secrets`): `run_secrets()`
#: hands them to every message that quotes an error we did not word ourselves.
_KNOWN_SECRETS: set[str] = set()
MIN_RUN_SECRET = 6


def without_userinfo(url: str) -> str:
    """``url`` without ``user:password@``, found as text: works on URLs urllib cannot parse.

    The authority runs from ``//`` to the next ``/``, ``?`` or ``#``; everything in it up to its
    last ``@`` is userinfo (a password may itself hold an ``@``).
    """
    scheme, slashes, rest = url.partition("//")
    if not slashes:
        return url
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0], default=len(rest))
    authority = rest[:end]
    return scheme + slashes + authority.rpartition("@")[2] + rest[end:]


def safe_url(url: str) -> str:
    """``url`` without ``user:password@``, its query and ``;param`` values replaced by "…"."""
    url = without_userinfo(url)  # first, as text: whatever else is wrong with the URL
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a URL we can take apart: show none of its query nor parameters
        return re.split(r"[?;#]", url, maxsplit=1)[0]
    netloc = f"[{host}]{port}" if ":" in host else f"{host}{port}"
    path = _PATH_PARAM.sub(_param_without_value, parts.path)
    query = _QUERY_VALUE.sub("=" + _REDACTED, parts.query)
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _param_without_value(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if not name and value is None:
        return ";"  # a bare `;` (prose after a URL) carries nothing
    return f";{name}={_REDACTED}" if value is not None else f";{_REDACTED}"


def url_credentials(url: str) -> str | None:
    """What in ``url`` carries credentials (``user:password@``, a query, ``;`` parameters)."""
    if without_userinfo(url) != url:
        return "a user name or password (user:password@)"
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.query:
        return "a query string"
    if ";" in parts.path:
        return "path parameters (;name=value)"
    return None


def without_query_values(text: str) -> str:
    """``text`` with the query values of every URL in it replaced by "…" (credentials dropped)."""
    if "?" not in text and "@" not in text and ";" not in text:
        return text  # the common case, kept cheap: log filters call this for every line
    return _URL_IN_TEXT.sub(lambda match: _safe_fragment(match.group(0)), text)


def _safe_fragment(fragment: str) -> str:
    if "://" not in fragment:  # a path with a query, as urllib3 logs it
        path, _, query = fragment.partition("?")
        return f"{path}?{_QUERY_VALUE.sub('=' + _REDACTED, query)}"
    return safe_url(fragment)


def remember_secrets(*secrets: object) -> None:
    """The keys and tokens of the run's config (strings only), for `run_secrets`; replaces any
    earlier config's. Ones shorter than `MIN_RUN_SECRET` are left out: hiding every "k" in a
    message would garble it, and no real Aphex key or token is that short."""
    _KNOWN_SECRETS.clear()
    _KNOWN_SECRETS.update(s for s in secrets if isinstance(s, str) and len(s) >= MIN_RUN_SECRET)


def secret_forms(secret: str) -> list[str]:
    """The ways a secret can appear in a message: as is, and escaped as repr() and bytes show it.

    An error that quotes a value (`Invalid header value b'K3Y\\nZZQ'`) shows it escaped, so
    removing only the raw value would leave the escaped one readable. Longest first.
    """
    forms = {
        secret,
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        repr(secret.encode("latin-1", "backslashreplace"))[2:-1],
    }
    return sorted((form for form in forms if form), key=len, reverse=True)


def run_secrets() -> tuple[str, ...]:
    """The keys and tokens of the configs read in this process (`remember_secrets`)."""
    return tuple(_KNOWN_SECRETS)


def without_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every form (`secret_forms`) of each of ``secrets`` hidden."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            for form in secret_forms(secret):
                text = text.replace(form, _REDACTED)
    return text


def printable(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """``text`` on one line: control characters gone, ``secrets`` and URL query values hidden."""
    text = without_secrets(text, secrets)
    text = _CONTROL.sub(" ", without_query_values(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + _REDACTED
