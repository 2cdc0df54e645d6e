"""The status page at `/`: server-rendered HTML with an inline SVG funnel, no JavaScript build.

A few lines of inline script send the resync button's request with the admin token the user
types (a form cannot set an Authorization header); nothing else needs a script.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape

from kpi.headline import FunnelStep, Headline
from service.report import fmt
from storage.models import SyncRun

STATUS_COLOURS = {
    "succeeded": "#1a7f37",
    "failed": "#cf222e",
    "unavailable": "#9a6700",
    "deferred": "#9a6700",
    "skipped": "#9a6700",
    "missed": "#9a6700",
    "interrupted": "#9a6700",
    "cancelled": "#6e7781",
    "running": "#0969da",
    "queued": "#0969da",
    "cancelling": "#0969da",
}


def funnel_svg(steps: Sequence[FunnelStep], *, width: int = 640) -> str:
    """Horizontal bars per stage (contacts that entered it over the grid), the step conversion
    rate between them; bar widths are relative to the widest stage."""
    bar_h, gap, label_w = 34, 22, 170
    height = len(steps) * (bar_h + gap) + 10
    top = max((s.entered for s in steps), default=0) or 1
    parts = [
        f'<svg id="funnel" role="img" aria-label="Funnel" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for i, s in enumerate(steps):
        y = i * (bar_h + gap) + 5
        span = max(2.0, (width - label_w - 90) * s.entered / top)
        x = label_w + (width - label_w - 90 - span) / 2
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h / 2 + 5}" text-anchor="end" font-size="14">'
            f"{escape(s.stage)}</text>"
            f'<rect class="stage" data-stage="{escape(s.stage)}" x="{x:.1f}" y="{y}" width="{span:.1f}" '
            f'height="{bar_h}" rx="4" fill="#0969da" fill-opacity="{1 - i * 0.12:.2f}"/>'
            f'<text x="{width - 80}" y="{y + bar_h / 2 + 5}" font-size="14">{fmt(s.entered, "count")}</text>'
        )
        if s.next_stage is not None:
            parts.append(
                f'<text x="{label_w + (width - label_w - 90) / 2}" y="{y + bar_h + gap / 2 + 5}" '
                f'text-anchor="middle" font-size="12" fill="#57606a">'
                f"↓ {fmt(s.conversion_rate, 'share')}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)


def _runs_table(runs: Sequence[SyncRun], next_runs: dict[str, datetime | None]) -> str:
    rows = []
    for r in runs:
        colour = STATUS_COLOURS.get(r.status, "#57606a")
        seconds = f"{(r.finished_at - r.started_at).total_seconds():,.1f}" if r.finished_at else ""
        rows.append(
            "<tr>"
            f"<td>{escape(r.connection)}</td><td>{escape(r.source)}/{escape(r.stream)}</td>"
            f"<td>{escape(r.mode)}/{escape(r.trigger)}</td>"
            f'<td><span class="status" style="color:{colour}">{escape(r.status)}</span></td>'
            f"<td>{r.started_at:%Y-%m-%d %H:%M:%S}</td><td class=n>{seconds}</td>"
            f"<td class=n>{r.records_read:,}</td><td class=n>{r.records_written:,}</td>"
            f"<td>{escape(r.error or '')}</td></tr>"
        )
    upcoming = "".join(
        f"<li>{escape(job)}: {when:%Y-%m-%d %H:%M:%S} UTC</li>" if when else f"<li>{escape(job)}: paused</li>"
        for job, when in sorted(next_runs.items())
        if not job.startswith("resync:")
    )
    return (
        "<table><thead><tr><th>connection</th><th>stream</th><th>mode</th><th>status</th>"
        "<th>started (UTC)</th><th>secs</th><th>read</th><th>written</th><th>error</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        + (f"<h3>Next scheduled</h3><ul>{upcoming}</ul>" if upcoming else "")
    )


def _kpi_section(name: str, top: Headline | None, currency: str, as_of: datetime | None) -> str:
    if top is None:
        return (
            f"<section><h2>{escape(name)}</h2>"
            "<p>No KPIs computed yet: they follow the first successful sync.</p></section>"
        )
    sources = "".join(
        f"<tr><td>{escape(s.source)}</td><td class=n>{fmt(s.new_contacts, 'count')}</td>"
        f"<td class=n>{fmt(s.new_customers, 'count')}</td><td class=n>{fmt(s.won_revenue, 'count')}</td></tr>"
        for s in top.sources[:10]
    )
    tiles = [
        ("Open pipeline", f"{fmt(top.open_pipeline, 'count')} {escape(currency)}"),
        ("Open deals", fmt(top.open_deals, "count")),
        ("Win rate", fmt(top.win_rate, "share")),
        ("Days to close (mean)", fmt(top.days_to_close_mean, "days")),
        ("Lead → customer", fmt(top.lead_to_customer_rate, "share")),
    ]
    tile_html = "".join(f'<div class="tile"><div>{label}</div><b>{value}</b></div>' for label, value in tiles)
    stamp = f" (as of {as_of:%Y-%m-%d %H:%M} UTC)" if as_of else ""
    return (
        f"<section><h2>{escape(name)}{stamp}</h2><div class=tiles>{tile_html}</div>"
        f"<h3>Funnel: contacts entering each stage, and the step conversion</h3>{funnel_svg(top.funnel)}"
        "<h3>Sources (first touch)</h3><table><thead><tr><th>source</th><th>new contacts</th>"
        f"<th>new customers</th><th>won revenue</th></tr></thead><tbody>{sources}</tbody></table></section>"
    )


def render_status(
    *,
    runs: Sequence[SyncRun],
    next_runs: dict[str, datetime | None],
    kpis: Sequence[tuple[str, Headline | None, str, datetime | None]],
    connections: Sequence[str],
    admin_enabled: bool,
) -> str:
    """The whole page."""
    options = "".join(f"<option>{escape(c)}</option>" for c in connections)
    resync = (
        '<form id="resync" onsubmit="return resync(event)"><select name="connection">'
        f"{options}</select> <input name=token type=password placeholder='admin token' autocomplete=off> "
        "<label><input name=full type=checkbox> full</label> <button>Resync</button> "
        "<span id=msg></span></form>"
        "<script>async function resync(e){e.preventDefault();const f=e.target;"
        "const r=await fetch('/admin/resync',{method:'POST',headers:{'Content-Type':'application/json',"
        "Authorization:'Bearer '+f.token.value},body:JSON.stringify({connection:f.connection.value,"
        "full:f.full.checked})});const b=await r.json();document.getElementById('msg').textContent="
        "r.status===202?'queued: run '+b.run_id:(r.status+': '+(b.detail||''));return false}</script>"
        if admin_enabled
        else "<p><small>Resync from this page needs <code>service.admin_token</code>.</small></p>"
    )
    sections = "".join(_kpi_section(*k) for k in kpis)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>funnelsync</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2328;max-width:1100px}}
table{{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}}
th,td{{border-bottom:1px solid #d0d7de;padding:.25rem .6rem;text-align:left}}
td.n{{text-align:right}} .status{{font-weight:600}}
.tiles{{display:flex;gap:.8rem;flex-wrap:wrap}}
.tile{{border:1px solid #d0d7de;border-radius:6px;padding:.5rem .8rem}}
.tile b{{font-size:1.3rem}}
</style></head><body>
<h1>funnelsync</h1>
{resync}
<h2>Last runs</h2>
{_runs_table(runs, next_runs)}
{sections}
</body></html>"""
