"""Print one version's section of CHANGELOG.md: the GitHub release notes of that version.

    python scripts/changelog_section.py 0.1.0 [CHANGELOG.md]

The section is what lies under `## [0.1.0]` (or `## 0.1.0`, with or without a date after it) up to
the next `## ` heading, without the link definitions Keep a Changelog puts at the end of the file.
Exits 1, saying why, when the version has no section or an empty one: a release must not go out
with empty notes.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# `[0.1.0]: https://...`, the link definitions at the end of a Keep-a-Changelog file.
_LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S+")


class SectionNotFound(Exception):
    pass


def _heading_version(line: str) -> str | None:
    """The version a `## ` heading names (`## [0.1.0] - 2026-12-05` gives 0.1.0), else None."""
    match = re.match(r"^##\s+\[?v?([^\]\s]+)\]?", line)
    return match.group(1) if match and not line.startswith("###") else None


def changelog_section(text: str, version: str) -> str:
    version = version.removeprefix("v")
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _heading_version(line) == version), None)
    if start is None:
        raise SectionNotFound(f"CHANGELOG.md has no section for {version} (a `## [{version}]`)")
    body: list[str] = []
    for line in lines[start + 1 :]:
        if _heading_version(line) is not None or _LINK_DEFINITION.match(line):
            break
        body.append(line)
    section = "\n".join(body).strip()
    if not section:
        raise SectionNotFound(f"the CHANGELOG.md section for {version} is empty")
    return section + "\n"


def main(argv: list[str]) -> int:
    if len(argv) not in (1, 2):
        print("usage: changelog_section.py VERSION [CHANGELOG.md]", file=sys.stderr)
        return 2
    path = Path(argv[1] if len(argv) == 2 else "CHANGELOG.md")
    try:
        sys.stdout.write(changelog_section(path.read_text(encoding="utf-8"), argv[0]))
    except SectionNotFound as missing:
        print(f"changelog_section.py: {missing}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
