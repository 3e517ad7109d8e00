"""A plain JSON Schema validator for records, as a target would check them, date-times included.

jsonschema checks `format: date-time` only with an optional package; this check is ours and
strict: RFC 3339 with a time zone (the tap writes ``...Z``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import typing as t

from jsonschema import Draft202012Validator, FormatChecker

_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True  # the type keyword judges non-strings
    dt.datetime.fromisoformat(value.replace("Z", "+00:00"))  # ValueError: not a real moment
    return _RFC3339.fullmatch(value) is not None


def validator(schema: dict[str, t.Any]) -> Draft202012Validator:
    """A validator of ``schema`` that also checks date-time formats.

    Built once per distinct schema (its JSON text is the key, so a schema changed in place is a new
    one): checking a schema against the metaschema costs ten times what checking a few records
    does, and the property tests check the same handful of schemas hundreds of times."""
    key = json.dumps(schema, sort_keys=True)
    if key not in _VALIDATORS:
        Draft202012Validator.check_schema(schema)
        _VALIDATORS[key] = Draft202012Validator(json.loads(key), format_checker=FORMATS)
    return _VALIDATORS[key]


_VALIDATORS: dict[str, Draft202012Validator] = {}


def schema_errors(check: Draft202012Validator, record: dict[str, t.Any]) -> list[str]:
    """Every way ``record`` fails the schema (empty when it is valid), each with its path."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in check.iter_errors(record)
    ]


def invalid_records(schema: dict[str, t.Any], records: t.Iterable[dict[str, t.Any]]) -> list[str]:
    """Every way any of ``records`` fails ``schema`` (empty when all are valid)."""
    check = validator(schema)
    return [
        f"record {number}: {problem}"
        for number, record in enumerate(records)
        for problem in schema_errors(check, record)
    ]
