"""A run's keys and tokens, hidden in every form a message may show them (docs/operations.md).

`remember_secrets` takes the run's keys and tokens from its config; `without_secrets` hides every
form of them (`secret_forms`: escaped, hex, base64, base32, percent-encoded; in any letter case;
written with character references, whole or mixed) and every run of `MIN_FRAGMENT` characters of
one. `logs.py` applies it to every log line, and the errors and Airbyte messages to theirs.
"""

from __future__ import annotations

import base64
import functools
import os.path
import re
import typing as t
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

_REDACTED = "…"

_RUN_SECRETS: tuple[str, ...] = ()
#: Shorter ones are not kept: hiding every "k" garbles a message; no real key is that short.
MIN_RUN_SECRET = 6
#: Any run this long of a secret's form is hidden: an echoed prefix gives away at most 7
#: characters, and 8 of a random key do not occur in ordinary text by chance.
MIN_FRAGMENT = 8


def remember_secrets(*secrets: object) -> None:
    """The run's keys and tokens from its config, for `run_secrets`; replace earlier ones."""
    global _RUN_SECRETS  # one run's secrets, read by every message
    kept = {s for s in secrets if isinstance(s, str) and len(s) >= MIN_RUN_SECRET}
    _RUN_SECRETS = tuple(sorted(kept))
    _redactor(_RUN_SECRETS)  # build its regex now, not on the first message


def run_secrets() -> tuple[str, ...]:
    return _RUN_SECRETS


def secret_forms(secret: str) -> list[str]:
    """The ways a secret can appear in a message, longest first: as is; escaped as repr() and
    bytes show it (`b'K3Y\\nZZQ'`); its bytes as hex (bare, spaced, `0x`-prefixed, or of its
    UTF-16); base64 and base32 at each alignment, since Basic auth or an echoed
    `base64("user:" + key)` encodes it from an offset; percent-encoded. Letter case is the
    search's (`_folded`); character references (`\\u004b`, `&#75;`, `%4B`) it decodes first."""
    escaped = {
        secret,
        secret.upper(),  # upper-cased, when that is longer or another letter (ß: SS, micro: mu)
        repr(secret)[1:-1],
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret.encode("utf-8", "backslashreplace"))[2:-1],
        repr(secret.encode("latin-1", "backslashreplace"))[2:-1],
    }
    raw = secret.encode("utf-8", "surrogatepass")
    encoded = {form for form, _ in _byte_dumps(secret)}
    for encode, alignments in (
        (base64.b64encode, 3),
        (base64.urlsafe_b64encode, 3),
        (base64.b32encode, 1),  # no protocol base32-encodes a key after other text
    ):
        for start in range(min(alignments, len(raw))):
            # The last group depends on what follows the secret; `MIN_FRAGMENT` catches the rest.
            text = encode(raw[start:]).decode("ascii")
            encoded |= {text, text.rstrip("=")}
    percent = {quote(raw, safe=""), quote(raw), quote_plus(raw)}
    return sorted(filter(None, escaped | encoded | percent), key=len, reverse=True)


def _byte_dumps(secret: str) -> list[tuple[str, int]]:
    """Its bytes written out in hex (bare, spaced, ``0x``-prefixed, its UTF-16), each with the
    width one byte (or UTF-16 unit) takes: an echo of whole bytes starts on that width."""
    pairs = [f"{byte:02x}" for byte in secret.encode("utf-8", "surrogatepass")]
    dumps = [("".join(pairs), 2)]
    dumps += [(separator.join(pairs), 3) for separator in (" ", ":", "-")]
    dumps.append((" ".join(f"0x{pair}" for pair in pairs), 5))
    dumps.append((secret.encode("utf-16-be", "surrogatepass").hex(), 4))
    return dumps


class _Redactor:
    """Hides every form of some secrets (a shorter one only whole), and every run of `MIN_FRAGMENT`
    characters of one: a trie regex of all forms' pieces (its cost does not grow with their
    number) finds the leftmost, and the span hidden grows as far as the text follows that form."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        # piece -> (form, where the piece starts in it), for growing a match
        self._where: dict[str, list[tuple[str, int]]] = {}
        # In any case: a server may echo a key upper-cased (an error page, a normalised header).
        # A piece at every character; of a hex dump, at every byte only (a third to a fifth of
        # the pieces: the regex for 200 projects' tokens is built in a second, not in six).
        steps = {_folded(form): 1 for secret in secrets for form in secret_forms(secret)}
        steps |= {_folded(form): width for s in secrets for form, width in _byte_dumps(s)}
        self._longest = max(map(len, steps), default=0)
        for form, step in steps.items():
            for start in range(0, max(1, len(form) - MIN_FRAGMENT + 1), step):
                piece = form[start : start + MIN_FRAGMENT]
                self._where.setdefault(piece, []).append((form, start))
        # "(?!)" never matches: there is nothing to hide.
        self._pattern = re.compile(_trie_pattern(self._where) if self._where else "(?!)")

    def sub(self, text: str) -> str:
        spans = self._spans(text)
        # And as the text reads with its character references read, twice over at most (a
        # reference that a proxy or a JSON body encoded again: `%5CU0000004b`).
        decoded, starts, ends = text, list(range(len(text))), list(range(1, len(text) + 1))
        for _ in range(REFERENCE_LAYERS):
            if not _REFERENCE.search(decoded):
                break
            decoded, inner_starts, inner_ends = _references_read(decoded)
            starts = [starts[at] for at in inner_starts]
            ends = [ends[at - 1] for at in inner_ends]
            spans += [(starts[begin], ends[end - 1]) for begin, end in self._spans(decoded)]
        if not spans:
            return text
        merged = [sorted(spans)[0]]
        for begin, end in sorted(spans)[1:]:  # overlapping or touching spans: one "…"
            if begin <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((begin, end))
        kept, position = [], 0
        for begin, end in merged:
            kept += [text[position:begin], _REDACTED]
            position = end
        return "".join([*kept, text[position:]])

    def _spans(self, text: str) -> list[tuple[int, int]]:
        """Where ``text`` shows a secret, each span as far as the text follows the form."""
        folded = _folded(text)  # searched; its offsets are the text's
        match = self._pattern.search(folded)
        spans = []
        while match is not None:
            begin, end = match.span()
            whole, ahead = False, folded[begin : begin + self._longest]
            for form, start in self._where[match.group()]:
                grown = len(os.path.commonprefix([form[start:], ahead]))  # noqa: RUF071 (characters)
                end = max(end, begin + grown)
                whole = whole or (start == 0 and grown == len(form))
            if whole or not _inside_a_word(text, begin, end):
                spans.append((begin, end))
                next_search = end
            else:  # a word of the text: a piece of the secret may still begin inside it
                next_search = begin + 1
            match = self._pattern.search(folded, next_search)
        return spans


#: A character reference: a JSON or Python escape (its backslash itself escaped or not, as an
#: escape quoted in JSON is), an HTML one (padded, with or without its `;`), a percent-encoded
#: byte (or its `%` encoded again). Echoed keys come in these, whole or mixed with plain ones.
_REFERENCE = re.compile(
    r"\\+(?:u(?P<u>[0-9a-fA-F]{4})|U(?P<U>[0-9a-fA-F]{8})|x(?P<x>[0-9a-fA-F]{2})|(?P<o>[0-7]{3}))"
    r"|&#(?:[xX](?P<hx>[0-9a-fA-F]{1,8})|(?P<d>[0-9]{1,10}));?|%(?:25)?(?P<p>[0-9a-fA-F]{2})"
)
REFERENCE_LAYERS = 2
_BASES = {"u": 16, "U": 16, "x": 16, "o": 8, "hx": 16, "d": 10, "p": 16}


def _references_read(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` with its character references read, and where each character of that came from
    in ``text`` (its start and its end)."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    position = 0
    for match in _REFERENCE.finditer(text):
        for at in range(position, match.start()):
            chars.append(text[at])
            starts.append(at)
            ends.append(at + 1)
        kind, digits = next((k, v) for k, v in match.groupdict().items() if v is not None)
        code = int(digits, _BASES[kind])
        chars.append(chr(code) if code <= 0x10FFFF else "\ufffd")
        starts.append(match.start())
        ends.append(match.end())
        position = match.end()
    for at in range(position, len(text)):
        chars.append(text[at])
        starts.append(at)
        ends.append(at + 1)
    return "".join(chars), starts, ends


# The letters lower() leaves apart from their plain one, makes two characters of ("İ") or lowers
# by their place (Σ ends a word as ς): a Turkish upper case, a long s, the Kelvin sign, sigma.
_FOLD = str.maketrans("\u0130\u0131\u017f\u212a\u03a3\u03c2", "iisk\u03c3\u03c3")


def _folded(text: str) -> str:
    """``text`` in one letter case, a character for a character (offsets stay the text's)."""
    return text.translate(_FOLD).lower()


def _inside_a_word(text: str, begin: int, end: int) -> bool:
    """A piece that is part of a word of the text, not an echo: letters of one case, the word
    going on past it (`redirect` of the key `secret-key-for-redirect`, in "redirected"). A random
    key's pieces mix case, digits or signs. The whole secret is hidden even so."""
    piece = text[begin:end]
    if not (piece.isascii() and piece.isalpha() and (piece.islower() or piece.isupper())):
        return False
    return text[begin - 1 : begin].isalpha() or text[end : end + 1].isalpha()


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching the longest of ``words``, as a trie: one step per character, not word."""
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
        return f"(?:{body})?" if "" in node else body  # a shorter word ends here: the rest optional

    return pattern(root)


@functools.lru_cache(maxsize=64)
def _redactor(secrets: tuple[str, ...]) -> _Redactor:
    """Built once per set of secrets (the run's, a request's credentials)."""
    return _Redactor(secrets)


def without_secrets(text: str, secrets: tuple[str, ...] = ()) -> str:
    """``text`` with every form of ``secrets``, and every `MIN_FRAGMENT` run of one, hidden."""
    if not secrets or not text:
        return text
    return _redactor(tuple(sorted({s for s in secrets if s}))).sub(text)
