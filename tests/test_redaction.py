"""No key or token in any message, however a server echoes it (issue 18).

A scripted server (pytest-httpserver) echoes the key base64- and percent-encoded, or only its
first characters, in error bodies and in headers the tap quotes (`Content-Type`, `Location`).
Both commands run over real HTTP: `tap-aphex` (its log lines, errors and summary on stderr) and
`source-aphex` (LOG, TRACE and CONNECTION_STATUS messages).
"""

from __future__ import annotations

import base64
import json
import quopri
import re
import timeit
import typing as t
import unicodedata
from urllib.parse import quote, quote_plus

import pytest
from harness import run_cli
from test_airbyte import source

from tap_aphex.logs import (
    MIN_FRAGMENT,
    one_line,
    printable,
    remember_secrets,
    run_secrets,
    secret_forms,
    without_secrets,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from pytest_httpserver import HTTPServer

#: Characters that base64 and percent-encoding each change: every form differs from the key.
KEY = "Ak3y+/=?&%~_-0123456789xyzQ"
PATH = "/apiTaskEventsV2"


def b64(text: str, encode: t.Callable[[bytes], bytes] = base64.b64encode) -> str:
    return encode(text.encode()).decode()


def b32(text: str) -> str:
    return base64.b32encode(text.encode()).decode()


JSON_ESCAPED = "".join(f"\\u{ord(char):04x}" for char in KEY)
JSON_UPPER = "".join(f"\\u{ord(char):04X}" for char in KEY)
JSON_MIXED = "".join(c if i % 2 else f"\\u{ord(c):04x}" for i, c in enumerate(KEY))
HTML_MIXED = "".join(c if i % 3 else f"&#{ord(c)};" for i, c in enumerate(KEY))
HEX_SPACED = " ".join(f"{b:02x}" for b in KEY.encode())
PY_ESCAPED = "".join(f"\\x{b:02x}" for b in KEY.encode())
LOWER_HEX = re.sub("%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(KEY, safe=""))

#: name -> (how the server echoes the key, the part of it that is the key's alone)
ECHOES: dict[str, tuple[str, str]] = {
    "as is": (KEY, KEY),
    "base64": (b64(KEY), b64(KEY)),
    "base64 unpadded": (b64(KEY).rstrip("="), b64(KEY).rstrip("=")),
    "base64 url-safe": (b64(KEY, base64.urlsafe_b64encode), b64(KEY, base64.urlsafe_b64encode)),
    "base64 url-safe unpadded": (
        b64(KEY, base64.urlsafe_b64encode).rstrip("="),
        b64(KEY, base64.urlsafe_b64encode).rstrip("="),
    ),
    # Basic auth, or any text before it: the key encoded from an offset; "user:" is not secret.
    "base64 after a prefix": (b64("user:" + KEY), b64("user:" + KEY)[8:]),
    "percent (quote)": (quote(KEY, safe=""), quote(KEY, safe="")),
    "percent (quote_plus)": (quote_plus(KEY), quote_plus(KEY)),
    "percent, lower-case hex": (LOWER_HEX, LOWER_HEX),
    "first 8 characters": (KEY[:8], KEY[:8]),
    "first 12 characters": (KEY[:12] + "...", KEY[:12]),
    "10 from the middle": (KEY[9:19], KEY[9:19]),
    # A server may change its case (an error page, a normalised header): any case is hidden.
    "upper case": (KEY.upper(), KEY.upper()),
    "lower case": (KEY.lower(), KEY.lower()),
    "first 10, upper case": (KEY[:10].upper(), KEY[:10].upper()),
    # Other text encodings a server or a proxy may echo it in.
    "JSON escapes": (JSON_ESCAPED, JSON_ESCAPED),
    "JSON escapes, upper-case hex": (JSON_UPPER, JSON_UPPER),
    "JSON escapes mixed with plain characters": (JSON_MIXED, JSON_MIXED),
    "hex": (KEY.encode().hex(), KEY.encode().hex()),
    "hex, spaced": (HEX_SPACED, HEX_SPACED),
    "hex, 0x-prefixed": (" ".join(f"0x{b:02x}" for b in KEY.encode()),) * 2,
    "hex of its UTF-16": (KEY.encode("utf-16-be").hex(),) * 2,
    "Python byte escapes": ("".join(f"\\x{b:02x}" for b in KEY.encode()),) * 2,
    "HTML references": ("".join(f"&#{ord(c)};" for c in KEY),) * 2,
    "HTML references, zero-padded, no semicolons": ("".join(f"&#{ord(c):05d}" for c in KEY),) * 2,
    "HTML hex references": ("".join(f"&#x{ord(c):X};" for c in KEY),) * 2,
    "HTML mixed with plain characters": (HTML_MIXED, HTML_MIXED),
    "percent-encoded, every character": ("".join(f"%{b:02X}" for b in KEY.encode()),) * 2,
    "percent-encoded twice": ("".join(f"%25{b:02X}" for b in KEY.encode()),) * 2,
    "Python byte escapes quoted in JSON": (json.dumps(PY_ESCAPED)[1:-1],) * 2,
    "JSON escapes mixed, quoted in JSON": (json.dumps(JSON_MIXED)[1:-1],) * 2,
    "Python \\U escapes": ("".join(f"\\U{ord(c):08x}" for c in KEY),) * 2,
    "octal escapes": ("".join(f"\\{b:03o}" for b in KEY.encode()),) * 2,
    "base32": (b32(KEY), b32(KEY)),
}


def windows(text: str) -> set[str]:
    """Every run of `MIN_FRAGMENT` characters of ``text``: none may be shown."""
    return {text[i : i + MIN_FRAGMENT] for i in range(len(text) - MIN_FRAGMENT + 1)}


def assert_hidden(shown: str, secret_part: str) -> None:
    leaked = [piece for piece in windows(secret_part) | windows(KEY) if piece in shown]
    assert not leaked, (leaked, shown)


# ------------------------------------------------------------------------------- the rule


@pytest.mark.parametrize("echo", ECHOES)
def test_every_form_and_fragment_of_a_secret_is_hidden(echo: str) -> None:
    echoed, secret_part = ECHOES[echo]

    shown = printable(f"HTTP 403: bad key {echoed} (check it)", (KEY,), limit=1_000)

    assert_hidden(shown, secret_part)
    assert shown.startswith("HTTP 403: bad key ")
    assert shown.endswith(" (check it)")


def test_fewer_than_8_characters_of_a_secret_and_other_text_stay() -> None:
    text = f"task {KEY[:7]} in Riverside Tower, page 3"

    assert without_secrets(text, (KEY,)) == text


def test_text_with_character_references_or_hex_of_its_own_stays_as_it_is() -> None:
    text = "request 3f9a2b7c1d4e5f60, 6% of the quota, /a%20b, &#169; 2026, caf\\u00e9"

    assert without_secrets(text, (KEY,)) == text


def test_a_short_secret_is_hidden_whole_but_not_in_pieces() -> None:
    assert without_secrets("token=t0k3n! and t0k", ("t0k3n!",)) == "token=… and t0k"


def test_secret_forms_include_the_encoded_ones() -> None:
    forms = [form.lower() for form in secret_forms(KEY)]  # the redactor ignores case

    for echoed, _ in ECHOES.values():
        if re.search(r"\\+([uxU][0-9a-fA-F]|[0-7]{3})|&#|%(25)?[0-9a-fA-F]{2}%", echoed):
            continue  # character references: read before the search, not forms
        echoed = echoed.lower()
        if len(echoed) > 12 and "..." not in echoed and echoed != KEY[9:19].lower():
            assert any(echoed in form or form in echoed for form in forms), echoed


def test_the_run_secrets_regex_is_built_once_and_cheap_per_line() -> None:
    remember_secrets(KEY, "pbi_" + "a1B2c3D4e5" * 4, "pbi_" + "Z9y8X7w6V5" * 4)
    line = "Summary: task_events: 8,000 records sent; stopped: end of the log; resumes after x"
    try:
        seconds = timeit.timeit(lambda: without_secrets(line, run_secrets()), number=2_000)
    finally:
        remember_secrets()

    assert seconds / 2_000 < 0.001  # far under a millisecond a line (about 10 µs here)


# ----------------------------------------------------------------------- over real HTTP


def echoing_server(httpserver: HTTPServer, where: str, echoed: str) -> None:
    if where == "error body":
        httpserver.expect_request(PATH).respond_with_data(f"bad key {echoed}", status=403)
    elif where == "Content-Type":
        httpserver.expect_request(PATH).respond_with_data(
            "<html>", status=200, headers={"Content-Type": f"text/html; echo={echoed}"}
        )
    else:  # a redirect to a path holding the key
        httpserver.expect_request(PATH).respond_with_data(
            "", status=302, headers={"Location": f"/moved/{echoed}/x"}
        )


WHERE = ["error body", "Content-Type", "Location"]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("echo", ECHOES)
def test_source_aphex_check_never_shows_the_key_however_echoed(
    httpserver: HTTPServer, tmp_path: Path, echo: str, where: str
) -> None:
    echoed, secret_part = ECHOES[echo]
    echoing_server(httpserver, where, echoed)
    config = {"api_key": KEY, "api_url": httpserver.url_for(PATH), "retry_budget_seconds": 0}

    result = source(tmp_path, "check", config)

    (status,) = result.of_type("CONNECTION_STATUS")
    assert status["connectionStatus"]["status"] == "FAILED"
    assert_hidden(json.dumps(result.messages, ensure_ascii=False), secret_part)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(
    "echo", ["base64 after a prefix", "percent (quote_plus)", "first 12 characters"]
)
def test_source_aphex_read_never_shows_the_key_however_echoed(
    httpserver: HTTPServer, tmp_path: Path, echo: str, where: str
) -> None:
    echoed, secret_part = ECHOES[echo]
    echoing_server(httpserver, where, echoed)
    config = {"api_key": KEY, "api_url": httpserver.url_for(PATH), "retry_budget_seconds": 0}
    catalog = {
        "streams": [
            {
                "stream": {"name": "task_events", "json_schema": {}, "supported_sync_modes": []},
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
            }
        ]
    }

    result = source(tmp_path, "read", config, catalog=catalog)

    assert result.exit_code == 1
    assert result.errors()  # the failure is said, as a TRACE
    assert any(m["log"]["message"].startswith("Summary") for m in result.of_type("LOG"))
    assert_hidden(json.dumps(result.messages, ensure_ascii=False), secret_part)


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize(
    "echo", ["base64", "base64 url-safe unpadded", "percent (quote)", "first 8 characters"]
)
def test_tap_aphex_never_shows_the_key_however_echoed(
    httpserver: HTTPServer, echo: str, where: str
) -> None:
    echoed, secret_part = ECHOES[echo]
    echoing_server(httpserver, where, echoed)
    config = {"api_key": KEY, "api_url": httpserver.url_for(PATH), "retry_budget_seconds": 0}

    run = run_cli(config, None, env={"LOGLEVEL": "DEBUG"})

    assert run.returncode == 1
    assert "Summary" in run.stderr
    assert_hidden(run.stderr + run.stdout, secret_part)


def test_a_word_that_a_key_happens_to_hold_is_no_echo() -> None:
    """A key holding an ordinary word: the word in a message stays; the key, or its start, not."""
    key = "secret-key-for-redirect"
    text = f"the API redirected (HTTP 302); the server said: {key[:10]}... and {key}"

    shown = without_secrets(text, (key,))

    assert shown == "the API redirected (HTTP 302); the server said: …... and …"


@pytest.mark.parametrize(
    ("key", "echo", "shown"),
    [
        ("apikey-Live-7781", "Invalid key: APİKEY-LİVE-7781", "Invalid key: …"),  # Turkish
        ("apikey-Live-7781", "invalid key ap\u0131key-l\u0131ve-7781", "invalid key …"),  # dotless
        ("secretKeyAbc123xyz", "\u017fecretKeyAbc123xyz rejected", "… rejected"),  # a long s
        ("İstanbul-key-99", "ISTANBUL-KEY-99 and istanbul-key-99", "… and …"),
        ("ключ-секрет-123", "ключ-секрет-123".upper() + " refused", "… refused"),  # Cyrillic
        ("Straße-Maß-Fuß-24", "key STRASSE-MASS-FUSS-24 is not valid", "key … is not valid"),
        ("Pa55\u00b5word-Z\u00fcrich-\u00b51234", "PA55\u039cWORD-Z\u00dcRICH-\u039c1234!", "…!"),
        (
            "\u03ba\u03bb\u03b5\u03b9\u03b4\u03b9\u03c2-99",
            "\u039a\u039b\u0395\u0399\u0394\u0399\u03a3-99 refused",
            "… refused",
        ),  # a final sigma
    ],
)
def test_a_key_in_any_letter_case_of_any_script_is_hidden(key: str, echo: str, shown: str) -> None:
    assert without_secrets(echo, (key,)) == shown


def test_a_line_cannot_reorder_what_a_terminal_shows() -> None:
    # Bidi controls (U+202E turns the rest of a line around) are escaped as other controls are.
    assert one_line("state x\u202eevil.json") == "state x\\u202eevil.json"
    assert one_line("a\u2066b\u2069") == "a\\u2066b\\u2069"
    # ... and so are the other bidi marks and the characters a terminal shows as nothing.
    hidden = "\u200e\u200f\u061c\u200b\ufeff\u00ad\u2060"
    assert one_line(f"x{hidden}y") == "x" + "".join(f"\\u{ord(c):04x}" for c in hidden) + "y"


NON_ASCII_KEY = "ключ-секрет-12345"


@pytest.mark.parametrize(
    "echo",
    [
        "".join(f"\\x{b:02x}" for b in NON_ASCII_KEY.encode()),  # Python's repr of its bytes
        "".join(f"%{b:02X}" for b in NON_ASCII_KEY.encode()),  # percent-encoded UTF-8
        quote(NON_ASCII_KEY),  # `-` and digits left as they are
        json.dumps(NON_ASCII_KEY)[1:-1],  # JSON's \u escapes
        NON_ASCII_KEY.encode().decode("latin-1"),  # its UTF-8 read as Latin-1 (mojibake)
        NON_ASCII_KEY.encode().hex(),
    ],
)
def test_a_non_ascii_key_is_hidden_in_the_forms_its_bytes_are_echoed_in(echo: str) -> None:
    shown = without_secrets(f"refused: {echo} (check it)", (NON_ASCII_KEY,))

    assert shown == "refused: … (check it)"


LATIN_1_KEY = "schlüssel-gehéim-12345"  # sent in its header as Latin-1: one byte a character


@pytest.mark.parametrize(
    "echo",
    [
        base64.b64encode(LATIN_1_KEY.encode("latin-1")).decode(),
        LATIN_1_KEY.encode("latin-1").hex(),
        LATIN_1_KEY.encode("latin-1").hex(" "),
    ],
)
def test_a_key_is_hidden_in_the_forms_of_the_latin_1_bytes_its_header_carries(echo: str) -> None:
    shown = without_secrets(f"bad key {echo} rejected", (LATIN_1_KEY,))

    assert shown == "bad key … rejected"


ACCENTED_KEY = "Ärger-Öl-Übel-für-Süß-42"


@pytest.mark.parametrize(
    "echo",
    [
        unicodedata.normalize("NFD", ACCENTED_KEY),  # looks the same: each accent a character
        quopri.encodestring(ACCENTED_KEY.encode("latin-1")).decode(),  # `=C4rger-=D6l-...`
        quopri.encodestring(ACCENTED_KEY.encode()).decode(),
    ],
)
def test_a_key_is_hidden_decomposed_and_quoted_printable(echo: str) -> None:
    shown = without_secrets(f"bad key {echo} rejected", (ACCENTED_KEY,))

    assert shown == "bad key … rejected"
