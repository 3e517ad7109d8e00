"""Records checked against their stream's SCHEMA by a plain JSON Schema validator."""

from __future__ import annotations

import re
import typing as t

from jsonschema import Draft202012Validator, FormatChecker  # type: ignore[import-untyped]

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_formats = FormatChecker()


def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


_formats.checks("date-time")(_is_date_time)


def schema_errors(schema: dict[str, t.Any], records: t.Iterable[dict[str, t.Any]]) -> list[str]:
    """Every way ``records`` break ``schema`` (empty when all are valid)."""
    validator = Draft202012Validator(schema, format_checker=_formats)
    return [
        f"record {number}: {error.json_path}: {error.message}"
        for number, record in enumerate(records)
        for error in validator.iter_errors(record)
    ]
