"""What target-csv landed: one `<stream>.csv` per stream, every cell text, read back with the
stream's schema (flattened by the tap: nested objects become `parent__child` columns, arrays and
open-ended objects JSON text)."""

from __future__ import annotations

import csv
import json
import typing as t
from pathlib import Path

from harness import replay_tasks

from tap_aphex.schemas import TASK

from .landing import Landing, Row


def typed_cell(text: str, schema: dict[str, t.Any]) -> object:
    """A CSV cell as the value its schema says it holds (an empty cell is null)."""
    if text == "":
        return None
    types = schema.get("type", [])
    types = types if isinstance(types, list) else [types]
    if "array" in types or "object" in types:
        return json.loads(text)
    if "integer" in types:
        return int(text)
    if "number" in types:
        return float(text)
    if "boolean" in types:
        return {"True": True, "False": False}[text]
    return text


class CsvLanding(Landing):
    loader = "target-csv"
    empty_text_as_null = True  # a CSV cell cannot tell an empty text from a null

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def settings(self) -> dict[str, str]:
        return {"TARGET_CSV_OUTPUT_PATH": str(self.folder)}

    def rows(self, stream: str) -> list[dict[str, str]]:
        with (self.folder / f"{stream}.csv").open(encoding="utf-8", newline="") as file:
            return list(csv.DictReader(file))

    def event_ids(self) -> list[str]:
        return [row["eventId"] for row in self.rows("task_events")]

    def task_records(self) -> list[Row]:
        properties = TASK["properties"]
        return [
            {name: typed_cell(text, properties.get(name, {})) for name, text in row.items()}
            for row in self.rows("tasks")
        ]

    def task_rows(self) -> list[Row]:
        # A file keeps every version of a task: its last record is what an upsert on id would hold.
        return list({str(record["id"]): record for record in self.task_records()}.values())

    def current_tasks(self) -> list[Row]:
        return list(replay_tasks(self.task_records()).values())

    def published_versions(self) -> list[tuple[str, str]]:
        return [(r["accountId"], r["publishedPlanId"]) for r in self.rows("published_plans")]

    def row_count(self, stream: str) -> int:
        return len(self.rows(stream))
