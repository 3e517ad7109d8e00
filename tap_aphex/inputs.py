"""What a run is given, checked before the SDK reads it: config and state files, and the config
against the settings' schema, as the SDK will merge it (the `TAP_APHEX_*` variables: `settings`; a
catalog: `catalog_checks`). A problem is one line naming where as set
(`TAP_APHEX_PROJECTS[0].token`) and what, in JSON's words, never a secret."""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import typing as t
from collections.abc import Collection, Mapping
from pathlib import Path

import jsonschema
import msgspec
from singer_sdk.singerlib import StateMessage

from tap_aphex import sdk_seam
from tap_aphex.decoding import (
    JSON_WORDS,
    LONE_SURROGATE,
    KeyTwice,
    described,
    each_key_once,
    holds_lone_surrogate,
    json_kind,
    listed,
)
from tap_aphex.logs import printable, remember_secrets, run_secrets
from tap_aphex.report import ConfigError
from tap_aphex.settings import config_secrets, set_at

if t.TYPE_CHECKING:
    from singer_sdk import Tap

#: Far past any config, state or catalog (a state holds a few hundred bytes a project): a larger
#: file is a mistake (`--config /dev/zero` would be read for ever).
LARGEST_FILE = 64 * 1024 * 1024


def read_json(
    source: str | Path | t.IO[str], what: str, *, object_only: bool = False, lines_hint: str = ""
) -> object:
    """A config, state or catalog file's JSON value (``object_only``: an object), or why not
    (``lines_hint``: what to do with a file of JSON lines, the caller's words)."""
    path = source if isinstance(source, (str, Path)) else None
    name = str(path) if path is not None else getattr(source, "name", what)
    try:
        # As bytes: JSON reads UTF-8 (with Notepad's BOM too), UTF-16 and UTF-32 (PowerShell's `>`).
        file = t.cast("t.IO[bytes]", getattr(source, "buffer", source))
        with open(path, "rb") if path is not None else contextlib.nullcontext(file) as opened:
            text = opened.read(LARGEST_FILE + 1)
        if len(text) > LARGEST_FILE:
            problem = f"is larger than {LARGEST_FILE >> 20} MiB: no {what} is; check the path"
            raise ConfigError(f"The {what} file {name} {problem}.")
        value = json.loads(text, object_pairs_hook=each_key_once)
    except KeyTwice as twice:  # JSON readers keep one of the two without a word
        with contextlib.suppress(ValueError, RecursionError):  # a key may be a secret it holds
            if isinstance(whole := json.loads(text), dict):  # added to those of the files before
                remember_secrets(*sorted({*run_secrets(), *config_secrets(whole)}))
        problem = f"holds {printable(str(twice), limit=160)}: keep one"
    except json.JSONDecodeError as error:
        # Some of the decoder's messages end in "at" ("Unterminated string starting at").
        problem = f"is not JSON ({error.msg.removesuffix(' at')} at line {error.lineno})"
        if error.msg == "Extra data":  # JSON Lines, say (`read`'s output)
            problem = f"holds more than one JSON value (the next begins at line {error.lineno})"
            problem += f"; {lines_hint}" if lines_hint else ": give it one"
        if not error.doc.strip():
            problem = "is empty" + (": give it a JSON object {...}" if object_only else "")
    except UnicodeDecodeError:
        problem = "is not UTF-8 text: save it as UTF-8"
    except RecursionError:
        problem = "is nested too deep to read"
    except ValueError:  # an integer of more digits than Python reads
        problem = "holds an integer too long to read (over 4,300 digits)"
    except OSError as error:
        problem = f"cannot be read: {error.strerror or error}"
    else:
        if isinstance(value, dict) or not object_only:
            return value
        problem = f"must hold a JSON object {{...}}, not {json_kind(value)}"
    raise ConfigError(f"The {what} file {name} {problem}.")


def read_json_object(source: str | Path | t.IO[str], what: str) -> dict[str, t.Any]:
    return t.cast("dict[str, t.Any]", read_json(source, what, object_only=True))


def joined(problems: t.Sequence[str]) -> str:
    """Problems on one line, `; `-separated (`.;` reads as a typo: the period goes)."""
    cut = [p[:-1] if p.endswith(".") and not p.endswith("..") else p for p in problems[:-1]]
    return "; ".join([*cut, *problems[-1:]])


#: The shape the SDK reads of a state (a catalog's: `catalog_checks`).
_Object = dict[str, t.Any]
_Bookmark = t.TypedDict(  # noqa: UP013 (one style with catalog_checks' shapes)
    "_Bookmark",
    {"context": _Object, "progress_markers": _Object, "partitions": list["_Bookmark"]},
    total=False,
)


def shape_words(error: msgspec.ValidationError) -> str:
    """msgspec's words on a shape in JSON's, never Python's (`str`): where, then what is wrong."""
    what, _, where = str(error).partition(" - at `$")
    place = f"`{where.rstrip('`').lstrip('.')}`" if where else "it"
    if match := re.fullmatch(r"Expected `([\w |]+)`, got `(\w+)`", what):
        expected, got = (
            " or ".join(JSON_WORDS.get(name, name) for name in names.split(" | "))
            for names in match.groups()
        )
        return f"{place} must be {expected}, not {got}"
    return f"{place}: {what.removeprefix('Object ')}"  # e.g. missing required field `tap_stream_id`


def check_state_shape(
    state: object, name: str | None = None, streams: Collection[str] | None = None
) -> None:
    """A state the SDK can load, else refused: read from the start, a stream would re-send data."""
    if state is not None and state != {} and (problem := state_problem(state, streams)):
        where = f"The state file {name}" if name else "The state"
        raise ConfigError(
            f"{where} cannot be used ({problem}): it must be a JSON object like "
            '{"bookmarks": {"task_events": {...}}} (as this tap writes it); '
            f"{START_AFRESH}."
        )


#: Starting afresh from a state the tap refuses; one constant: `airbyte.writer` says Airbyte's way.
START_AFRESH = "drop `--state`, or clear the state in Meltano, to start afresh"
#: A value the SDK's writer cannot encode: it would fail writing the state back, after the run.
UNWRITABLE = "holds a value the tap cannot write back (a lone surrogate, too deep)"


def state_problem(state: object, streams: Collection[str] | None) -> str | None:
    """Why the SDK cannot load (or write back) ``state``, in words; None: it can."""
    if isinstance(state, dict) and "bookmarks" not in state:  # what it is, where they are
        if state.get("type") == "STATE" and "value" in state:
            return "it is a STATE message: pass its `value`, e.g. `jq .value`"
        if "singer_state" in state:
            return "it is Meltano's wrapper (from `meltano state get`): pass its `singer_state`"
        keys = ", ".join(f"`{key:.40}`" for key in list(state)[:5])
        return f"it has no `bookmarks`, only {keys}"
    bookmarks = state.get("bookmarks") if isinstance(state, dict) else None
    if not isinstance(bookmarks, dict):
        return "`bookmarks` must be an object"
    if streams is not None and (unknown := [name for name in bookmarks if name not in streams]):
        return (
            f"it has a bookmark for `{unknown[0]:.60}`, which is no stream of this tap (its "
            f"streams: {', '.join(streams)})"
        )
    for stream, bookmark in bookmarks.items():
        if problem := bookmark_shape_problem(bookmark, f"the bookmark of `{stream}`"):
            return problem
    return f"it {UNWRITABLE}" if unwritable(t.cast("dict[str, t.Any]", state)) else None


def unwritable(state: dict[str, t.Any]) -> bool:
    """Whether the SDK's writer would fail on ``state`` (or a part of one), which it writes back
    as it found it."""
    try:
        msgspec.json.encode(StateMessage(value=state).to_dict())
    except (UnicodeError, RecursionError, TypeError, ValueError):
        return True
    return False


def bookmark_shape_problem(bookmark: object, subject: str) -> str | None:
    """Why the SDK cannot load one stream's ``bookmark``, said of ``subject`` ("the bookmark of
    `tasks`"): `source-aphex` says the same of a stream state. None: it can."""
    try:
        partitions = msgspec.convert(bookmark, _Bookmark).get("partitions", [])
    except msgspec.ValidationError as error:
        return f"in {subject}, {shape_words(error)}"
    except UnicodeError:  # msgspec encodes each text it reads: a lone surrogate is none
        return f"{subject} {UNWRITABLE}"
    # The SDK reads each partition's `context`, and refuses two alike (quoting the state).
    contexts = {json.dumps(p.get("context"), sort_keys=True, default=str) for p in partitions}
    if "null" in contexts:
        return f"{subject} has a partition without a `context`"
    if len(contexts) < len(partitions):
        return f"{subject} has two partitions of one `context`"
    return None


#: Draft 7 (the draft the SDK's schemas declare), with "integer" a JSON integer as written (`100`):
#: jsonschema's own takes integral floats, which would reach the API as `pageSize=100.0`.
_StrictValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, value: isinstance(value, int) and not isinstance(value, bool)
    ),
)
_MISMATCH = ("type", "const", "enum")  # an `anyOf` option the value is not of


def schema_problems(
    schema: dict[str, t.Any], config: Mapping[str, t.Any], variables: Mapping[str, str]
) -> list[str]:
    """The config's JSON Schema errors in JSON's words: where (as `set_at` names it), what it must
    be, what it is: only the kind of an object, an array, or a value whose schema holds a secret
    (a key, a project, its token); the run's secrets hidden in any other, and a text holding a
    lone surrogate never shown (nor a name: the problem is its mapping's, which holds it)."""
    problems = []
    for error in _innermost(_StrictValidator(schema).iter_errors(dict(config))):
        parts = list(error.absolute_path)
        named = next((i for i, p in enumerate(parts) if holds_lone_surrogate(p)), len(parts))
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p:.60}" for p in parts[:named])
        where, value = set_at(path.lstrip("."), variables), error.instance
        if named < len(parts):
            holder = f"`{where}` holds a name with" if where else "A setting's name holds"
            problems.append(f"{holder} {LONE_SURROGATE}: retype it")
            continue
        for name in error.validator_value if error.validator == "required" else ():
            if name not in (given := list(map(str, value))):  # each missing name on its own
                close = difflib.get_close_matches(name, given, n=1)
                typo = f" (`{close[0]:.40}` is there: a typo?)" if close else ""
                if close and holds_lone_surrogate(close[0]):
                    typo = " (a name holding a lone UTF-16 surrogate is there: a typo?)"
                problems.append(f"`{f'{where}.{name}'.lstrip('.')}` is required{typo}")
        if error.validator != "required":
            hidden = isinstance(value, (dict, list)) or '"secret": true' in json.dumps(error.schema)
            said = json_kind(value) if hidden else printable(described(value))
            if holds_lone_surrogate(value):  # the text is no character: what it is, not it
                said = f"a string holding {LONE_SURROGATE}"
            problems.append(f"`{where}` must be {expected(error.schema)}, not {said}")
    return sorted(set(problems))  # by where


def _innermost(errors: t.Iterable[t.Any]) -> t.Iterator[t.Any]:
    """An `anyOf`'s (`oneOf`'s) errors in the option of the value's type, else its own."""
    for error in errors:
        inner = [e for e in error.context or () if e.path or e.validator not in _MISMATCH]
        yield from _innermost(inner) if inner else [error]


def expected(schema: Mapping[str, t.Any]) -> str:
    """What a schema admits in JSON's words: its values, else its types (null, i.e. unset, only
    alone) and bounds, else each option's (`"__NULL__", null or an object`)."""
    types: list[str] = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    values = schema.get("enum", [schema.get("const")] if "const" in schema else [])
    words = [json.dumps(value) for value in values]
    words = words or [JSON_WORDS[name] for name in types if name != "null" or len(types) == 1]
    words = words or [expected(option) for option in schema.get("anyOf", schema.get("oneOf", []))]
    words = list(dict.fromkeys(words)) or ["what its schema says"]
    low, high = schema.get("minimum"), schema.get("maximum")
    bounds = f" from {low} to {high}" if None not in (low, high) else ""
    bounds = bounds or "".join(
        f" of at {w} {n}" for w, n in [("least", low), ("most", high)] if n is not None
    )
    return listed(words, "or") + bounds


def merged_config(
    tap: type[Tap],
    files: Mapping[str, t.Any],
    schema: dict[str, t.Any],
    variables: Mapping[str, str],
    *,
    env: bool,
    validate: bool,
) -> tuple[dict[str, t.Any], list[str]]:
    """The config as the SDK merges it (``env``: `TAP_APHEX_*` variables over the files'), and
    its problems: the schema's (``validate``), then a variable's integer too long for the SDK's
    own reading of it (a setting with no bound: one within a bound is said out of it)."""
    with sdk_seam.integers_of_any_length() as digits:
        read = sdk_seam.env_config(tap) if env else {}
        given = {**files, **read}
        problems = schema_problems(schema, given, variables) if validate else []
        return given, problems or [
            f"`{variables[name]}` is a whole number too long to read (over {digits:,} digits)"
            for name, value in read.items()
            if isinstance(value, int) and digits and len(str(abs(value))) > digits
        ]
