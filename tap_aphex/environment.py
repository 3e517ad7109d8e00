"""What is set, checked before the SDK reads it: a config against the settings' schema, in JSON's
words; the `TAP_APHEX_*` variables (`--config ENV`: the SDK guesses at `int(" 500 ")`, takes a typo
as false, fails on bad JSON); a warning per setting or variable the tap does not know (a typo is
ignored otherwise), with a guess. A place is named as set: `projects[0].token`, or the variable's
`TAP_APHEX_PROJECTS[0].token`."""

from __future__ import annotations

import difflib
import json
import re
import typing as t
from collections.abc import Mapping

import jsonschema

from tap_aphex.decoding import JSON_WORDS, described, json_kind, readable
from tap_aphex.logs import printable, run_secrets
from tap_aphex.settings import PROJECT, set_at

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
    (a key, a project, its token); the run's secrets hidden in any other."""
    problems = []
    for error in _innermost(_StrictValidator(schema).iter_errors(dict(config))):
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p:.60}" for p in error.absolute_path)
        where, value = set_at(path.lstrip("."), variables), error.instance
        for name in error.validator_value if error.validator == "required" else ():
            if name not in (given := list(map(str, value))):  # each missing name on its own
                close = difflib.get_close_matches(name, given, n=1)
                typo = f" (`{close[0]:.40}` is there: a typo?)" if close else ""
                problems.append(f"`{f'{where}.{name}'.lstrip('.')}` is required{typo}")
        if error.validator != "required":
            hidden = isinstance(value, (dict, list)) or '"secret": true' in json.dumps(error.schema)
            said = json_kind(value) if hidden else printable(described(value), run_secrets())
            problems.append(f"`{where}` must be {_expected(error.schema)}, not {said}")
    return sorted(set(problems))  # by where


def _innermost(errors: t.Iterable[t.Any]) -> t.Iterator[t.Any]:
    """An `anyOf`'s (`oneOf`'s) errors in the option of the value's type, else its own."""
    for error in errors:
        inner = [e for e in error.context or () if e.path or e.validator not in _MISMATCH]
        yield from _innermost(inner) if inner else [error]


def _expected(schema: Mapping[str, t.Any]) -> str:
    """What a schema admits in JSON's words: its values, else its types (null, i.e. unset, only
    alone) and bounds, else each option's (`"__NULL__", null or an object`)."""
    types: list[str] = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    values = schema.get("enum", [schema.get("const")] if "const" in schema else [])
    words = [json.dumps(value) for value in values]
    words = words or [JSON_WORDS[name] for name in types if name != "null" or len(types) == 1]
    words = words or [_expected(option) for option in schema.get("anyOf", schema.get("oneOf", []))]
    words = list(dict.fromkeys(words)) or ["what its schema says"]
    low, high = schema.get("minimum"), schema.get("maximum")
    bounds = f" from {low} to {high}" if None not in (low, high) else ""
    bounds = bounds or "".join(
        f" of at {w} {n}" for w, n in [("least", low), ("most", high)] if n is not None
    )
    return ", ".join(words[:-1]) + " or " * (len(words) > 1) + words[-1] + bounds


def env_variables(schema: dict[str, t.Any], prefix: str, env: Mapping[str, str]) -> dict[str, str]:
    """Each setting a `<prefix>*` variable sets (`--config ENV` puts it over the files')."""
    names = {name: prefix + name.upper().replace("-", "_") for name in schema["properties"]}
    return {name: variable for name, variable in names.items() if variable in env}


def env_problems(schema: dict[str, t.Any], prefix: str, env: Mapping[str, str]) -> list[str]:
    return [
        f"`{variable}` {problem}."
        for name, variable in env_variables(schema, prefix, env).items()
        if (problem := _env_problem(name, schema["properties"][name], env[variable]))
    ]


def _env_problem(name: str, setting: dict[str, t.Any], value: str) -> str | None:
    types = setting.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "string" in types and not value.strip():  # named here, as the variable, not the setting
        return f"is empty: unset it to leave `{name}` unset, or set a value"
    said = printable(readable(json.dumps(value), 40), run_secrets())  # a number's, a flag's
    if "integer" in types and not re.fullmatch("-?[0-9]+", value):  # no spaces, `_` nor `+`
        return f"must be a whole number (digits only, no spaces), not {said}"
    # What the SDK reads as true (all else is false to it, typos included), and their opposites.
    if "boolean" in types and not re.fullmatch("(?ai)true|1|yes|on|false|0|no|off", value):
        return f"must be true or false (or 1/0, yes/no, on/off), not {said}"
    if {"array", "object"}.isdisjoint(types):
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        kind = "an array [...]" if "array" in types else "an object {...}"
        return f"must be JSON, {kind} ({error.msg} at character {error.pos})"
    except RecursionError:
        return "is nested too deep to read"
    except ValueError:  # an integer of more digits than Python reads
        return "has an integer too long to read"
    return f"is null: unset it to leave `{name}` unset" if parsed is None else None


def unknown_env(schema: dict[str, t.Any], prefix: str, env: Mapping[str, str]) -> list[str]:
    # The SDK reads its LOGLEVEL too; Meltano's own (`TAP_APHEX__SELECT`...) have a second `_`.
    known = [name.upper().replace("-", "_") for name in [*schema["properties"], "LOGLEVEL"]]
    given = [name.removeprefix(prefix) for name in sorted(env) if name.startswith(prefix)]
    names = [name for name in given if not name.startswith("_")]
    return _unknown("environment variable", names, known, f"`{prefix}{{}}`")


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
        close = difflib.get_close_matches(name, known, n=1)
        guess = f"; did you mean {spelt.format(close[0])}?" if close else ""
        warnings.append(f"Unknown {kind} {spelt.format(name)} is ignored{guess}")
    return warnings
