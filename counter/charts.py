"""Charts drawn on the server as SVG markup: no script or library in the browser.

Each chart is a ``<svg role="img">`` with a ``<title>`` and ``<desc>`` for screen readers; the
same figures are always in a table next to it. Text is escaped with MarkupSafe.
"""
from __future__ import annotations

from markupsafe import Markup, escape

WIDTH = 720
HEIGHT = 260
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 48, 12, 16, 56
COLORS = ("#1f4e79", "#b35900", "#2e7d32", "#6a1b9a")  # dark enough for 3:1 against white


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if value <= step * 5:
            return step * 5
    return value


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]], unit: str = "",
              target: float | None = None, target_label: str = "") -> "Chart":
    """Grouped vertical bars. ``series`` is [(name, values)], one value per label."""
    groups = max(len(labels), 1)
    top = _nice_max(max([v or 0 for _, values in series for v in values] + [target or 0, 0]))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    group_w = plot_w / groups
    bar_w = max(2.0, group_w * 0.8 / max(len(series), 1))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-labelledby="{_id(title)}-t {_id(title)}-d">',
             f'<title id="{_id(title)}-t">{escape(title)}</title>',
             f'<desc id="{_id(title)}-d">{escape(_describe(labels, series, unit))}</desc>']
    for step in range(6):
        value = top * step / 5
        y = PAD_TOP + plot_h - plot_h * step / 5
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="#ccc"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                     f'{_fmt(value)}</text>')
    for s_index, (name, values) in enumerate(series):
        color = COLORS[s_index % len(COLORS)]
        for index, value in enumerate(values):
            if not value:
                continue
            height = plot_h * value / top
            x = PAD_LEFT + group_w * index + group_w * 0.1 + bar_w * s_index
            y = PAD_TOP + plot_h - height
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{height:.1f}" fill="{color}">'
                         f'<title>{escape(labels[index])}: {escape(name)} {_fmt(value)}{escape(unit)}</title></rect>')
    every = max(1, groups // 24 + (1 if groups > 24 else 0))
    for index, label in enumerate(labels):
        if index % every:
            continue
        x = PAD_LEFT + group_w * index + group_w / 2
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle" font-size="11">'
                     f'{escape(label)}</text>')
    if target:
        y = PAD_TOP + plot_h - plot_h * target / top
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="#8b0000" '
                     f'stroke-width="2" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{WIDTH - PAD_RIGHT}" y="{y - 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#8b0000">{escape(target_label)}</text>')
    legend_x = PAD_LEFT
    for s_index, (name, _) in enumerate(series):
        color = COLORS[s_index % len(COLORS)]
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 20}" width="12" height="12" fill="{color}"/>')
        parts.append(f'<text x="{legend_x + 16}" y="{HEIGHT - 10}" font-size="12">{escape(name)}</text>')
        legend_x += 24 + 8 * len(name)
    parts.append("</svg>")
    return Chart(title, "".join(parts))


class Chart(Markup):
    """SVG markup that also knows its title (the page shows it as the figure's caption)."""

    def __new__(cls, title: str, markup: str):
        chart = super().__new__(cls, markup)
        chart.title = title
        return chart


def _describe(labels, series, unit) -> str:
    lines = []
    for name, values in series:
        shown = ", ".join(f"{label}: {_fmt(value)}{unit}" for label, value in zip(labels, values) if value)
        lines.append(f"{name}: {shown or '0'}")
    return ". ".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "0"
    return f"{value:.0f}" if float(value).is_integer() or value >= 10 else f"{value:.1f}"


def _id(title: str) -> str:
    return "c" + "".join(ch for ch in title.lower() if ch.isalnum())[:24]
