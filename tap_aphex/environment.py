"""What is set by name: the `TAP_APHEX_*` variables (`--config ENV`), checked before the SDK reads
them (it guesses at `int(" 500 ")`, takes a typo as false, fails on bad JSON); and a warning per
setting or variable the tap does not know (a typo is ignored otherwise), with a guess."""

from __future__ import annotations

import difflib
import json
import re
import typing as t
from collections.abc import Mapping

from tap_aphex.settings import PROJECT, set_at


def env_variables(schema: dict[str, t.Any], prefix: str, env: Mapping[str, str]) -> dict[str, str]:
    """Each setting a `<prefix>*` variable sets (`--config ENV` puts it over the files')."""
    names = {name: prefix + name.upper().replace("-", "_") for name in schema["properties"]}
    return {name: variable for name, variable in names.items() if variable in env}


def env_problems(schema: dict[str, t.Any], prefix: str, env: Mapping[str, str]) -> list[str]:
    return [
        f"Environment variable {variable} {problem}."
        for name, variable in env_variables(schema, prefix, env).items()
        if (problem := _env_problem(name, schema["properties"][name], env[variable]))
    ]


def _env_problem(name: str, setting: dict[str, t.Any], value: str) -> str | None:
    types = setting.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "string" in types and not value.strip():  # named here, as the variable, not the setting
        return f"is empty: unset it to leave {name} unset, or set a value"
    if "integer" in types and not re.fullmatch("-?[0-9]+", value):  # no spaces, `_` nor `+`
        return "must be a whole number (digits only, no spaces)"
    # What the SDK reads as true (all else is false to it, typos included), and their opposites.
    if "boolean" in types and not re.fullmatch("(?ai)true|1|yes|on|false|0|no|off", value):
        return "must be true or false (or 1/0, yes/no, on/off)"
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
    return f"is null: unset it to leave {name} unset" if parsed is None else None


def unknown_env(schema: dict[str, t.Any], prefix: str, env: Mapping[str, str]) -> list[str]:
    # The SDK reads its LOGLEVEL too; Meltano's own (`TAP_APHEX__SELECT`...) have a second `_`.
    known = [name.upper().replace("-", "_") for name in [*schema["properties"], "LOGLEVEL"]]
    given = [name.removeprefix(prefix) for name in sorted(env) if name.startswith(prefix)]
    names = [name for name in given if not name.startswith("_")]
    return _unknown("environment variable", names, known, prefix + "{}")


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
