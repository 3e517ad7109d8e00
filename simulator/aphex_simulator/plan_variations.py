"""Variations of published-plan documents (see `variations.py` for the mode as a whole).

The Published Plans document is undocumented ("Data Model" could not be read), so anything is
possible there; these are the surprises issue 7 names. They are planted in the first plan
project only, at fixed distances from the newest version published at start (so the default
`limit` of 5 shows all of them), leaving the other projects on the happy path:

    newest      keyTask as "Yes"/"No" in every row, and some row values varied
    newest - 1  its task rows under "Tasks" (the beta's name) instead of "tasks"
    newest - 2  one task row without its "taskId"
    newest - 3  "publishedAt": null
    newest - 4  the same "id" as version newest - 2
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from typing import Any

from .variations import Variation, vary_value

_Note = Callable[..., None]  # note(kind, path, value=None)

_PLANTED_AT = {
    0: "key_task_string",
    1: "renamed_table",
    2: "row_without_task_id",
    3: "published_at_null",
    4: "duplicate_version_id",
}
# (kind, table, row, key): value variations in rows of the newest version.
_ROW_VALUES = (
    ("string_number", "tasks", 0, "duration"),
    ("float_number", "tasks", 1, "duration"),
    ("null_value", "tasks", 2, "ownerName"),
    ("absent_key", "tasks", 3, "notes"),
    ("seconds_time", "statuses", 0, "createdAt"),
)


class PlanVariations:
    """Alters rendered versions of one project; remembers what it planted, per version."""

    def __init__(self, kinds: Collection[str], newest_at_start: int, account_id: str) -> None:
        self._kinds = frozenset(kinds)
        self._newest = newest_at_start
        self._account_id = account_id
        self.planted: dict[int, list[Variation]] = {}  # version number -> its variations

    def kind_at(self, number: int) -> str | None:
        kind = _PLANTED_AT.get(self._newest - number)
        return kind if kind in self._kinds else None

    def vary(self, rendered: dict[str, Any], ids: dict[int, str]) -> dict[str, Any]:
        """`rendered` (a fresh dict, altered in place) as served; `ids`: version number -> id."""
        number = rendered["version"]
        found: list[Variation] = []

        def note(kind: str, path: str, value: Any = None) -> None:
            found.append(Variation(kind, path, value, account_id=self._account_id, version=number))

        kind = self.kind_at(number)
        tasks: list[dict[str, Any]] = rendered["tasks"]
        if number == self._newest:
            self._vary_rows(rendered, note)
        if kind == "key_task_string":
            for index, row in enumerate(tasks):
                row["keyTask"] = "Yes" if row["keyTask"] else "No"
                note(kind, f"tasks[{index}].keyTask", row["keyTask"])
        elif kind == "renamed_table":
            rendered["Tasks"] = rendered.pop("tasks")
            note(kind, "Tasks")
        elif kind == "row_without_task_id" and tasks:
            del tasks[len(tasks) // 2]["taskId"]
            note(kind, f"tasks[{len(tasks) // 2}].taskId")
        elif kind == "published_at_null":
            rendered["publishedAt"] = None
            note(kind, "publishedAt")
        elif kind == "duplicate_version_id" and number + 2 in ids:
            rendered["id"] = ids[number + 2]
            note(kind, "id", rendered["id"])
        self.planted[number] = found
        return rendered

    def _vary_rows(self, rendered: dict[str, Any], note: _Note) -> None:
        rng = random.Random(f"aphex-plan-variations:{self._account_id}")
        for kind, table, index, key in _ROW_VALUES:
            rows = rendered[table]
            if kind not in self._kinds or index >= len(rows) or key not in rows[index]:
                continue
            path = f"{table}[{index}].{key}"
            if kind == "absent_key":
                del rows[index][key]
                note(kind, path)
            else:
                rows[index][key] = vary_value(kind, rows[index][key], rng)
                note(kind, path, rows[index][key])
