"""What a run is given (config, state, catalog; files or `TAP_APHEX_*` variables), checked before
the SDK sees it and before any request: each problem is one line naming the file, setting or
variable and what is wrong (`ConfigError`), never quoting a value (it may be a key or a token),
never a traceback from deep in the SDK."""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
import typing as t
from pathlib import Path

# fsspec: the filesystems of the SDK's BATCH storage (the SDK loads it already).
import fsspec  # type: ignore[import-untyped]
import jsonschema
import msgspec
from singer_sdk.batch import Batcher
from singer_sdk.singerlib import Catalog, StateMessage

from tap_aphex.decoding import described
from tap_aphex.logs import printable
from tap_aphex.report import ConfigError
from tap_aphex.sdk_seam import batch_config_from
from tap_aphex.settings import PROJECT

if t.TYPE_CHECKING:
    from collections.abc import Collection


def read_json(source: str | Path | t.IO[str], what: str) -> object:
    """A config, state or catalog file's JSON value, or one line naming it and the problem."""
    name = _file_name(source, what)
    try:
        # As bytes, JSON's own detection reads UTF-8 with or without a BOM (Notepad's), UTF-16
        # and UTF-32 (PowerShell's `>`).
        if isinstance(source, (str, Path)):
            text: str | bytes = Path(source).read_bytes()
        else:  # click's `--state`/`--catalog`: a text file, whose bytes are read instead
            binary = getattr(source, "buffer", None)
            text = binary.read() if binary is not None else source.read()
        return json.loads(text.removeprefix("\ufeff") if isinstance(text, str) else text)
    except json.JSONDecodeError as error:
        msg = f"The {what} file {name} is not JSON ({error.msg} at line {error.lineno})."
        raise ConfigError(msg) from None
    except UnicodeDecodeError:
        raise ConfigError(f"The {what} file {name} is not UTF-8 text: save it as UTF-8.") from None
    except ValueError:  # an integer of more digits than Python reads
        msg = f"The {what} file {name} holds an integer too long to read (over 4,300 digits)."
        raise ConfigError(msg) from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError(f"The {what} file {name} cannot be read: {reason}.") from None


def joined(problems: t.Sequence[str]) -> str:
    """Problems on one line, each `; `-separated without its own closing period (a sentence's
    `.;` reads as a typo); the last keeps its own."""
    cut = [
        problem[:-1] if problem.endswith(".") and not problem.endswith("..") else problem
        for problem in problems[:-1]
    ]
    return "; ".join([*cut, *problems[-1:]])


def read_json_object(source: str | Path | t.IO[str], what: str) -> dict[str, t.Any]:
    """A config, state or catalog file's JSON object, or one line naming it and the problem."""
    value = read_json(source, what)
    if not isinstance(value, dict):
        kind = type(value).__name__.replace("list", "a list").replace("str", "a string")
        name = _file_name(source, what)
        raise ConfigError(f"The {what} file {name} must hold a JSON object {{...}}, not {kind}.")
    return value


def _file_name(source: str | Path | t.IO[str], what: str) -> str:
    return str(source) if isinstance(source, (str, Path)) else getattr(source, "name", what)


def check_state_shape(
    state: object, name: str | None = None, streams: Collection[str] | None = None
) -> None:
    """A state the SDK can load: an object whose `bookmarks` maps ``streams`` to objects. Anything
    else is refused, not skipped (a stream read from the start would silently re-send, or skip,
    what the user expects): a misspelt stream, a STATE message, Meltano's wrapper."""
    if state is None or state == {}:  # no state: a first run
        return
    bookmarks = state.get("bookmarks") if isinstance(state, dict) else None
    problem = None
    if isinstance(state, dict) and "bookmarks" not in state:
        problem = _wrapped_state(state)
    elif not isinstance(bookmarks, dict):
        problem = "`bookmarks` must be an object"
    elif streams is not None and (unknown := [name for name in bookmarks if name not in streams]):
        problem = (
            f"it has a bookmark for `{unknown[0]:.60}`, which is no stream of this tap (its "
            f"streams: {', '.join(streams)})"
        )
    else:
        unusable = [stream for stream, mark in bookmarks.items() if not _usable_bookmark(mark)]
        if unusable:
            problem = f"the bookmark of `{unusable[0]}` has a shape the tap cannot use"
        else:
            try:  # the SDK writes the state back as it found it: as its writer does
                msgspec.json.encode(StateMessage(value=t.cast("dict[str, t.Any]", state)).to_dict())
            except (UnicodeError, RecursionError, TypeError, ValueError):
                problem = "it holds a value the tap cannot write back (a lone surrogate, too deep)"
    if problem:
        where = f"The state file {name}" if name else "The state"
        raise ConfigError(
            f"{where} cannot be used ({problem}): it must be a JSON object like "
            '{"bookmarks": {"task_events": {...}}} (as this tap writes it); drop `--state`, or '
            "clear the state in Meltano, to start afresh."
        )


def _wrapped_state(state: dict[str, t.Any]) -> str:
    """What a non-empty state without `bookmarks` is, and where its bookmarks would be."""
    if state.get("type") == "STATE" and "value" in state:
        return "it is a STATE message: pass its `value`, e.g. `jq .value`"
    if "singer_state" in state:
        return "it is Meltano's wrapper (as `meltano state get` prints it): pass its `singer_state`"
    keys = ", ".join(f"`{key:.40}`" for key in list(state)[:5])
    return f"it has no `bookmarks`, only {keys}"


def _usable_bookmark(bookmark: object) -> bool:
    """An object; its `partitions` objects, each with an object `context` of its own (the SDK
    reads `context` from each, and refuses two alike); `progress_markers` one."""
    if not isinstance(bookmark, dict):
        return False
    partitions = bookmark.get("partitions", [])
    if not (
        isinstance(bookmark.get("progress_markers", {}), dict) and isinstance(partitions, list)
    ):
        return False
    if not all(_usable_bookmark(p) and isinstance(p.get("context"), dict) for p in partitions):
        return False
    contexts = {json.dumps(p["context"], sort_keys=True, default=str) for p in partitions}
    return len(contexts) == len(partitions)


def check_catalog_shape(catalog: object, name: str, known: Collection[str]) -> list[str]:
    """A catalog the SDK can read (each stream's id, schema and metadata), else one line; a
    warning per entry naming no stream in ``known`` (the SDK skips it unsaid)."""
    streams = catalog.get("streams", []) if isinstance(catalog, dict) else None
    problem = None
    if not isinstance(streams, list):
        problem = "`streams` must be a list [...]"
    else:
        for index, stream in enumerate(streams):
            if not isinstance(stream, dict) or not isinstance(stream.get("tap_stream_id"), str):
                problem = f"`streams[{index}]` must be an object with a `tap_stream_id`"
            elif not isinstance(stream.get("schema", {}), dict):
                problem = f"`streams[{index}].schema` must be an object"
            elif not isinstance(metadata := stream.get("metadata", []), list) or not all(
                isinstance(entry, dict) and isinstance(entry.get("metadata", {}), dict)
                for entry in metadata
            ):
                problem = f"`streams[{index}].metadata` must be a list of objects"
            else:
                problem = _selection_problem(metadata, f"streams[{index}].metadata")
            if problem:
                break
    if problem is None:
        try:
            Catalog.from_dict(t.cast("dict[str, t.Any]", catalog))
        except (TypeError, AttributeError, KeyError, ValueError) as error:
            problem = f"it cannot be read ({type(error).__name__})"
    if problem:
        raise ConfigError(
            f"The catalog file {name} is not a catalog the tap can use: {problem}. Make one "
            "with `tap-aphex --discover`."
        )
    return [
        f"The catalog file {name} names a stream this tap does not have, `{stream:.60}`: it is "
        f"ignored (the tap's streams: {', '.join(known)})."
        for stream in (entry["tap_stream_id"] for entry in t.cast("list[dict[str, str]]", streams))
        if stream not in known
    ]


#: The metadata the SDK reads a selection from (`selected` first, else `selected-by-default`).
_SELECTION_KEYS = ("selected", "selected-by-default")


def _selection_problem(metadata: list[dict[str, t.Any]], where: str) -> str | None:
    """A selection that is not a JSON boolean: the SDK takes any value given as the answer, so
    `"false"` (a string) would select the stream or property it was meant to leave out."""
    for index, entry in enumerate(metadata):
        values = entry.get("metadata", {})
        for key in _SELECTION_KEYS:
            if key in values and not isinstance(values[key], bool):
                return (
                    f"`{where}[{index}].metadata.{key}` must be true or false (a JSON boolean), "
                    f"not {described(values[key], 20)}"
                )
    return None


def _is_json_integer(checker: object, instance: object) -> bool:
    """A JSON integer as written (`100`), not `100.0`: jsonschema's own "integer" takes integral
    floats, which would reach the API as `pageSize=100.0` (a silent coercion)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


#: Draft 7 (the draft the SDK's schemas declare), with "integer" meaning a JSON integer.
_StrictValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft7Validator,
    type_checker=jsonschema.Draft7Validator.TYPE_CHECKER.redefine("integer", _is_json_integer),
)


def schema_problems(schema: dict[str, t.Any], config: t.Mapping[str, t.Any]) -> list[str]:
    """The config's JSON Schema errors, worded without the value (it may be a key or token)."""
    validator = _StrictValidator(schema)
    errors = sorted(validator.iter_errors(dict(config)), key=lambda e: list(map(str, e.path)))
    return [_schema_problem(error) for error in errors]


def _schema_problem(error: jsonschema.ValidationError) -> str:
    # Worded as the SDK words where (config['projects'][0]['token']), without the value.
    where = "config" + "".join(f"[{part!r}]" for part in error.absolute_path)
    expected: t.Any = error.validator_value
    if error.validator == "required":
        instance = error.instance if isinstance(error.instance, dict) else {}
        missing = [name for name in expected if name not in instance]
        return "; ".join(
            f"{where}: {name!r} is required{_typo_of(name, instance)}" for name in missing
        )
    if error.validator == "type":
        names = [expected] if isinstance(expected, str) else expected
        problem = "must be of type " + " or ".join(repr(name) for name in names if name != "null")
    elif error.validator == "enum":
        problem = "must be one of " + ", ".join(map(repr, expected))
    else:
        wording = {
            "minimum": "must be at least {}",
            "maximum": "must be at most {}",
            "minLength": "must not be empty",
            "format": "must be in {} format",
        }
        template = wording.get(str(error.validator), "is not valid ({validator})")
        problem = template.format(expected, validator=error.validator)
    return f"{where}: {problem}"


def _typo_of(name: str, given: t.Mapping[str, t.Any]) -> str:
    """`` (`toekn` is there: a typo?)`` when a key given is close to the ``name`` missing."""
    close = difflib.get_close_matches(name, [str(key) for key in given], n=1)
    return f" (`{close[0]:.40}` is there: a typo?)" if close else ""


def unknown_settings(config: t.Mapping[str, t.Any], schema: dict[str, t.Any]) -> list[str]:
    """A warning per setting the tap does not know (a typo is ignored otherwise), with a guess."""
    warnings = _unknown(config, schema, "")
    for index, project in enumerate(config.get("projects") or []):
        if isinstance(project, dict):
            warnings += _unknown(project, PROJECT.to_dict(), f"projects[{index}].")
    return warnings


def _unknown(config: t.Mapping[str, t.Any], schema: dict[str, t.Any], prefix: str) -> list[str]:
    known = list(schema.get("properties", {}))
    warnings = []
    for name in config:
        if name in known:
            continue
        close = difflib.get_close_matches(name, known, n=1)
        guess = f"; did you mean `{prefix}{close[0]}`?" if close else ""
        warnings.append(f"Unknown setting `{prefix}{name}` is ignored{guess}")
    return warnings


def log_level(environ: t.Mapping[str, str], prefix: str = "TAP_APHEX_") -> tuple[str, int | None]:
    """The log level's variable, as the SDK reads it (``<prefix>LOGLEVEL`` unless unset or empty,
    else LOGLEVEL, in any case), and the level it names (None: unset, or no level).

    An empty ``<prefix>LOGLEVEL`` is unset to the SDK (it falls through to LOGLEVEL), but an
    empty LOGLEVEL is not: the console takes it as INFO, then the metrics logger's
    `setLevel('')` fails (`Unknown level: ''`): it names no level."""
    import logging

    variable = f"{prefix}LOGLEVEL" if environ.get(f"{prefix}LOGLEVEL") else "LOGLEVEL"
    value = environ.get(variable)
    level = logging.getLevelName(value.upper()) if value is not None else None
    return variable, level if isinstance(level, int) else None  # ('' answers "Level ")


def log_level_problem(environ: t.Mapping[str, str], prefix: str = "TAP_APHEX_") -> str | None:
    """A log level's variable that names no level, in one line: the SDK's own error names neither
    the variable nor the levels."""
    variable, level = log_level(environ, prefix)
    value = environ.get(variable)
    if value is None or level is not None:
        return None
    return (
        f"{variable}={value[:20]!r} is no log level: set DEBUG, INFO, WARNING or ERROR, or unset "
        "it (INFO)."
    )


#: What the SDK reads from `<PREFIX>*` variables besides the settings: the plugin's log level.
SDK_ENV_NAMES = ("LOGLEVEL",)
#: A whole number as the environment writes it: digits, no spaces, no `_`, no sign but `-`.
_ENV_INTEGER = re.compile(r"-?[0-9]+")


#: What the SDK reads as true (all else is false to it, typos included), and their opposites.
_ENV_BOOLEANS = frozenset({"true", "1", "yes", "on", "false", "0", "no", "off"})


def env_problems(schema: dict[str, t.Any], prefix: str, environ: t.Mapping[str, str]) -> list[str]:
    """With `--config ENV`, each value the SDK would guess at, named: integers are digits (its
    `int()` takes " 500 "), booleans true or false, arrays and objects JSON (else a traceback)."""
    problems = []
    for name, spec in schema.get("properties", {}).items():
        variable = prefix + name.upper().replace("-", "_")
        value = environ.get(variable)
        if value is None:
            continue
        types = spec.get("type", [])
        types = [types] if isinstance(types, str) else types
        if "string" in types and not value.strip():  # named here, as the variable, not the setting
            problems.append(
                f"Environment variable {variable} is empty: unset it to leave {name} unset, or "
                "set a value."
            )
        elif "integer" in types and not _ENV_INTEGER.fullmatch(value):
            problems.append(
                f"Environment variable {variable} must be a whole number (digits only, no spaces)."
            )
        elif "boolean" in types and value.lower() not in _ENV_BOOLEANS:
            problems.append(
                f"Environment variable {variable} must be true or false (or 1/0, yes/no, on/off)."
            )
        elif {"array", "object"} & set(types) and value.strip() == "null":
            problems.append(
                f"Environment variable {variable} is null: unset it to leave {name} unset."
            )
        elif {"array", "object"} & set(types):
            try:
                json.loads(value)
            except json.JSONDecodeError as error:
                kind = "an array [...]" if "array" in types else "an object {...}"
                problems.append(
                    f"Environment variable {variable} must be JSON, {kind} ({error.msg} at "
                    f"character {error.pos})."
                )
            except ValueError:  # an integer of more digits than Python reads
                problems.append(f"Environment variable {variable} has an integer too long to read.")
    return problems


def unknown_env(schema: dict[str, t.Any], prefix: str, environ: t.Mapping[str, str]) -> list[str]:
    """A warning per `<prefix>*` variable naming no setting (a typo is ignored otherwise)."""
    names = [*schema.get("properties", {}), *SDK_ENV_NAMES]
    known = [name.upper().replace("-", "_") for name in names]
    warnings = []
    for variable in sorted(environ):
        # Meltano's own variables for a plugin (`TAP_APHEX__SELECT`...) have a second underscore.
        rest = variable[len(prefix) :]
        if not variable.startswith(prefix) or rest in known or rest.startswith("_"):
            continue
        close = difflib.get_close_matches(rest, known, n=1)
        guess = f"; did you mean {prefix}{close[0]}?" if close else ""
        warnings.append(f"Unknown environment variable {variable} is ignored{guess}")
    return warnings


def batch_config_problems(config: t.Mapping[str, t.Any]) -> list[str]:
    """A shape the SDK cannot read, a format without its encoder (or the package it imports), a
    storage root whose filesystem is not installed: each would fail after pages were read."""
    raw = config.get("batch_config")
    if not raw:
        return []
    try:
        batch = batch_config_from(raw)
        encoding_format = str(batch.encoding.format)
        root = str(batch.storage.root)
    except (TypeError, ValueError, KeyError, AttributeError) as error:
        return [
            f"`batch_config` cannot be read ({type(error).__name__}): it needs `encoding` "
            "(`format`, `compression`) and `storage` (`root`)"
        ]
    try:
        Batcher.get_batcher(encoding_format)
    except ValueError:
        return [f"`batch_config`: no BATCH encoder for format `{encoding_format:.40}`"]
    # The SDK imports pyarrow only when it writes the first Parquet file, too late to refuse.
    if encoding_format == "parquet" and importlib.util.find_spec("pyarrow") is None:
        return [
            "`batch_config`: format `parquet` needs the package `pyarrow`, which is not installed; "
            "install it where the tap runs (`pip install pyarrow`), or use format `jsonl`"
        ]
    # The storage root's filesystem, fsspec's by URL scheme: unknown, or its package not installed.
    scheme = root.split("://", 1)[0] if "://" in root else "file"
    try:
        fsspec.get_filesystem_class(scheme)
    except ImportError as error:
        return [
            f"`batch_config`: storage root `{scheme}://` needs a package that is not "
            f"installed ({printable(str(error), limit=120)})"
        ]
    except ValueError:
        return [f"`batch_config`: storage root `{scheme:.20}://` is no filesystem fsspec knows"]
    return []
