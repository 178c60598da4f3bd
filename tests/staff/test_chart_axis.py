"""The dashboard charts' value axis: whole numbers, evenly spaced, none skipped."""

from __future__ import annotations

import re

import pytest

from app.staff import charts

AXIS = re.compile(r'<text class="axis" x="[\d.]+" y="([\d.]+)"[^>]*>([^<]+)</text>')


@pytest.mark.parametrize("largest", [1, 3, 5, 7, 11, 23, 733])
def test_ticks_are_whole_evenly_spaced_and_reach_the_largest_bar(largest: int) -> None:
    svg = charts.bar_chart("Members", ["Jan", "Feb"], [charts.Series("New", "s-new", [largest, 1])], str)
    ticks = [(float(y), int(label)) for y, label in AXIS.findall(svg)]
    values = [value for _, value in ticks]
    steps = {b - a for a, b in zip(values, values[1:], strict=False)}
    gaps = [a - b for (a, _), (b, _) in zip(ticks, ticks[1:], strict=False)]
    assert values[0] == 0 and values[-1] >= largest and len(values) <= charts.GRID_LINES + 1
    assert len(steps) == 1 and max(gaps) - min(gaps) < 0.2, (values, gaps)  # 0, 1, 2, 4, 5 fails here
