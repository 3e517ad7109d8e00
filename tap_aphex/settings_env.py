"""Settings from the environment (`--config ENV`): held to the same rules as a config file's.

The SDK reads `TAP_APHEX_<SETTING>` variables itself, converting integers with `int()` (which also
takes " 500 " and "1_000") and arrays and objects with `json.loads` (whose error would surface as
a traceback); these checks run first, and name the variable.
"""

from __future__ import annotations

import difflib
import json
import re
import typing as t

#: What the SDK reads from `<PREFIX>*` variables besides the settings: the plugin's log level.
SDK_ENV_NAMES = ("LOGLEVEL",)
#: A whole number as the environment writes it: digits, no spaces, no `_`, no sign but `-`.
_ENV_INTEGER = re.compile(r"-?[0-9]+")


def env_problems(schema: dict[str, t.Any], prefix: str, environ: t.Mapping[str, str]) -> list[str]:
    """Environment values the tap would have to guess at, each named by its variable.

    The same rules as a config file's: an integer setting is digits only (the SDK's `int()` would
    also take " 500 " and "1_000"), an array or object setting is JSON.
    """
    problems = []
    for name, spec in schema.get("properties", {}).items():
        variable = prefix + name.upper().replace("-", "_")
        value = environ.get(variable)
        if value is None:
            continue
        types = _types(spec)
        if "integer" in types and not _ENV_INTEGER.fullmatch(value):
            problems.append(
                f"Environment variable {variable} must be a whole number (digits only, no spaces)."
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
    return problems


def unknown_env(schema: dict[str, t.Any], prefix: str, environ: t.Mapping[str, str]) -> list[str]:
    """A warning per `<prefix>*` variable naming no setting (a typo is ignored otherwise)."""
    names = [*schema.get("properties", {}), *SDK_ENV_NAMES]
    known = {prefix + name.upper().replace("-", "_"): name for name in names}
    warnings = []
    for variable in sorted(environ):
        # Meltano's own variables for a plugin (`TAP_APHEX__SELECT`...) have a second underscore.
        rest = variable[len(prefix) :]
        if not variable.startswith(prefix) or variable in known or rest.startswith("_"):
            continue
        close = difflib.get_close_matches(rest, [name[len(prefix) :] for name in known], n=1)
        guess = f"; did you mean {prefix}{close[0]}?" if close else ""
        warnings.append(f"Unknown environment variable {variable} is ignored{guess}")
    return warnings


def _types(spec: dict[str, t.Any]) -> list[str]:
    kind = spec.get("type", [])
    return [kind] if isinstance(kind, str) else list(kind)
