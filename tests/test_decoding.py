"""The one decode policy of both APIs (docs/data.md, "Decoding"), over real HTTP.

Lone UTF-16 surrogates, a byte-order mark, a declared charset and values nested deeper than the
bound, on a Data API page (scripted with pytest-httpserver) and in a published-plans document;
and a body that cannot be decompressed, which is never fetched again.
"""

from __future__ import annotations

import copy
import json
import typing as t
from decimal import Decimal

import pytest
from aphex_simulator import Simulator
from harness import TapRun, log_lines, run_cli
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tap_aphex.decoding import DEPTH_BOUND, FilteredBody, as_written
from tap_aphex.reader import unmarked

PATH = "/apiTaskEventsV2"
PLANS_PATH = "/power-bi/v1/p1"
T0 = 1_749_222_000_000  # 2025-06-06T15:00:00Z


@pytest.fixture(scope="module")
def log() -> list[dict[str, t.Any]]:
    """Six real-looking events (the simulator's generator), served here by scripts."""
    return Simulator(seed=3, events=6, plan_projects=0).event_log.events


def serve_page(
    httpserver: HTTPServer, body: bytes, content_type: str = "application/json", **headers: str
) -> list[Request]:
    """The Data API as one page (``body``, as bytes); the requests it received."""
    received: list[Request] = []

    def answer(request: Request) -> Response:
        received.append(request)
        if request.args.get("startAfter"):
            return Response(status=204)
        return Response(body, status=200, content_type=content_type, headers=headers)

    httpserver.expect_request(PATH).respond_with_handler(answer)
    return received


def events_config(httpserver: HTTPServer) -> dict[str, t.Any]:
    return {"api_key": "scripted-key", "api_url": httpserver.url_for(PATH)}


def page_bytes(events: list[dict[str, t.Any]], **escapes: bytes) -> bytes:
    """The page as JSON (non-ASCII escaped, as many servers write it); each ``@NAME@`` in it
    replaced by ``escapes[NAME]`` (a lone surrogate cannot be in a Python str to dump)."""
    body = json.dumps({"data": events, "nextStartAfter": events[-1]["eventId"]}).encode()
    for name, escape in escapes.items():
        body = body.replace(f"@{name}@".encode(), escape)
    return body


def warnings_naming(run: TapRun, words: str) -> list[str]:
    return [line for line in log_lines(run.stderr, "WARNING") if words in line]


# --- Lone surrogates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("escape", "raw"),
    [
        (rb"\ud83d", "Pour slab \\ud83d"),  # a high half at the end: an emoji cut in two
        (rb"\uDE00 and more", "Pour slab \\uDE00 and more"),  # a low half alone, upper case
        (rb"\ud83d\ud83d\ude00", "Pour slab \\ud83d\U0001f600"),  # a high, then a whole pair
    ],
    ids=["high-at-end", "low-alone", "high-before-a-pair"],
)
def test_a_lone_surrogate_is_u_fffd_with_the_escape_kept_and_the_page_lands(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], escape: bytes, raw: str
) -> None:
    events = copy.deepcopy(log)
    events[1]["task"]["name"] = "Pour slab @LONE@"
    events[3]["task"]["name"] = "Pour slab @LONE@"  # the same field again: said once
    serve_page(httpserver, page_bytes(events, LONE=escape))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    records = run.records("task_events")
    assert [r["eventId"] for r in records] == [e["eventId"] for e in log]  # the whole page lands
    for number in (1, 3):
        record = records[number]
        assert "\ufffd" in record["task"]["name"]
        assert record["task"]["name"] == raw.replace(raw[10:16], "\ufffd", 1)
        assert record["undocumented"] == {"task.name": raw}
    said = warnings_naming(run, "lone UTF-16 surrogate")
    assert len(said) == 1
    assert f"Event {log[1]['eventId']}" in said[0]
    assert "task.name" in said[0]


def test_lone_surrogates_anywhere_keys_included_and_pairs_stay(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    event = copy.deepcopy(log[0])
    event["task"]["labourResources"] = {"Steel Fixers @LONE@": 3}  # a key
    event["task"]["successors"] = ["a", "b @LONE@"]  # an entry of a list
    event["task"]["unheardOf"] = {"deep": ["@LONE@"]}  # where no schema looks
    event["task"]["ownerName"] = "Amara \U0001f600"  # a pair, escaped by json.dumps
    serve_page(httpserver, page_bytes([event], LONE=rb"\udbff"))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    (record,) = run.records("task_events")
    task = record["task"]
    assert task["labourResources"] == {"Steel Fixers \ufffd": 3}
    assert task["successors"] == ["a", "b \ufffd"]
    assert task["unheardOf"] == {"deep": ["\ufffd"]}
    assert task["ownerName"] == "Amara \U0001f600"
    assert record["undocumented"] == {
        "task.labourResources.Steel Fixers \ufffd": "Steel Fixers \\udbff",
        "task.successors[1]": "b \\udbff",
        "task.unheardOf.deep[0]": "\\udbff",
    }
    assert len(warnings_naming(run, "lone UTF-16 surrogate")) == 3  # one per field


def test_an_escaped_backslash_before_u_d83d_is_text_not_a_surrogate(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    event = copy.deepcopy(log[0])
    event["task"]["name"] = "C:\\ud83d"  # a backslash, then the letters: dumped as \\ud83d
    serve_page(httpserver, page_bytes([event]))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    (record,) = run.records("task_events")
    assert record["task"]["name"] == "C:\\ud83d"
    assert record["undocumented"] is None
    assert not warnings_naming(run, "surrogate")


@pytest.mark.parametrize(
    "write", [lambda text: text.encode(), lambda text: json.dumps(text)[1:-1].encode()]
)  # as UTF-8, or as escapes (\\ufffd, a surrogate pair)
def test_text_that_looks_like_the_decode_policys_markers_is_text(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], write: t.Callable[[str], bytes]
) -> None:
    # U+FFFD, then a plane-16 private-use character (how a lone surrogate is marked), or a
    # string starting as a too-deep value's marker did: the vendor's text, as it came.
    odd = ["caf\u00e9\ufffd\U00100000", "\U0010fffdhello", "m\ufffd\U00108001x"]
    events = copy.deepcopy(log[:3])
    events[0]["task"]["name"], events[1]["task"]["location"] = "@A@", "@B@"
    events[2]["eventId"] = "@C@"  # an id: sent back as it came
    events[0]["task"]["location"] = "@LONE@"  # and a real lone surrogate beside them
    escapes = {"A": write(odd[0]), "B": write(odd[1]), "C": write(odd[2]), "LONE": rb"\ud83d"}
    received = serve_page(httpserver, page_bytes(events, **escapes))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    records = run.records("task_events")
    assert [records[0]["task"]["name"], records[1]["task"]["location"]] == odd[:2]
    assert records[2]["eventId"] == run.bookmark("task_events") == odd[2]
    assert received[-1].args["startAfter"] == odd[2]
    assert [r["undocumented"] for r in records] == [{"task.location": "\\ud83d"}, None, None]
    assert len(warnings_naming(run, "surrogate")) == 1
    assert not warnings_naming(run, "deeper")


@pytest.mark.parametrize("cut", range(1, 4))
def test_a_u_fffd_cut_between_two_chunks_is_still_the_vendors(cut: int) -> None:
    body = '{"name": "a\ufffd\U00100000b"}'.encode()  # as a lone surrogate's marker looks
    at = body.index(b"\xef") + cut  # 1 or 2 bytes of it in the first chunk, or all 3
    policy = FilteredBody("application/json", "The test")

    filtered = policy.feed(body[:at], final=False) + policy.feed(body[at:], final=True)

    vendors = unmarked(json.loads(filtered), lambda text, *_: as_written(text))
    assert vendors == {"name": "a\ufffd\U00100000b"}


# --- Byte-order mark and charset ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("encode", "content_type"),
    [
        (lambda text: b"\xef\xbb\xbf" + text.encode(), "application/json"),
        (lambda text: text.encode("iso-8859-1"), "application/json; charset=iso-8859-1"),
        (lambda text: text.encode("utf-16"), 'application/json; charset="UTF-16"'),
        (lambda text: text.encode("cp1252"), "application/json;charset=windows-1252"),
    ],
    ids=["utf-8-bom", "latin-1", "utf-16", "windows-1252"],
)
def test_a_bom_is_skipped_and_a_declared_charset_is_honoured(
    httpserver: HTTPServer,
    log: list[dict[str, t.Any]],
    encode: t.Callable[[str], bytes],
    content_type: str,
) -> None:
    events = copy.deepcopy(log[:2])
    events[0]["task"]["name"] = "Béton coulé"
    text = json.dumps({"data": events, "nextStartAfter": events[-1]["eventId"]}, ensure_ascii=False)
    serve_page(httpserver, encode(text), content_type=content_type)

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    records = run.records("task_events")
    assert [r["task"]["name"] for r in records] == ["Béton coulé", log[1]["task"]["name"]]


@pytest.mark.parametrize(
    "charset", ["klingon", "base64", "rot13", "zlib", "latin-1; charset=utf-8"]
)
def test_a_charset_that_is_no_text_encoding_python_knows_is_one_clear_line(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], charset: str
) -> None:
    # Python knows base64, rot13 and zlib as codecs, but they are no text encodings; two
    # different charsets declared at once are no one encoding either.
    serve_page(httpserver, page_bytes(log), content_type=f"application/json; charset={charset}")

    run = run_cli(events_config(httpserver))

    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert f"charset as '{charset.replace('; charset=', ', ')}'" in last
    assert "Traceback" not in run.stderr


# --- Nesting deeper than the bound --------------------------------------------------------------


@pytest.mark.parametrize("depth", [DEPTH_BOUND, 100_000])
def test_a_value_nested_deeper_than_the_bound_is_kept_as_raw_text(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], depth: int
) -> None:
    events = copy.deepcopy(log[:3])
    events[1]["task"]["unheardOf"] = "@DEEP@"
    nest = b'[{"k": "]\\"", "n": ' * depth + b"1" + b"}]" * depth
    serve_page(httpserver, page_bytes(events).replace(b'"@DEEP@"', nest))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    records = run.records("task_events")
    assert [r["eventId"] for r in records] == [e["eventId"] for e in events]
    value: t.Any = records[1]["task"]["unheardOf"]
    levels = 4  # the page, `data`, the event, `task`
    while not isinstance(value, str):
        value = value[0]["n"]  # the levels within the bound stay as they are
        levels += 2
    assert levels <= DEPTH_BOUND + 1
    assert value.startswith(('[{"k": "]\\"", "n": ', '{"k": "]\\"", "n": '))
    assert value in nest.decode()  # its raw text, exactly
    said = warnings_naming(run, f"nested deeper than {DEPTH_BOUND} levels")
    assert len(said) == 1
    assert f"Event {events[1]['eventId']}" in said[0]


def test_objects_nested_as_deep_as_the_sdks_walk_fails_are_kept_and_every_stream_lands(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    # The SDK walks each record's objects (not its lists) recursively, about three frames a level:
    # past about 330 levels a RecursionError ended the whole run, and every later run.
    events = copy.deepcopy(log[:3])
    events[1]["task"]["unheardOf"] = "@DEEP@"
    events[2]["extra"] = "@DEEP@"  # a key nobody documents, at the event's own level
    nest = b'{"a": ' * 600 + b"1" + b"}" * 600
    serve_page(httpserver, page_bytes(events).replace(b'"@DEEP@"', nest))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    assert [r["eventId"] for r in run.records("task_events")] == [e["eventId"] for e in events]
    assert run.records("tasks")
    assert len(warnings_naming(run, f"nested deeper than {DEPTH_BOUND} levels")) == 2
    assert "Traceback" not in run.stderr


def test_nesting_within_the_bound_is_left_as_it_is(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    event = copy.deepcopy(log[0])
    event["task"]["unheardOf"] = "@DEEP@"
    within = DEPTH_BOUND - 4  # the page, `data`, the event and `task` are four levels
    serve_page(httpserver, page_bytes([event]).replace(b'"@DEEP@"', b"[" * within + b"]" * within))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    value = run.records("task_events")[0]["task"]["unheardOf"]
    for _ in range(within - 1):
        (value,) = value
    assert value == []
    assert not warnings_naming(run, "nested deeper")


# --- Numbers beyond a float's range -------------------------------------------------------------


def exact_records(run: TapRun, stream: str) -> list[dict[str, t.Any]]:
    """The stream's records with every JSON number exact (``json.loads`` makes 1e400 infinity)."""
    lines = [json.loads(line, parse_float=Decimal) for line in run.stdout.splitlines()]
    return [m["record"] for m in lines if m["type"] == "RECORD" and m["stream"] == stream]


def test_a_number_beyond_a_float_is_kept_as_it_came_and_the_page_lands(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    # JSON has no bound on numbers; msgspec refuses the page and a float would be infinity.
    events = copy.deepcopy(log[:3])
    task = events[1]["task"]
    task.update(duration="@HUGE@", end="@TINY@", unheardOf={"depth": "@HUGE@"})
    task["labourResources"] = {"carpenters": "@HUGE@", "fixers": 2}
    body = page_bytes(events).replace(b'"@HUGE@"', b"1e400").replace(b'"@TINY@"', b"-1.5E+999")
    serve_page(httpserver, body)

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    records = exact_records(run, "task_events")
    assert [r["eventId"] for r in records] == [e["eventId"] for e in events]
    typed = records[1]["task"]
    assert (typed["duration"], typed["end"]) == (None, None)
    assert typed["labourResources"] == {"fixers": 2}
    assert typed["unheardOf"] == {"depth": Decimal("1e400")}  # no documented type: as it came
    assert records[1]["undocumented"] == {
        "task.duration": Decimal("1e400"),
        "task.end": Decimal("-1.5e999"),
        "task.labourResources.carpenters": Decimal("1e400"),
    }
    said = warnings_naming(run, "beyond a float's range")
    assert len(said) == 3
    assert all(f"Event {events[1]['eventId']}" in line for line in said)
    assert "task.duration is the number 1E+400 (beyond a float's range)" in said[0]
    task_row = exact_records(run, "tasks")[1]
    assert task_row["undocumented"].items() >= records[1]["undocumented"].items()


def test_an_integer_too_long_for_python_is_read_as_that_number_and_the_page_lands(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    # Python reads no int past 4,300 digits: msgspec refused the page (every run stopped there).
    long = "9" * 5000
    events = copy.deepcopy(log[:3])
    events[1]["task"].update(duration="@LONG@", unheardOf="@NEGATIVE@", location=long)
    body = page_bytes(events).replace(b'"@LONG@"', long.encode())
    serve_page(httpserver, body.replace(b'"@NEGATIVE@"', b"-" + long.encode()))

    run = run_cli(events_config(httpserver))

    assert run.returncode == 0, run.stderr
    records = exact_records(run, "task_events")
    assert [r["eventId"] for r in records] == [e["eventId"] for e in events]
    task = records[1]["task"]
    assert (task["duration"], task["location"]) == (None, long)  # digits in a string stay text
    assert task["unheardOf"] == Decimal("-" + long)
    assert records[1]["undocumented"] == {"task.duration": Decimal(long)}
    assert f'"task.duration":{long}.0' in run.stdout  # a decimal, which a JSON reader can read


@pytest.mark.parametrize("chunk", [1, 7, 639, 640, 4999, 65536])
def test_no_chunk_boundary_cuts_a_number_strings_or_escapes(chunk: int) -> None:
    long = "1" * 700
    text = (
        f'{{"a": {long}, "b": -{long}, "c": 0.{long}, "d": 1e-400, "e": "{long}", '
        f'"f": [{long}], "g": true, "h": "\\\\ud83d {long}", "i": 12.5e3, "j": "{long}\\\\"}}'
    )
    body, policy, filtered = text.encode(), FilteredBody(None, "Test"), b""
    for start in range(0, len(body), chunk):
        filtered += policy.feed(body[start : start + chunk], final=False)
    filtered += policy.feed(b"", final=True)

    whole = FilteredBody(None, "Test").feed(body, final=True)
    assert filtered == whole
    assert json.loads(filtered, parse_float=Decimal) == {
        **json.loads(text, parse_float=Decimal),
        "a": Decimal(long),  # a long integer, as a decimal: `.0` after it
        "b": Decimal("-" + long),
        "f": [Decimal(long)],
    }
    assert filtered.count(b".0") == 3


@pytest.mark.parametrize("where", ["eventId", "nextStartAfter"])
def test_a_number_beyond_a_float_as_an_id_is_no_id(
    httpserver: HTTPServer, log: list[dict[str, t.Any]], where: str
) -> None:
    events = copy.deepcopy(log[:2])
    body = page_bytes(events).replace(f'"{events[-1]["eventId"]}"'.encode(), b"1e400")
    serve_page(httpserver, body)

    run = run_cli(events_config(httpserver))

    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert "1E+400" in last, last
    assert "Traceback" not in run.stderr


# --- A body that cannot be decompressed ---------------------------------------------------------


def test_a_body_that_cannot_be_decompressed_is_not_fetched_again(httpserver: HTTPServer) -> None:
    received = serve_page(httpserver, b"this is no gzip stream", **{"Content-Encoding": "gzip"})

    run = run_cli(events_config(httpserver))

    assert run.returncode == 1
    assert len(received) == 1  # never fetched again: a page fetched again may cost quota
    last = run.stderr.strip().splitlines()[-1]
    assert "could not be decompressed" in last
    assert "retrying" not in run.stderr
    assert "Traceback" not in run.stderr


# --- The same policy for a published-plans document ---------------------------------------------


def plan_version(number: int, **fields: t.Any) -> dict[str, t.Any]:
    tasks = [{"taskId": f"t{n}", "name": f"Task {n}", "start": T0} for n in (1, 2)]
    base = {"id": f"v{number}", "version": number, "publishedAt": T0 + number * 604_800_000}
    return {**base, "tasks": tasks, "statuses": [], **fields}


def serve_document(
    httpserver: HTTPServer, body: bytes, content_type: str = "application/json"
) -> dict[str, t.Any]:
    httpserver.expect_request(PLANS_PATH).respond_with_data(body, content_type=content_type)
    return {"projects": [{"url": httpserver.url_for(PLANS_PATH), "token": "t0ken", "name": "P1"}]}


def document(*versions: dict[str, t.Any]) -> bytes:
    return json.dumps({"project": {"id": "p1"}, "publishedPlans": list(versions)}).encode()


def test_a_lone_surrogate_in_a_published_plan_is_u_fffd_with_a_warning(
    httpserver: HTTPServer,
) -> None:
    version = plan_version(2, name="Plan @LONE@")
    version["tasks"][1]["name"] = "Pour slab @LONE@"
    body = document(version, plan_version(1)).replace(b"@LONE@", rb"\ud83d")
    config = serve_document(httpserver, body)

    run = run_cli(config)

    assert run.returncode == 0, run.stderr
    plans = {r["publishedPlanId"]: r for r in run.records("published_plans")}
    assert set(plans) == {"v1", "v2"}
    assert plans["v2"]["name"] == "Plan \ufffd"
    assert plans["v2"]["undocumented"] == {"name": "Plan \\ud83d"}
    task = next(r for r in run.records("published_plan_tasks") if r["taskId"] == "t2")
    assert task["name"] == "Pour slab \ufffd"
    assert task["undocumented"] == {"name": "Pour slab \\ud83d"}
    said = warnings_naming(run, "lone UTF-16 surrogate")
    assert any("Project P1, version v2:" in line for line in said)
    assert any("Project P1, version v2, tasks row 2" in line for line in said)


def test_a_published_plans_document_with_a_bom_and_a_declared_charset_lands(
    httpserver: HTTPServer,
) -> None:
    text = json.dumps(
        {"project": {"id": "p1"}, "publishedPlans": [plan_version(1, name="Coulé")]},
        ensure_ascii=False,
    )
    body = b"\xef\xbb\xbf" + text.encode()
    config = serve_document(httpserver, body)
    latin = text.encode("iso-8859-1")

    run = run_cli(config)
    httpserver.clear()
    config = serve_document(httpserver, latin, "application/json; charset=ISO-8859-1")
    again = run_cli(config)

    for done in (run, again):
        assert done.returncode == 0, done.stderr
        assert [r["name"] for r in done.records("published_plans")] == ["Coulé"]


def test_a_published_plan_nested_100000_levels_lands_with_bounded_memory(
    httpserver: HTTPServer,
) -> None:
    # About 200 KB: before the bound, ijson's prefixes grew memory with the square of the depth
    # (past 19 GB in 20 s) until the kernel killed the tap.
    depth = 100_000
    version = plan_version(2, comment="@DEEP@")
    body = document(version, plan_version(1)).replace(b'"@DEEP@"', b"[" * depth + b"]" * depth)
    config = serve_document(httpserver, body)

    run = run_cli(config, None, env=None, timeout=60)

    assert run.returncode == 0, run.stderr
    plans = {r["publishedPlanId"]: r for r in run.records("published_plans")}
    assert set(plans) == {"v1", "v2"}
    assert len(run.records("published_plan_tasks")) == 4  # the rest of the document lands
    said = warnings_naming(run, f"nested deeper than {DEPTH_BOUND} levels")
    assert len(said) == 1
    assert "Project P1, version v2" in said[0]


def test_a_project_nested_past_the_bound_is_kept_whole_and_its_document_lands(
    httpserver: HTTPServer,
) -> None:
    # The project is kept whole, as the vendor wrote it: once a recursion as deep as the value,
    # which ended the project with a RecursionError.
    depth = DEPTH_BOUND + 100
    body = document(plan_version(1)).replace(b'{"id": "p1"}', b'{"id": "p1", "wbs": "@DEEP@"}')
    config = serve_document(httpserver, body.replace(b'"@DEEP@"', b"[" * depth + b"]" * depth))

    run = run_cli(config)

    assert run.returncode == 0, run.stderr
    (plan,) = run.records("published_plans")
    level, deepest = 3, plan["project"]["wbs"]  # level 1 is the document, 2 the project
    while isinstance(deepest, list):
        level, deepest = level + 1, deepest[0]
    raw = depth - (DEPTH_BOUND - 2)  # the brackets of levels 513 and deeper
    assert (level, deepest) == (DEPTH_BOUND + 1, "[" * raw + "]" * raw)


def test_a_project_of_objects_nested_past_the_sdks_walk_is_kept_and_its_document_lands(
    httpserver: HTTPServer,
) -> None:
    depth = 600  # objects: the SDK's walk of each record recursed past Python's limit
    body = document(plan_version(1)).replace(b'{"id": "p1"}', b'{"id": "p1", "wbs": "@DEEP@"}')
    nest = b'{"a": ' * depth + b"1" + b"}" * depth
    config = serve_document(httpserver, body.replace(b'"@DEEP@"', nest))

    run = run_cli(config)

    assert run.returncode == 0, run.stderr
    (plan,) = run.records("published_plans")
    level, deepest = 3, plan["project"]["wbs"]  # level 1 is the document, 2 the project
    while isinstance(deepest, dict):
        level, deepest = level + 1, deepest["a"]
    assert level == DEPTH_BOUND + 1
    assert deepest == (b'{"a": ' * (depth - DEPTH_BOUND + 2)).decode() + "1" + "}" * (
        depth - DEPTH_BOUND + 2
    )
    assert len(run.records("published_plan_tasks")) == 2
    (said,) = warnings_naming(run, f"nested deeper than {DEPTH_BOUND} levels")
    assert "Project P1: project.wbs.a.a" in said


def test_a_deep_list_in_a_table_the_tap_does_not_know_is_said_as_nested_too(
    httpserver: HTTPServer,
) -> None:
    version = plan_version(1)
    version["zz"] = "@DEEP@"
    depth = DEPTH_BOUND + 50
    body = document(version).replace(b'"@DEEP@"', b"[" * depth + b"]" * depth)
    config = serve_document(httpserver, body)

    run = run_cli(config)

    assert run.returncode == 0, run.stderr
    (plan,) = run.records("published_plans")
    assert isinstance(plan["undocumented"]["zz"], list)
    (said,) = warnings_naming(run, f"nested deeper than {DEPTH_BOUND} levels")
    assert "Project P1, version v1: zz[0][0]" in said
    assert warnings_naming(run, "a table the tap does not know, `zz`")


def test_a_number_beyond_a_float_in_a_published_plan_is_kept_as_it_came(
    httpserver: HTTPServer,
) -> None:
    version = plan_version(2)
    version["tasks"][0]["duration"] = "@HUGE@"
    version["statuses"] = [{"taskId": "t1", "date": T0, "type": "Delay", "value": "@HUGE@"}]
    unreadable = plan_version(3, publishedAt="@HUGE@")  # no time: the version is skipped
    body = document(unreadable, version, plan_version(1)).replace(b'"@HUGE@"', b"1e400")
    config = serve_document(httpserver, body.replace(b'"project"', b'"scale": 9e999, "project"'))

    run = run_cli(config)

    assert run.returncode == 0, run.stderr
    assert sorted(r["publishedPlanId"] for r in exact_records(run, "published_plans")) == [
        "v1",
        "v2",
    ]
    plan = next(r for r in exact_records(run, "published_plans") if r["publishedPlanId"] == "v2")
    assert plan["undocumented"] == {"document": {"scale": Decimal("9e999")}}
    task = next(r for r in exact_records(run, "published_plan_tasks") if r["taskId"] == "t1")
    assert task["duration"] is None
    assert task["undocumented"] == {"duration": Decimal("1e400")}
    [status] = exact_records(run, "published_plan_statuses")
    assert (status["value"], status["undocumented"]) == (None, {"value": Decimal("1e400")})
    assert any(
        "version v3: its publishedAt is the number 1E+400 (beyond a float's range), not a time"
        in line
        for line in log_lines(run.stderr, "WARNING")
    )


@pytest.mark.parametrize(
    "published_at", [b"9" * 5000, b"1e10000000"], ids=["5000-digit integer", "1e10000000"]
)
def test_a_number_no_decoder_or_clock_can_hold_is_no_time_and_neither_crashes_nor_hangs(
    httpserver: HTTPServer, published_at: bytes
) -> None:
    # The download thread's scan crashed the process (ijson, a long integer) or spent minutes
    # building a 10-million-digit integer (the time of 1e10000000), deaf to Ctrl-C.
    version = plan_version(2, publishedAt="@AT@")
    version["tasks"][0]["duration"] = "@AT@"
    body = document(version, plan_version(1)).replace(b'"@AT@"', published_at)
    config = serve_document(httpserver, body)

    run = run_cli(config, timeout=60)

    assert run.returncode == 0, run.stderr
    assert [r["publishedPlanId"] for r in run.records("published_plans")] == ["v1"]
    assert any(
        "skipped version v2: its publishedAt is the number" in line
        for line in log_lines(run.stderr, "WARNING")
    )


def test_a_number_beyond_any_decimal_is_one_clear_line_in_both_apis(
    httpserver: HTTPServer, log: list[dict[str, t.Any]]
) -> None:
    beyond = b"1e" + b"9" * 19  # no decimal holds an exponent of 19 digits
    serve_page(httpserver, page_bytes(log[:2]).replace(b'"TaskCreated"', beyond, 1))
    body = document(plan_version(1, version="@X@")).replace(b'"@X@"', beyond)
    plans = serve_document(httpserver, body)

    events = run_cli(events_config(httpserver))
    plan = run_cli(plans)

    for run in (events, plan):
        assert run.returncode == 1
        assert "a number beyond what a decimal can hold" in run.stderr.strip().splitlines()[-1]
        assert "Traceback" not in run.stderr
