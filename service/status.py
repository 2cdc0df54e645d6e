"""The status page at `/`: server-rendered HTML a marketing lead can read, no JavaScript build.

Per connection the headline tiles of one period (its label, a partial-period badge, a 12-period
trend), the labelled funnel, the sources and the emails of that period; a period selector (a plain
GET form); then the sync runs and, last, the admin section. Two small inline scripts: auto-refresh
(which waits while someone is typing in the admin form) and the resync button, which sends the
admin token the user types as a header (a form cannot set one).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

from service.charts import funnel_html, sparkline
from service.dashboard import (
    ATTRIBUTION_COLUMNS,
    EMAIL_COLUMNS,
    SOURCE_COLUMNS,
    Dashboard,
    Line,
    PeriodOption,
    Tile,
)
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
GRAIN_NAMES = {"week": "Week", "month": "Month", "quarter": "Quarter", "year": "Year"}


@dataclass(frozen=True)
class Section:
    """One connection on the page: its dashboard, or why there is none yet."""

    name: str
    board: Dashboard | None
    as_of: datetime | None


def _partial(option: PeriodOption | None) -> str:
    if option is None or option.complete:
        return ""
    return '<span class="badge partial" title="This period had not ended: figures to date">partial</span>'


def _tile(tile: Tile, period: PeriodOption | None) -> str:
    unit = tile.unit
    when = f"{escape(period.label)} {_partial(period)}" if tile.trend and period is not None else "now"
    stale = (
        f'<span class="badge stale" title="kept from the last fresh data">stale since '
        f"{escape(_minute(tile.stale_since))}</span>"
        if tile.stale_since
        else ""
    )
    return (
        f'<div class="tile" data-kpi="{escape(tile.kpi)}"><div class="t">{escape(tile.title)}</div>'
        f'<b>{escape(fmt(tile.value, unit))}</b><div class="p">{when}{stale}</div>'
        f"{_change(tile)}{sparkline(tile.trend, unit)}</div>"
    )


def _change(tile: Tile) -> str:
    """The change from the period before: percentage points for shares and rates, else per cent
    (not coloured: fewer days to close is good, fewer customers is not)."""
    if len(tile.trend) < 2 or tile.value is None or tile.trend[-2].value is None:
        return ""
    before = tile.trend[-2]
    previous = before.value or 0.0
    if tile.unit in ("share", "rate"):
        text = f"{(tile.value - previous) * 100:+.1f} pp"
    elif previous:
        text = f"{(tile.value - previous) / abs(previous) * 100:+.0f} %"
    else:
        return ""
    arrow = "▲" if tile.value > previous else "▼" if tile.value < previous else "="
    return f'<div class="change">{arrow} {text} vs {escape(before.label)}</div>'


def _table(lines: Sequence[Line], columns: Sequence[tuple[str, str, str]], first: str, *, id_: str) -> str:
    if not lines:
        return f'<p class="empty" id="{id_}">Nothing in this period.</p>'
    head = "".join(f"<th class=n>{escape(c[0])}</th>" for c in columns)
    body = []
    for line in lines:
        cells = "".join(
            f"<td class=n>{escape(fmt(v, unit))}</td>"
            for v, unit in zip(line.values, line.units, strict=True)
        )
        body.append(f'<tr><td title="{escape(line.code)}">{escape(line.label)}</td>{cells}</tr>')
    return (
        f'<div class="scroll"><table id="{id_}"><thead><tr><th>{escape(first)}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _minute(iso: str) -> str:
    """An ISO time as the page shows it: `2026-05-20 08:00`."""
    return iso[:16].replace("T", " ")


def _stale_banner(board: Dashboard) -> str:
    if not board.stale:
        return ""
    items = ", ".join(f"{escape(f)} (since {escape(_minute(t))})" for f, t in sorted(board.stale.items()))
    return (
        '<p class="warn" role="status">Stale: these KPI families are kept from the last sync that '
        f"brought their data, because their streams did not sync since: {items}. See Sync status below.</p>"
    )


def _connection(section: Section) -> str:
    board = section.board
    name = escape(section.name)
    if board is None or board.selected is None:
        return (
            f'<section class="conn"><h2>{name}</h2>'
            "<p>No KPIs computed yet: they follow the first successful sync.</p></section>"
        )
    period = board.selected
    label = escape(period.label)
    stamp = f"KPIs computed {section.as_of:%Y-%m-%d %H:%M} UTC · " if section.as_of else ""
    tiles = "".join(_tile(t, period) for t in board.tiles)
    now = "".join(_tile(t, period) for t in board.snapshots)
    attribution = (
        f"<h3>Won revenue by channel under attribution models, {label}</h3>"
        + _table(board.attribution, ATTRIBUTION_COLUMNS, "Channel", id_="attribution-" + name)
        if board.attribution
        else ""
    )
    return (
        f'<section class="conn" id="conn-{name}"><h2>{name}: {GRAIN_NAMES[board.grain].lower()} '
        f'<span class="period">{label}</span> {_partial(period)}</h2>'
        f'<p class="meta">{stamp}amounts in {escape(board.currency)}; '
        "trends show up to the last 12 periods (hollow dots: partial periods).</p>"
        f"{_stale_banner(board)}<div class=tiles>{tiles}{now}</div>{_forecast(board, name)}"
        f"<h3>Funnel, {label}: contacts entering each stage, and how many of them went on</h3>"
        f"{funnel_html(board.funnel)}"
        f"<h3>Sources (first touch), {label}</h3>"
        f"{_table(board.sources, SOURCE_COLUMNS, 'Source', id_='sources-' + name)}"
        f"{attribution}"
        f"<h3>Emails sent, {label}</h3>"
        f"{_table(board.emails, EMAIL_COLUMNS, 'Email', id_='emails-' + name)}"
        "</section>"
    )


def _forecast(board: Dashboard, name: str) -> str:
    """One line: won revenue and new customers expected per coming period, each ± its horizon's
    backtested error (WAPE)."""
    if not board.forecast:
        return ""

    def off(error: float | None) -> str:
        return f" ±{fmt(error, 'rate')}" if error is not None else ""

    money = f"money:{board.currency}"
    parts = []
    for o in board.forecast:
        customers = fmt(None if o.customers is None else round(o.customers), "count")
        parts.append(
            f"<b>{escape(o.label)}</b> {escape(fmt(o.revenue, money))}{escape(off(o.revenue_error))}, "
            f"{escape(customers)} new customers{escape(off(o.customers_error))}"
        )
    return (
        f'<p class="forecast" id="forecast-{name}">Forecast of won revenue and new customers '
        f"(± how far off it was over the backtested periods): {' · '.join(parts)}</p>"
    )


def _selector(boards: Sequence[Dashboard]) -> str:
    """A GET form: grain, then which period of it (the first connection's periods)."""
    if not boards:
        return ""
    board = boards[0]
    grains = "".join(
        f'<option value="{g}"{" selected" if g == board.grain else ""}>{GRAIN_NAMES[g]}</option>'
        for g in board.grains
    )
    chosen = board.selected.label if board.selected else ""
    periods = "".join(
        f'<option value="{escape(o.label)}"{" selected" if o.label == chosen else ""}>'
        f"{escape(o.label)}{'' if o.complete else ' (partial)'}</option>"
        for o in reversed(board.periods)
    )
    notice = "".join(f'<p class="warn">{escape(b.notice)}</p>' for b in boards[:1] if b.notice)
    return (
        '<form id="periods" method="get" action="/">'
        '<label>Period type <select name="grain" onchange="this.form.period.value=\'\';this.form.submit()">'
        f"{grains}</select></label> "
        f'<label>Period <select name="period">{periods}</select></label> '
        f"<button>Show</button></form>{notice}"
    )


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
            f'<td class="err">{escape(r.error or "")}</td></tr>'
        )
    upcoming = "".join(
        f"<li>{escape(job)}: {when:%Y-%m-%d %H:%M:%S} UTC</li>" if when else f"<li>{escape(job)}: paused</li>"
        for job, when in sorted(next_runs.items())
        if not job.startswith("resync:")
    )
    return (
        '<div class="scroll"><table id="runs"><thead><tr><th>connection</th><th>stream</th><th>mode</th>'
        "<th>status</th><th>started (UTC)</th><th>secs</th><th>read</th><th>written</th><th>error</th>"
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
        + (f"<h3>Next scheduled</h3><ul>{upcoming}</ul>" if upcoming else "")
    )


RESYNC_SCRIPT = (
    "<script>async function resync(e){e.preventDefault();const f=e.target;"
    "const r=await fetch('/admin/resync',{method:'POST',headers:{'Content-Type':'application/json',"
    "Authorization:'Bearer '+f.token.value},body:JSON.stringify({connection:f.connection.value,"
    "full:f.full.checked})});const b=await r.json();document.getElementById('msg').textContent="
    "r.status===202?'queued: run '+b.run_id:(r.status+': '+(b.detail||''));return false}</script>"
)


def _admin(connections: Sequence[str], admin_enabled: bool) -> str:
    if not admin_enabled:
        return (
            '<section id="admin"><h2>Admin</h2><p>Resync from this page needs '
            "<code>service.admin_token</code> in the configuration.</p></section>"
        )
    options = "".join(f"<option>{escape(c)}</option>" for c in connections)
    return (
        '<section id="admin"><h2>Admin</h2><p>Start a sync now instead of waiting for the schedule. '
        "The token is sent with the request and never stored in the page.</p>"
        '<form id="resync" onsubmit="return resync(event)">'
        f'<label>Connection <select name="connection">{options}</select></label> '
        '<label>Admin token <input name="token" type="password" autocomplete="off" required></label> '
        '<label><input name="full" type="checkbox"> Full resync (re-read everything)</label> '
        '<button>Resync</button> <output id="msg" role="status"></output></form>'
        f"{RESYNC_SCRIPT}</section>"
    )


def _refresh_script(seconds: int) -> str:
    """Reload every `seconds`, but not while the admin form is in use (it would lose the token)."""
    if seconds <= 0:
        return ""
    return (
        "<script>(function(){const every="
        f"{seconds * 1000};function tick(){{const a=document.getElementById('admin');"
        "const t=a&&a.querySelector('input[name=token]');"
        "if(a&&(a.contains(document.activeElement)||(t&&t.value))){setTimeout(tick,every)}"
        "else{location.reload()}}setTimeout(tick,every)})()</script>"
    )


STYLE = """
*{box-sizing:border-box}
body{font-family:system-ui,sans-serif;margin:0 auto;padding:1rem 1.5rem;color:#1f2328;max-width:1200px}
h1{margin:.2rem 0}h2{margin:1.4rem 0 .3rem;font-size:1.3rem}h3{font-size:1rem;margin:1.2rem 0 .4rem}
.meta{color:#57606a;font-size:.85rem;margin:.2rem 0}
form{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:.6rem 0}
label{font-size:.9rem}select,input,button{font:inherit;padding:.2rem .4rem}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(190px,1fr));gap:.7rem}
.tile{border:1px solid #d0d7de;border-radius:8px;padding:.55rem .7rem;min-width:0}
.tile .t{font-size:.85rem;color:#57606a}.tile b{font-size:1.35rem;display:block;margin:.1rem 0}
.tile .p,.tile .change{font-size:.78rem;color:#57606a}.trend{display:block;margin-top:.3rem;max-width:100%}
.badge{display:inline-block;border-radius:9px;padding:0 .45rem;font-size:.72rem;font-weight:600;
margin-left:.3rem}
.partial{background:#fff8c5;color:#7d4e00;border:1px solid #d4a72c}
.stale{background:#ffebe9;color:#a40e26;border:1px solid #ff8182}
.warn{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:.4rem .7rem}
#funnel{max-width:760px}.step-head{display:flex;justify-content:space-between;font-size:.9rem}
.track{background:#f6f8fa;border-radius:4px;height:22px;margin:.15rem 0}
.stage{background:#0969da;height:100%;border-radius:4px}
.conv{font-size:.78rem;color:#57606a;margin:0 0 .35rem .4rem}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.3rem 0;font-size:.88rem}
th,td{border-bottom:1px solid #d0d7de;padding:.25rem .6rem;text-align:left;white-space:nowrap}
td.n,th.n{text-align:right}.status{font-weight:600}td.err{white-space:normal;min-width:16rem}
#admin{border-top:2px solid #d0d7de;margin-top:2rem}
@media (max-width:600px){body{padding:.6rem .7rem}.tiles{grid-template-columns:1fr 1fr}
.tile b{font-size:1.1rem}.trend{width:100%;height:auto}}
"""


def render_status(
    *,
    sections: Sequence[Section],
    runs: Sequence[SyncRun],
    next_runs: dict[str, datetime | None],
    connections: Sequence[str],
    admin_enabled: bool,
    refresh_seconds: int,
    now: datetime,
) -> str:
    """The whole page."""
    boards = [s.board for s in sections if s.board is not None]
    refresh = f" · refreshes every {refresh_seconds} s" if refresh_seconds > 0 else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>funnelsync</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{STYLE}</style></head><body>
<header><h1>funnelsync</h1><p class="meta">Page built {now:%Y-%m-%d %H:%M} UTC{refresh}</p></header>
{_selector(boards)}
{"".join(_connection(s) for s in sections)}
<section id="sync"><h2>Sync status</h2>{_runs_table(runs, next_runs)}</section>
{_admin(connections, admin_enabled)}
{_refresh_script(refresh_seconds)}
</body></html>"""
