"""The demo's chart (scripts/demo_reports.py): an SVG a planner reads without the README. Drawn
from rows as the demo reads them from the dbt models; checked here by what the SVG says. Also the
words above the PPC table: how many weeks it shows, and why."""

from __future__ import annotations

import datetime as dt
import typing as t
from xml.etree import ElementTree

import pytest
from demo_reports import RECENT_WEEKS, draw_chart, ppc_title, ppc_weeks_explained

if t.TYPE_CHECKING:
    from pathlib import Path

SVG = "{http://www.w3.org/2000/svg}"
MONDAYS = [dt.date(2025, 11, 3), dt.date(2025, 11, 10)]


def drawn(tmp_path: Path, ppc: list[dict[str, t.Any]], delays: list[dict[str, t.Any]]) -> t.Any:
    chart = draw_chart(ppc, delays, tmp_path / "chart.svg")
    root = ElementTree.parse(chart).getroot()
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: t.Any) -> list[str]:
    return [text.text or "" for text in root.iter(f"{SVG}text")]


def test_each_week_is_a_bar_labelled_with_its_percent_rounded_down_as_aphex_shows_it(
    tmp_path: Path,
) -> None:
    ppc = [
        {"project": "Riverside", "week": MONDAYS[0], "task_day": 0.29, "task": 0.5},
        {"project": "Riverside", "week": MONDAYS[1], "task_day": 0.999, "task": 0},
    ]
    words = texts(drawn(tmp_path, ppc, []))
    # 0.29 is 28.999... as a float: still 29%; 99.9% is 99%, as Aphex rounds down.
    assert {"29%", "99%", "50%", "0%"} <= set(words)
    assert "week from 03 Nov 2025" in words
    assert "week from 10 Nov 2025" in words
    assert "Riverside" in words


def test_a_week_with_no_ppc_is_marked_not_drawn_as_zero(tmp_path: Path) -> None:
    # No task due to finish that week: PPC by task is null, which is not 0%.
    ppc = [{"project": "Riverside", "week": MONDAYS[0], "task_day": 0.5, "task": None}]
    words = texts(drawn(tmp_path, ppc, []))
    assert "n/a" in words
    assert "0%" not in words


def test_delays_stack_by_category_in_proportion_to_their_days(tmp_path: Path) -> None:
    delays = [
        {"project": "Riverside", "category": "Weather", "delay_days": 12},
        {"project": "Riverside", "category": "Materials", "delay_days": 6},
        {"project": "Quay", "category": "Weather", "delay_days": 3},
    ]
    root = drawn(tmp_path, [], delays)
    assert {"Weather", "Materials", "Riverside", "Quay"} <= set(texts(root))
    drawn_bars = [rect.get("height", "") for rect in root.iter(f"{SVG}rect")]
    # Not the background (100%) nor the legend's swatches (10): Quay's weather, Riverside's
    # materials and weather, 3, 6 and 12 days (a category a project lacks: a bar of no height).
    bars = [float(height) for height in drawn_bars if "%" not in height and float(height) > 10]
    assert len(bars) == 3
    assert bars[2] == 2 * bars[1] == 4 * bars[0]


def test_names_are_written_as_text_not_markup(tmp_path: Path) -> None:
    delays = [{"project": "A&B <North>", "category": "Weather", "delay_days": 1}]
    assert "A&B <North>" in texts(drawn(tmp_path, [], delays))


def test_what_a_warehouse_may_hold_never_breaks_the_svg(tmp_path: Path) -> None:
    # A control character or a lone surrogate (no XML text holds one), NaN, a share over 1 and a
    # negative delay: the chart still parses, and draws nothing outside its plots.
    odd = "Bad\x1bName\ud83d"
    ppc = [
        {"project": odd, "week": MONDAYS[0], "task_day": 1.7, "task": float("nan")},
        {"project": "Quay", "week": MONDAYS[0], "task_day": 0.5, "task": 0.5, "complete": False},
    ]
    delays = [{"project": odd, "category": "Weather", "delay_days": -5}]

    root = drawn(tmp_path, ppc, delays)

    words = texts(root)
    assert "Bad\ufffdName\ufffd" in words
    assert {"170%", "n/a"} <= set(words)  # said as it is; drawn to the plot's top
    assert "week from 03 Nov 2025 (so far)" in words
    heights = [rect.get("height", "") for rect in root.iter(f"{SVG}rect")]
    assert all("%" in height or 0 <= float(height) <= 330 for height in heights)


def test_a_long_name_is_cut_to_fit_under_its_bars(tmp_path: Path) -> None:
    delays = [{"project": "Riverside " * 20, "category": "Weather", "delay_days": 1}]
    names = [word for word in texts(drawn(tmp_path, [], delays)) if word.startswith("River")]
    assert len(names) == 3  # under each panel's bars
    assert all(len(name) == 32 and name.endswith("…") for name in names)


@pytest.mark.parametrize(
    ("weeks", "title"),
    [
        (1, "PPC per project, the 1 week the data scores (newest first)"),
        (RECENT_WEEKS, f"PPC per project, the {RECENT_WEEKS} weeks the data scores (newest first)"),
        (
            RECENT_WEEKS + 3,
            f"PPC per project, the last {RECENT_WEEKS} of the {RECENT_WEEKS + 3} weeks the data "
            "scores (newest first)",
        ),
    ],
)
def test_the_ppc_title_says_how_many_weeks_the_table_shows(weeks: int, title: str) -> None:
    # It said "the last 6 weeks at most" over a table of one week.
    assert ppc_title(weeks) == title


def test_the_ppc_table_says_which_span_of_the_log_its_weeks_come_from() -> None:
    words = " ".join(
        ppc_weeks_explained(dt.datetime(2025, 6, 2, 6), dt.datetime(2025, 6, 13, 6, 55), 1)
    )
    assert "The event log runs from Mon 02 Jun 2025 06:00 to Fri 13 Jun 2025 06:55 UTC." in words
    assert "only if the log began before its Monday" in words
    assert ": 1 week here." in words
