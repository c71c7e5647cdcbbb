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
TARGET_COLOR = "#8b0000"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000):
        if value <= step * 5:
            return step * 5
    return value


def bar_chart(title: str, labels: list[str], series: list[tuple[str, list[float]]], unit: str = "",
              target: float | None = None, target_label: str = "", marks: list | None = None) -> "Chart":
    """Grouped vertical bars. ``series`` is [(name, values)], one value per label. ``marks``: one
    value per label drawn as a short line across its group (each service's own target wait)."""
    groups = max(len(labels), 1)
    top = _nice_max(max([v or 0 for _, values in series for v in values] + [target or 0, 0]
                        + [m or 0 for m in marks or ()]))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    group_w = plot_w / groups
    bar_w = max(2.0, group_w * 0.8 / max(len(series), 1))
    parts = _head(title, _describe(labels, series, unit, target_label, marks)) + _grid(top, plot_h)
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
    every = _label_step(labels, plot_w)
    for index, label in enumerate(labels):
        if index % every:
            continue
        x = PAD_LEFT + group_w * index + group_w / 2
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" text-anchor="middle" font-size="11">'
                     f'{escape(label)}</text>')
    for index, mark in enumerate(marks or ()):
        if mark:
            y = PAD_TOP + plot_h - plot_h * mark / top
            x = PAD_LEFT + group_w * index + group_w * 0.05
            parts.append(f'<line x1="{x:.1f}" y1="{y:.1f}" x2="{x + group_w * 0.9:.1f}" y2="{y:.1f}" '
                         f'stroke="{TARGET_COLOR}" stroke-width="3" stroke-dasharray="6 3"><title>'
                         f'{escape(labels[index])}: {escape(target_label)} {_fmt(mark)}{escape(unit)}</title></line>')
    if target:
        y = PAD_TOP + plot_h - plot_h * target / top
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="{TARGET_COLOR}" '
                     f'stroke-width="2" stroke-dasharray="6 4"/>')
        parts.append(f'<text x="{WIDTH - PAD_RIGHT}" y="{y - 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{TARGET_COLOR}">{escape(target_label)}</text>')
    parts += _legend([name for name, _ in series], target_label if marks else "")
    parts.append("</svg>")
    return Chart(title, "".join(parts))


def _legend(names: list[str], line_name: str = "") -> list[str]:
    parts, x = [], PAD_LEFT
    for index, name in enumerate(names):
        parts.append(f'<rect x="{x}" y="{HEIGHT - 20}" width="12" height="12" fill="{COLORS[index % len(COLORS)]}"/>')
        parts.append(f'<text x="{x + 16}" y="{HEIGHT - 10}" font-size="12">{escape(name)}</text>')
        x += 24 + 8 * len(name)
    if line_name:
        parts.append(f'<line x1="{x}" y1="{HEIGHT - 14}" x2="{x + 18}" y2="{HEIGHT - 14}" stroke="{TARGET_COLOR}" '
                     f'stroke-width="3" stroke-dasharray="6 3"/>')
        parts.append(f'<text x="{x + 22}" y="{HEIGHT - 10}" font-size="12">{escape(line_name)}</text>')
    return parts


def line_chart(title: str, labels: list[str], series: list[tuple[str, list]], unit: str = "",
               target: float | None = None, target_label: str = "") -> "Chart":
    """Lines over labels (days), one point per value; None leaves a gap (a day without attentions).
    ``target`` is drawn as a dashed horizontal line across the plot, and named in the legend."""
    top = _nice_max(max([v or 0 for _, values in series for v in values] + [target or 0, 0]))
    plot_w, plot_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(labels), 1)
    desc = _describe(labels, series, unit)
    if target:
        desc += f". {target_label}: {_fmt(target)}{unit}"
    parts = _head(title, desc) + _grid(top, plot_h)

    def y_of(value):
        return PAD_TOP + plot_h - plot_h * value / top

    for s_index, (name, values) in enumerate(series):
        color = COLORS[s_index % len(COLORS)]
        run: list = []
        for index, value in enumerate(values + [None]):
            if value is None:
                if len(run) > 1:
                    parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.5" points="'
                                 + " ".join(f"{x:.1f},{y:.1f}" for x, y in run) + '"/>')
                run = []
                continue
            x, y = PAD_LEFT + step * index + step / 2, y_of(value)
            run.append((x, y))
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"><title>{escape(labels[index])}: '
                         f'{escape(name)} {_fmt(value)}{escape(unit)}</title></circle>')
    every = _label_step(labels, plot_w)
    for index, label in enumerate(labels):
        if index % every == 0:
            parts.append(f'<text x="{PAD_LEFT + step * index + step / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" '
                         f'text-anchor="middle" font-size="11">{escape(label)}</text>')
    if target:
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y_of(target):.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y_of(target):.1f}" '
                     f'stroke="{TARGET_COLOR}" stroke-width="2" stroke-dasharray="6 4"/>')
    parts += _legend([name for name, _ in series], f"{target_label} ({_fmt(target)}{unit})" if target else "")
    parts.append("</svg>")
    return Chart(title, "".join(parts))


def _head(title: str, desc: str) -> list[str]:
    """The SVG's opening tag, named by its title and described by ``desc`` (for screen readers)."""
    return [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
            f'aria-labelledby="{_id(title)}-t {_id(title)}-d">',
            f'<title id="{_id(title)}-t">{escape(title)}</title>',
            f'<desc id="{_id(title)}-d">{escape(desc)}</desc>']


def _label_step(labels: list[str], plot_w: float) -> int:
    """Show every n-th axis label so that neighbours never touch (11 px text is about 7 px a
    character, plus a gap); a month of dd/mm days shows every other or third day."""
    widest = max((len(label) for label in labels), default=0) * 7 + 10
    return max(1, -(-len(labels) * widest // int(plot_w)))


def _grid(top: float, plot_h: float) -> list[str]:
    parts = []
    for step in range(6):
        y = PAD_TOP + plot_h - plot_h * step / 5
        parts.append(f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" stroke="#ccc"/>')
        parts.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
                     f'{_fmt(top * step / 5)}</text>')
    return parts


def heat_level(count: int, top: int) -> int:
    """The colour step (0..5) of a heatmap cell: 0 only for no arrivals."""
    return 0 if not count or not top else max(1, min(5, -(-count * 5 // top)))


class Chart(Markup):
    """SVG markup that also knows its title (the page shows it as the figure's caption)."""

    def __new__(cls, title: str, markup: str):
        chart = super().__new__(cls, markup)
        chart.title = title
        return chart


def _describe(labels, series, unit, marks_name: str = "", marks: list | None = None) -> str:
    lines = []
    for name, values in list(series) + ([(marks_name, marks)] if marks else []):
        shown = ", ".join(f"{label}: {_fmt(value)}{unit}" for label, value in zip(labels, values) if value)
        lines.append(f"{name}: {shown or '0'}")
    return ". ".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "0"
    return f"{value:.0f}" if float(value).is_integer() or value >= 10 else f"{value:.1f}"


def _id(title: str) -> str:
    return "c" + "".join(ch for ch in title.lower() if ch.isalnum())[:24]
