"""scripts/changelog_section.py: the release notes the release workflow takes from CHANGELOG.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from changelog_section import SectionNotFound, changelog_section

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "changelog_section.py"

CHANGELOG = """# Changelog

## [Unreleased]

### Fixed
- Something not yet released.

## [0.2.0] - 2027-01-10

### Added
- Feature B.

## [0.1.0]

### Added
- Feature A.

[Unreleased]: https://example.invalid/compare/v0.2.0...HEAD
[0.2.0]: https://example.invalid/tag/v0.2.0
[0.1.0]: https://example.invalid/tag/v0.1.0
"""


def test_the_section_of_a_version_is_what_lies_under_its_heading() -> None:
    assert changelog_section(CHANGELOG, "0.2.0") == "### Added\n- Feature B.\n"


def test_the_last_section_stops_before_the_link_definitions() -> None:
    assert changelog_section(CHANGELOG, "0.1.0") == "### Added\n- Feature A.\n"


def test_a_tag_name_finds_its_version() -> None:
    assert changelog_section(CHANGELOG, "v0.2.0") == changelog_section(CHANGELOG, "0.2.0")


@pytest.mark.parametrize("version", ["0.3.0", "0.1", "0.2.0.1"])
def test_a_version_without_a_section_is_refused(version: str) -> None:
    with pytest.raises(SectionNotFound, match=f"no section for {version}"):
        changelog_section(CHANGELOG, version)


def test_an_empty_section_is_refused() -> None:
    with pytest.raises(SectionNotFound, match="empty"):
        changelog_section("## [1.0.0]\n\n## [0.9.0]\n- x\n", "1.0.0")


def test_the_projects_changelog_has_notes_for_the_version_in_pyproject() -> None:
    """What the release workflow will do for the current version, on the real files."""
    # tomllib is 3.11+, and the suite runs on 3.10: the one `version = "..."` line of [project].
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    (version,) = re.findall(r'^version = "([^"]+)"$', pyproject, flags=re.MULTILINE)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), f"v{version}", str(ROOT / "CHANGELOG.md")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert "## " not in result.stdout.replace("### ", "")  # no other version's heading


def test_a_missing_version_exits_1_saying_so(tmp_path: Path) -> None:
    changelog = tmp_path / "CHANGELOG.md"
    changelog.write_text(CHANGELOG, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "9.9.9", str(changelog)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert "no section for 9.9.9" in result.stderr
