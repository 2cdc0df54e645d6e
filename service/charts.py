"""The status page's graphics, drawn on the server: the funnel as bars and each tile's trend as
an inline SVG sparkline (no script, no CDN, readable without colour: every figure is also text)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from service.dashboard import Point, Step
from service.report import fmt

TREND_COLOUR = "#8250df"
FUNNEL_COLOUR = "#0969da"


def funnel_html(steps: Sequence[Step]) -> str:
    """One row per stage: its label, the contacts that entered it in the period, a bar relative
    to the widest stage, and the cohort's conversion to the next stage below it."""
    top = max((s.entered or 0.0 for s in steps), default=0.0) or 1.0
    rows = []
    for i, s in enumerate(steps):
        share = 100 * (s.entered or 0.0) / top
        rows.append(
            f'<div class="step"><div class="step-head"><span>{escape(s.label)}</span>'
            f"<b>{fmt(s.entered, 'count')}</b></div>"
            f'<div class="track"><div class="stage" data-stage="{escape(s.stage)}" '
            f'style="width:{max(share, 0.5):.1f}%;opacity:{1 - i * 0.12:.2f}"></div></div></div>'
        )
        if i + 1 < len(steps):
            rows.append(
                f'<div class="conv">↓ {fmt(s.conversion, "share")} went on to '
                f"{escape(steps[i + 1].label)}</div>"
            )
    return f'<div id="funnel" role="list" aria-label="Funnel">{"".join(rows)}</div>'


def sparkline(points: Sequence[Point], unit: str, *, width: int = 168, height: int = 40) -> str:
    """The trend of one KPI over its last periods: a line through the known values, a dot per
    period (hollow where the period had not ended), the selected (last) one larger."""
    known = [p.value for p in points if p.value is not None]
    if len(points) < 2 or not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    step_x = (width - 8) / (len(points) - 1)

    def xy(i: int, value: float) -> tuple[float, float]:
        return 4 + i * step_x, height - 5 - (height - 10) * (value - low) / span

    coords = [xy(i, p.value) for i, p in enumerate(points) if p.value is not None]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    dots = []
    for i, p in enumerate(points):
        if p.value is None:
            continue
        x, y = xy(i, p.value)
        radius = 3.5 if i == len(points) - 1 else 2
        fill = TREND_COLOUR if p.complete else "#ffffff"
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{fill}" stroke="{TREND_COLOUR}"/>')
    described = "; ".join(
        f"{p.label}: {fmt(p.value, unit)}{'' if p.complete else ' (partial)'}" for p in points
    )
    return (
        f'<svg class="trend" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{escape(described)}</title>'
        f'<polyline points="{line}" fill="none" stroke="{TREND_COLOUR}" stroke-width="2"/>'
        f"{''.join(dots)}</svg>"
    )
