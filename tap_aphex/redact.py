"""Text that is safe to print: URLs without credentials or query values, bodies without secrets."""

from __future__ import annotations

import base64
import functools
import re
import typing as t
from urllib.parse import quote, quote_plus, urlsplit, urlunsplit

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
_RUN_SECRETS: tuple[str, ...] = ()
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
    global _RUN_SECRETS  # one run's secrets, read by every message
    kept = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_RUN_SECRET}
    _RUN_SECRETS = tuple(sorted(kept))
    _redactor(_RUN_SECRETS)  # its regex built now, once, not on the first message


def secret_forms(secret: str) -> list[str]:
    """The ways a secret can appear in a message; longest first.

    - as is, and escaped as repr() and bytes show it: an error that quotes a value
      (`Invalid header value b'K3Y\\nZZQ'`) shows it escaped;
    - base64, standard and URL-safe, with and without padding, at each of the three alignments
      (a server echoing `base64("user:" + key)`, or Basic auth, encodes the key from an offset);
    - percent-encoded, as `quote` (all reserved characters, or `/` kept) and `quote_plus` do,
      with upper- or lower-case hex digits.

    Any `MIN_FRAGMENT` characters of any of these are hidden too (`without_secrets`).
    """
    escaped = {
        secret,
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        repr(secret.encode("latin-1", "backslashreplace"))[2:-1],
    }
    raw = secret.encode("utf-8", "surrogatepass")
    encoded: set[str] = set()
    for start in range(min(3, len(raw))):
        # From `start`, the encoding lines up with the secret's bytes as some longer text
        # (`user:key`) would encode them; its last group differs with what follows, so only
        # whole groups are kept, and fragments of them are caught by `MIN_FRAGMENT`.
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(raw[start:]).decode("ascii")
            encoded |= {text, text.rstrip("=")}
    percent = {quote(raw, safe=""), quote(raw), quote_plus(raw)}
    percent |= {_LOWER_HEX.sub(lambda m: m.group(0).lower(), form) for form in percent}
    forms = escaped | encoded | percent
    return sorted((form for form in forms if form), key=len, reverse=True)


_LOWER_HEX = re.compile(r"%[0-9A-F]{2}")

#: Any run of this many characters of a secret (in any of its forms) is hidden: a server echoing
#: the first characters of a key, or a 403 quoting a prefix, gives away no more than 7 of them,
#: and 8 characters of a random key do not occur in ordinary text by chance.
MIN_FRAGMENT = 8


class _Redactor:
    """Hides every form of some secrets, and every run of `MIN_FRAGMENT` characters of one.

    One compiled regex finds the leftmost place where any `MIN_FRAGMENT`-character piece of any
    form begins (a trie of the pieces, so that matching costs the same however many secrets and
    forms there are); from there the hidden span grows as far as the text goes on matching that
    form. A form shorter than `MIN_FRAGMENT` is hidden only whole.
    """

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # piece -> (form, where the piece starts in it), for growing a match
        self._where: dict[str, list[tuple[str, int]]] = {}
        for secret in secrets:
            for form in secret_forms(secret):
                if len(form) < MIN_FRAGMENT:
                    self._where.setdefault(form, []).append((form, 0))
                    continue
                for start in range(len(form) - MIN_FRAGMENT + 1):
                    piece = form[start : start + MIN_FRAGMENT]
                    self._where.setdefault(piece, []).append((form, start))
        self._pattern = re.compile(_trie_pattern(self._where)) if self._where else None

    def sub(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        match = pattern.search(text)
        if match is None:
            return text  # the common case: one search, in C
        kept: list[str] = []
        position = 0
        while match is not None:
            begin, end = match.span()
            whole = False
            for form, start in self._where[match.group()]:
                rest = form[start:]
                grown = _common_prefix(rest, text, begin)
                end = max(end, begin + grown)
                whole = whole or (start == 0 and grown == len(form))
            if whole or not _inside_a_word(text, begin, end):
                kept += [text[position:begin], _REDACTED]
                position = next_search = end
            else:  # a word of the text: a piece of the secret may still begin inside it
                next_search = begin + 1
            match = pattern.search(text, next_search)
        kept.append(text[position:])
        return "".join(kept)


def _inside_a_word(text: str, begin: int, end: int) -> bool:
    """A piece of a secret that is a word of the text, not an echo: letters of one case only,
    and the text's word goes on past it (`redirect` of a key `secret-key-for-redirect`, in
    "redirected"). A random key's pieces mix case, digits or signs; an echoed prefix ends where
    the echo does. The whole secret is hidden even so."""
    piece = text[begin:end]
    if not (piece.isascii() and piece.isalpha() and (piece.islower() or piece.isupper())):
        return False
    before = text[begin - 1] if begin else ""
    after = text[end] if end < len(text) else ""
    return before.isalpha() or after.isalpha()


def _common_prefix(form: str, text: str, begin: int) -> int:
    """How many characters of ``text`` from ``begin`` go on as ``form`` does."""
    length = 0
    for expected, found in zip(form, text[begin : begin + len(form)], strict=False):
        if expected != found:
            break
        length += 1
    return length


def _trie_pattern(words: t.Iterable[str]) -> str:
    """A regex matching any of ``words``, the longest where several match, as a trie: each
    position of the text costs one step per character instead of one per word."""
    root: dict[str, t.Any] = {}
    for word in words:
        node = root
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def pattern(node: dict[str, t.Any]) -> str:
        branches = [re.escape(char) + pattern(child) for char, child in node.items() if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if "" in node:  # a shorter word ends here: the rest is optional (greedy, so longest)
            return f"(?:{body})?"
        return body

    return pattern(root)


@functools.lru_cache(maxsize=64)
def _redactor(secrets: tuple[str, ...]) -> _Redactor:
    """Built once per set of secrets (the run's, a request's credentials), then reused."""
    return _Redactor(secrets)


def run_secrets() -> tuple[str, ...]:
    """The keys and tokens of the configs read in this process (`remember_secrets`)."""
    return _RUN_SECRETS


def without_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every form (`secret_forms`) of each of ``secrets`` hidden, and every run of
    `MIN_FRAGMENT` characters or more of one of those forms."""
    if not secrets or not text:
        return text
    return _redactor(tuple(sorted({s for s in secrets if s}))).sub(text)


def printable(text: str, secrets: tuple[str, ...] = (), limit: int = 200) -> str:
    """``text`` on one line: control characters gone, ``secrets`` and URL query values hidden."""
    text = without_secrets(text, secrets)
    text = _CONTROL.sub(" ", without_query_values(text))
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + _REDACTED
