"""README stays a front door: its settings table is `--about`'s, its tables render, it stays small.

The rendering check is GitHub's table rule: a row is one line, with as many cells as the header,
and a table ends at a blank line (a text line right after a table becomes one more row of it).
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest
import settings_table  # scripts/, on pytest's pythonpath

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAX_README_BYTES = 10_500
MARKDOWN_FILES = [README, ROOT / "benchmarks" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
DELIMITER_CELL = re.compile(r"^\s*:?-+:?\s*$")


def cells(row: str) -> list[str]:
    """A table row's cells: split on every `|` not escaped, the outer pipes dropped."""
    inner = row.strip().removeprefix("|").removesuffix("|")
    return re.split(r"(?<!\\)\|", inner)


def table_problems(text: str) -> list[str]:
    """Every line of every table in a Markdown text that would not render as the author meant."""
    problems: list[str] = []
    lines = text.splitlines()
    in_fence = False
    number = 0
    while number < len(lines):
        line = lines[number]
        if FENCE.match(line):
            in_fence = not in_fence
        is_header = (
            not in_fence
            and line.lstrip().startswith("|")
            and number + 1 < len(lines)
            and all(DELIMITER_CELL.match(cell) for cell in cells(lines[number + 1]))
        )
        if not is_header:
            number += 1
            continue
        width = len(cells(line))
        number += 1
        while number < len(lines) and lines[number].strip():
            row = lines[number]
            if not (row.strip().startswith("|") and row.rstrip().endswith("|")):
                problems.append(f"line {number + 1}: not one whole row (a table ends at a blank)")
            elif len(cells(row)) != width:
                problems.append(f"line {number + 1}: {len(cells(row))} cells, the header {width}")
            number += 1
    return problems


def test_the_readme_settings_table_is_what_about_prints() -> None:
    readme = README.read_text(encoding="utf-8")
    current, generated = settings_table.current_block(readme), settings_table.generated_block()
    if not locked_sdk_installed():
        # Another SDK (scripts/test-next-sdk.sh) may add built-in settings of its own: README
        # documents the locked one's; the tap's own settings must still match row for row.
        current, generated = (block.rsplit("\n\n", 1)[0] for block in (current, generated))
    assert current == generated, (
        "README's settings table differs from `tap-aphex --about --format=markdown`: "
        f"run `{settings_table.COMMAND}`"
    )


def locked_sdk_installed() -> bool:
    """True when the installed singer-sdk is the version uv.lock pins."""
    lock = (ROOT / "uv.lock").read_text(encoding="utf-8")
    locked = re.search(r'name = "singer-sdk"\nversion = "([^"]+)"', lock)
    return locked is not None and locked.group(1) == importlib.metadata.version("singer-sdk")


@pytest.mark.parametrize("path", MARKDOWN_FILES, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_table_renders(path: Path) -> None:
    assert table_problems(path.read_text(encoding="utf-8")) == []


def test_the_readme_is_a_front_door() -> None:
    size = len(README.read_bytes())
    assert size <= MAX_README_BYTES, f"README.md is {size} bytes: move detail to docs/"


def test_the_table_check_catches_a_broken_table() -> None:
    # The README once had a row whose last cell ran onto the next line.
    broken = "| a | b |\n| --- | --- |\n| 1 | 2 |\n| 3 | 4 | five,\nsix\n"
    assert len(table_problems(broken)) == 2
    assert table_problems("| a | b |\n|---|:-:|\n| 1 | `x \\| y` |\n\ntext\n") == []
    assert table_problems("```\n| a |\n| --- |\n| 1 | 2 |\n```\n") == []
