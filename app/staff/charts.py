"""Bar charts as inline SVG, drawn on the server: no script, no CDN.

Each chart has a title for screen readers and sits next to a table of the
same numbers.  In a right-to-left page time runs from right to left, like the
text around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 640
HEIGHT = 240
PAD_TOP = 16
PAD_BOTTOM = 40
PAD_SIDE = 64
GRID_LINES = 4


@dataclass(frozen=True)
class Series:
    name: str
    css_class: str
    values: Sequence[int]


def _axis(value: int) -> tuple[int, int]:
    """The top of the axis and the step between its ticks: whole, evenly spaced, at most
    ``GRID_LINES`` steps (1, 2 or 5 times a power of ten), the top the first tick at or above
    ``value``.  (A top of 5 in four steps gave 0, 1, 2, 4, 5: uneven, and 3 skipped.)"""
    if value <= 0:
        return 1, 1
    magnitude = 1
    while True:
        for step in (magnitude, 2 * magnitude, 5 * magnitude):
            if -(-value // step) <= GRID_LINES:
                return -(-value // step) * step, step
        magnitude *= 10


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[Series],
    value_label: Callable[[int], str],
    rtl: bool = False,
) -> Markup:
    """Grouped bars: one group per label, one bar per series."""
    top, tick = _axis(max((v for s in series for v in s.values), default=0))
    plot_width = WIDTH - 2 * PAD_SIDE
    plot_height = HEIGHT - PAD_TOP - PAD_BOTTOM
    groups = max(len(labels), 1)
    group_width = plot_width / groups
    bar_width = max(min(group_width * 0.8 / max(len(series), 1), 48), 2)

    def x_of(left: float, width: float) -> float:
        # Mirror the x axis for right-to-left pages.
        return WIDTH - left - width if rtl else left

    def y_of(value: int) -> float:
        return PAD_TOP + plot_height * (1 - value / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" direction="{"rtl" if rtl else "ltr"}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    axis_x = WIDTH - PAD_SIDE + 6 if rtl else PAD_SIDE - 6
    # ``direction`` on the svg makes "end" the outer side of the axis and "start" the
    # reading side of the legend in both directions.
    anchor = "end"
    for value in range(0, top + 1, tick):
        y = y_of(value)
        parts.append(
            f'<line class="grid" x1="{PAD_SIDE}" x2="{WIDTH - PAD_SIDE}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="axis" x="{axis_x}" y="{y + 4:.1f}" text-anchor="{anchor}">'
            f"{escape(value_label(value))}</text>"
        )
    for index, label in enumerate(labels):
        group_left = PAD_SIDE + index * group_width
        bars_left = group_left + (group_width - bar_width * len(series)) / 2
        for number, one in enumerate(series):
            value = one.values[index] if index < len(one.values) else 0
            y = y_of(value)
            x = x_of(bars_left + number * bar_width, bar_width)
            parts.append(
                f'<rect class="{one.css_class}" x="{x:.1f}" y="{y:.1f}" width="{bar_width - 1:.1f}" '
                f'height="{PAD_TOP + plot_height - y:.1f}">'
                f"<title>{escape(label)}: {escape(one.name)} {escape(value_label(value))}</title></rect>"
            )
        centre = x_of(group_left, group_width) + group_width / 2
        parts.append(
            f'<text class="label" x="{centre:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    legend_y = HEIGHT - 8
    legend_x = float(WIDTH - PAD_SIDE) if rtl else float(PAD_SIDE)
    for one in series:
        box_x = legend_x - 10 if rtl else legend_x
        text_x = legend_x - 14 if rtl else legend_x + 14
        parts.append(
            f'<rect class="{one.css_class}" x="{box_x:.1f}" y="{legend_y - 9}" width="10" height="10"/>'
        )
        parts.append(
            f'<text class="legend" x="{text_x:.1f}" y="{legend_y}" text-anchor="start">'
            f"{escape(one.name)}</text>"
        )
        step = 24 + 7 * len(one.name)
        legend_x = legend_x - step if rtl else legend_x + step
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text and attribute above is escaped)
