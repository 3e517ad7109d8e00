"""Regenerate README's settings table from `tap-aphex --about --format=markdown`.

    uv run python scripts/settings_table.py           # rewrite README.md between the markers
    uv run python scripts/settings_table.py --check   # exit 1 if README.md is out of date

Taken from the about output rather than from the tap class's `config_jsonschema`: it is the table
users and Meltano Hub see, it names no module of the package, and the SDK adds its built-in
settings to the class's schema in place, so the class attribute depends on what ran before.

The table keeps the tap's own rows as the SDK prints them (the setting name put in backticks); the
SDK's built-in settings, which every SDK tap shares and the SDK documents, become one line below it.
`tests/test_readme.py` fails when README.md differs from what this script writes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import typing as t
from pathlib import Path

from singer_sdk import Stream, Tap

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- settings:start -->"
END = "<!-- settings:end -->"
COMMAND = "uv run python scripts/settings_table.py"
HEADER = "| Setting | Required | Default | Description |"


def about_markdown() -> str:
    """`tap-aphex --about --format=markdown`, from a fresh process (the SDK mutates the schema)."""
    result = subprocess.run(
        [sys.executable, "-m", "tap_aphex", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def sdk_builtin_settings() -> list[str]:
    """The settings the SDK adds to every tap, asked of the SDK itself through its public hook.

    A bare tap with the SDK's default capabilities gets the same built-ins as ours (we only drop
    `activate-version`, which adds no setting), so a new SDK built-in is classed right by itself.
    """

    class _BareTap(Tap):
        name = "bare"
        config_jsonschema: t.ClassVar[dict[str, object]] = {"type": "object", "properties": {}}

        def discover_streams(self) -> list[Stream]:
            return []

    schema: dict[str, dict[str, object]] = {"properties": {}}
    _BareTap.append_builtin_config(schema)
    return list(schema["properties"])


def about_settings_rows(markdown: str) -> list[list[str]]:
    """The rows of the about output's settings table, each as its four cells."""
    section = markdown.split("\n## Settings\n", 1)[1]
    lines = iter(section.splitlines())
    if next(line for line in lines if line.startswith("|")) != HEADER:
        msg = "the SDK's about output has a settings table of other columns: update this script"
        raise SystemExit(msg)
    next(lines)  # the delimiter row
    rows = []
    for line in lines:
        if not line.startswith("| "):
            break
        # The SDK escapes nothing: split only the first three separators, so a `|` in a
        # description stays in the description.
        rows.append(line.removeprefix("| ").removesuffix(" |").split(" | ", 3))
    return rows


def escape_cell(text: str) -> str:
    """A cell's text with every `|` escaped, so it cannot split the cell in two."""
    return text.replace("\\|", "|").replace("|", "\\|")


def settings_block(markdown: str, builtins: list[str]) -> str:
    """What goes between the markers: the tap's own settings, then one line for the SDK's."""
    own = [row for row in about_settings_rows(markdown) if row[0].split(".")[0] not in builtins]
    lines = [HEADER, "| --- | --- | --- | --- |"]
    for name, required, default, description in own:
        cells = [f"`{name}`", required, default, description]
        lines.append("| " + " | ".join(escape_cell(cell) for cell in cells) + " |")
    names = ", ".join(f"`{name}`" for name in builtins)
    # Keep ". " after the list: tests/e2e/plugin_files.py reads the names up to it.
    sdk_line = (
        f"The SDK's built-in settings work as usual: {names}. See the SDK's documentation; "
        "`faker_config` and `fake` need the `faker` package beside the tap (docs/settings.md)."
    )
    lines += ["", sdk_line]
    return "\n".join(lines)


def updated_readme(readme: str, block: str) -> str:
    """README's text with the block between the markers replaced."""
    if readme.count(START) != 1 or readme.count(END) != 1:
        msg = f"README.md needs exactly one {START} and one {END}"
        raise SystemExit(msg)
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{block}\n{END}{tail}"


def generated_block() -> str:
    """What this script puts between the markers, from the installed tap."""
    return settings_block(about_markdown(), sdk_builtin_settings())


def current_block(readme: str) -> str:
    """What README.md holds between the markers today."""
    return readme.split(START, 1)[1].split(END, 1)[0].strip("\n")


def generated_readme() -> str:
    """README.md as this script would write it."""
    return updated_readme(README.read_text(encoding="utf-8"), generated_block())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args()
    new = generated_readme()
    if new == README.read_text(encoding="utf-8"):
        print("README.md's settings table is up to date")
        return 0
    if args.check:
        print(f"README.md's settings table is out of date: run `{COMMAND}`")
        return 1
    README.write_text(new, encoding="utf-8")
    print("README.md's settings table regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
