"""Readable terminal views of a KPI computation (rich tables), for `funnelsync kpis` and the demo."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from rich.console import Console
from rich.table import Table

from kpi.definitions import funnel_steps, step
from kpi.health import marker
from kpi.model import ALL, FAMILIES, Dim, KpiValue
from service.kpis import KpiReport

# The KPIs `funnelsync kpis` shows per period, in this order (stage "" = not stage-specific).
PERIOD_ROWS: tuple[tuple[str, str], ...] = (
    ("contacts_created", ""),
    ("stage_entries", "*"),
    ("stage_conversion", "*"),
    ("contact_to_customer_rate", "*"),
    ("deals_created", ""),
    ("pipeline_created", ""),
    ("deals_won", ""),
    ("deals_lost", ""),
    ("win_rate", ""),
    ("closed_won_revenue", ""),
    ("average_won_deal_size", ""),
    ("days_to_close_median", ""),
    ("days_to_close_mean", ""),
    ("time_to_customer_median", ""),
    ("pipeline_velocity", ""),
    ("spend", ""),
    ("cac", ""),
    ("cost_per_lead", ""),
    ("roi", ""),
    ("roas", ""),
    ("emails_sent", ""),
    ("email_open_rate", ""),
    ("email_click_rate", ""),
)
SNAPSHOT_ROWS = (
    "open_deals",
    "open_pipeline",
    "weighted_pipeline",
    *(kpi for kpi, family in FAMILIES.items() if family == "clv"),
)


def fmt(value: float | None, unit: str) -> str:
    """A value the way a reader expects it: 23.4 %, 1,234, 12.5 d, 1.2M SEK."""
    if value is None:
        return "–"
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "days":
        return f"{value:.1f} d"
    if unit in ("count", "years"):
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"
    code = unit.split(":", 1)[1] if ":" in unit else ""
    suffix = "/day" if unit.startswith("currency_per_day") else ""
    for limit, scale, letter in ((1e9, 1e9, "G"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= limit:
            return f"{value / scale:,.1f}{letter} {code}{suffix}"
    return f"{value:,.0f} {code}{suffix}"


def _index(values: Iterable[KpiValue]) -> dict[tuple[str, str, Dim, str], KpiValue]:
    return {(v.kpi, v.stage, v.dim, v.period.label if v.period else ""): v for v in values}


def kpi_table(report: KpiReport, *, dim: Dim = ALL, last: int = 6) -> Table:
    """KPIs as rows and the last `last` periods as columns, for one breakdown."""
    periods = report.periods[-last:]
    index = _index(report.result.values)
    label = "all contacts and deals" if dim == ALL else f"{dim.name} = {dim.value}"
    table = Table(title=f"KPIs by {periods[0].kind} ({label}, {report.result.currency})")
    table.add_column("kpi", no_wrap=True)
    for period in periods:
        table.add_column(period.label, justify="right", no_wrap=True)
    stages = _stages(report)
    steps = [step(x, y) for x, y in funnel_steps(stages)]
    for kpi, stage in PERIOD_ROWS:
        if stage == "*":
            names = stages if kpi == "stage_entries" else steps
            if kpi == "contact_to_customer_rate":
                names = [step("created", stages[-1])]
        else:
            names = [stage]
        for name in names:
            cells = [index.get((kpi, name, dim, p.label)) for p in periods]
            if all(c is None for c in cells):
                continue
            unit = next(c.unit for c in cells if c is not None)
            title = f"{kpi} {name}".strip()
            table.add_row(title, *(fmt(c.value if c else None, unit) for c in cells))
    return table


def snapshot_table(report: KpiReport, *, dim: Dim = ALL) -> Table:
    table = Table(title=f"Now (as of {report.result.as_of:%Y-%m-%d %H:%M} UTC)")
    table.add_column("kpi", no_wrap=True)
    table.add_column("value", justify="right")
    index = _index(report.result.values)
    for kpi in SNAPSHOT_ROWS:
        value = index.get((kpi, "", dim, ""))
        if value is not None:
            table.add_row(kpi, fmt(value.value, value.unit))
    for v in report.result.values:
        if v.kpi == "stage_count" and v.dim == dim:
            table.add_row(f"contacts now in {v.stage}", fmt(v.value, v.unit))
    return table


def _stages(report: KpiReport) -> list[str]:
    seen: list[str] = []
    for v in report.result.values:
        if v.kpi == "stage_entries" and v.stage not in seen:
            seen.append(v.stage)
    return seen


def _sum(values: Iterable[KpiValue], kpi: str, *, stage: str = "", dim: Dim = ALL) -> tuple[float, float]:
    """Σ numerator and Σ denominator over the grid: rates re-aggregate, they are never averaged."""
    num = den = 0.0
    for v in values:
        if v.kpi == kpi and v.stage == stage and v.dim == dim and v.period is not None:
            num += v.numerator or 0.0
            den += v.denominator or 0.0
    return num, den


def _total(values: Iterable[KpiValue], kpi: str, *, stage: str = "", dim: Dim = ALL) -> float:
    return math.fsum(
        v.value or 0.0
        for v in values
        if v.kpi == kpi and v.stage == stage and v.dim == dim and v.period is not None
    )


def _rate(num: float, den: float) -> float | None:
    return num / den if den else None


def print_summary(report: KpiReport, console: Console) -> None:
    """What a marketing lead wants from the whole grid: funnel, sources, sales, value."""
    values = report.result.values
    cur = report.result.currency
    stages = _stages(report)
    span = f"{report.periods[0].label} … {report.periods[-1].label}"
    funnel = Table(title=f"Funnel, {span} (cohorts: of those entering a stage, how many went on)")
    for column in ("stage", "contacts now", "entered", "→ next stage", "converted", "still open"):
        funnel.add_column(column, justify="left" if column == "stage" else "right")
    now = {v.stage: v.value for v in values if v.kpi == "stage_count" and v.dim == ALL}
    for i, stage in enumerate(stages):
        entered = _total(values, "stage_entries", stage=stage)
        if i + 1 < len(stages):
            label = step(stage, stages[i + 1])
            converted, base = _sum(values, "stage_conversion", stage=label)
            step_rate = fmt(_rate(converted, base), "ratio")
            still = _total(values, "stage_conversion_open", stage=label)
            funnel.add_row(
                stage,
                fmt(now.get(stage), "count"),
                fmt(entered, "count"),
                step_rate,
                fmt(converted, "count"),
                fmt(still, "count"),
            )
        else:
            funnel.add_row(stage, fmt(now.get(stage), "count"), fmt(entered, "count"), "", "", "")
    console.print(funnel)
    first_last = step(stages[0], stages[-1])
    won_leads, leads = _sum(values, "stage_conversion", stage=first_last)
    overall = _rate(won_leads, leads)
    per = f", i.e. about {1 / overall:,.0f} leads per new customer" if overall else ""
    console.print(
        f"{stages[0]} → {stages[-1]}: {fmt(overall, 'ratio')} ({won_leads:,.0f} of {leads:,.0f}){per}"
    )

    sources: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for v in values:
        if v.dim.name != "source" or v.period is None:
            continue
        row = sources[v.dim.value]
        if v.kpi == "contacts_created":
            row["contacts"] += v.value or 0
        elif v.kpi == "stage_entries" and v.stage == stages[-1]:
            row["customers"] += v.value or 0
        elif v.kpi == "closed_won_revenue":
            row["revenue"] += v.value or 0
        elif v.kpi == "win_rate":
            row["won"] += v.numerator or 0
            row["closed"] += v.denominator or 0
    table = Table(title=f"Top sources by new customers and won revenue, {span} (first touch)")
    for column in ("source", "new contacts", "new customers", "won revenue", "win rate"):
        table.add_column(column, justify="left" if column == "source" else "right")
    ranked = sorted(sources.items(), key=lambda kv: (-kv[1]["customers"], -kv[1]["revenue"]))
    for source, row in ranked[:8]:
        table.add_row(
            source,
            fmt(row["contacts"], "count"),
            fmt(row["customers"], "count"),
            fmt(row["revenue"], f"currency:{cur}"),
            fmt(_rate(row["won"], row["closed"]), "ratio"),
        )
    console.print(table)

    print_web(report, console, revenue={k: v["revenue"] for k, v in sources.items()})

    won, closed = _sum(values, "win_rate")
    revenue, n_won = _sum(values, "average_won_deal_size")
    day_sum = sum(
        (v.value or 0) * (v.denominator or 0)
        for v in values
        if v.kpi == "days_to_close_mean" and v.dim == ALL and v.period is not None
    )
    day_n = sum(
        v.denominator or 0
        for v in values
        if v.kpi == "days_to_close_mean" and v.dim == ALL and v.period is not None
    )
    sales = Table(title=f"Sales, {span}")
    sales.add_column("kpi")
    sales.add_column("value", justify="right")
    sales.add_row(
        "win rate (won / closed)", f"{fmt(_rate(won, closed), 'ratio')}  ({won:,.0f} of {closed:,.0f})"
    )
    sales.add_row("average won deal", fmt(_rate(revenue, n_won), f"currency:{cur}"))
    sales.add_row("days to close (mean, won deals)", fmt(_rate(day_sum, day_n), "days"))
    last_complete = report.periods[-2] if len(report.periods) > 1 else report.periods[-1]
    index = _index(values)
    for kpi in ("days_to_close_median", "pipeline_velocity"):
        found = index.get((kpi, "", ALL, last_complete.label))
        if found is not None:
            sales.add_row(f"{kpi.replace('_', ' ')} ({last_complete.label})", fmt(found.value, found.unit))
    spend = _total(values, "spend")
    if spend:
        customers = _total(values, "stage_entries", stage=stages[-1])
        won_revenue = _total(values, "closed_won_revenue")
        sales.add_row("marketing spend", fmt(spend, f"currency:{cur}"))
        sales.add_row("CAC (spend / new customers)", fmt(_rate(spend, customers), f"currency:{cur}"))
        sales.add_row("ROI ((won revenue − spend) / spend)", fmt(_rate(won_revenue - spend, spend), "ratio"))
    for kpi in ("open_pipeline", "weighted_pipeline", "clv"):
        found = index.get((kpi, "", ALL, ""))
        if found is not None:
            sales.add_row(kpi.replace("_", " "), fmt(found.value, found.unit))
    console.print(sales)

    sends = _total(values, "emails_sent")
    if sends:
        platforms = sorted(
            {v.dim.value for v in values if v.kpi == "emails_sent" and v.dim.name == "platform"}
        )
        dims = [ALL, *(Dim("platform", p) for p in platforms)] if len(platforms) > 1 else [ALL]
        email = Table(
            title=f"Email, {span} (sums over all sends; opens bot-filtered on HubSpot, "
            f"without Apple MPP opens on Mailchimp where it reports them)"
        )
        email.add_column("kpi")
        for dim in dims:
            email.add_column("all" if dim == ALL else dim.value, justify="right")
        email.add_column("rule of thumb (source articles, not truth)")
        email.add_row("sends", *(fmt(_total(values, "emails_sent", dim=d), "count") for d in dims), "")
        for kpi, label in (
            ("email_delivery_rate", "delivered / sent"),
            ("email_open_rate", "open rate (unique opens / delivered)"),
            ("email_click_rate", "click rate (unique clicks / delivered)"),
            ("email_click_to_open_rate", "click-to-open (clickers / openers)"),
            ("email_unsubscribe_rate", "unsubscribe rate"),
        ):
            rates = [_rate(*_sum(values, kpi, dim=d)) for d in dims]
            email.add_row(label, *(fmt(r, "ratio") for r in rates), marker(kpi, rates[0]))
        console.print(email)


def print_web(report: KpiReport, console: Console, *, revenue: dict[str, float]) -> None:
    """Sales from marketing (visits → new contacts → customers → won revenue per source), then
    the website: visitor → lead, organic share, landing pages, entry pages, social networks,
    personas. Nothing when the portal has no web analytics."""
    values = report.result.values
    if not any(v.family == "web" for v in values):
        return
    cur = report.result.currency
    span = f"{report.periods[0].label} … {report.periods[-1].label}"
    chain = Table(title=f"Sales from marketing, {span} (web analytics + won deals, first touch)")
    for column in (
        "source",
        "visits",
        "new contacts",
        "visit → contact",
        "customers",
        "contact → customer",
        "won revenue",
    ):
        chain.add_column(column, justify="left" if column == "source" else "right")
    names = sorted(
        {v.dim.value for v in values if v.kpi == "web_visits" and v.dim.name == "source"},
        key=lambda n: -_total(values, "web_visits", dim=Dim("source", n)),
    )
    for name, dim in [*((n, Dim("source", n)) for n in names), ("all", ALL)]:
        chain.add_row(
            name,
            fmt(_total(values, "web_visits", dim=dim), "count"),
            fmt(_total(values, "web_new_contacts", dim=dim), "count"),
            fmt(_rate(*_sum(values, "visit_to_contact_rate", dim=dim)), "ratio"),
            fmt(_total(values, "web_customers", dim=dim), "count"),
            fmt(_rate(*_sum(values, "web_contact_to_customer_rate", dim=dim)), "ratio"),
            fmt(sum(revenue.values()) if dim == ALL else revenue.get(name, 0.0), f"currency:{cur}"),
        )
    console.print(chain)

    last = report.periods[-2] if len(report.periods) > 1 else report.periods[-1]
    web = Table(title=f"Website, {span} (per-page figures: {last.label})")
    web.add_column("kpi")
    web.add_column("value", justify="right")
    web.add_column("rule of thumb (source articles, not truth)")
    visitors, customers = _total(values, "web_visitors"), _total(values, "web_customers")
    web.add_row(
        "visitor → lead (new contacts / visitors)",
        fmt(_rate(*_sum(values, "visitor_to_lead_rate")), "ratio"),
        "",
    )
    web.add_row("visitors per new customer", fmt(_rate(visitors, customers), "count"), "")
    web.add_row(
        "organic search share of visits", fmt(_rate(*_sum(values, "organic_traffic_share")), "ratio"), ""
    )
    lp_rate = _rate(*_sum(values, "landing_page_conversion_rate"))
    web.add_row(
        "landing pages (submissions / views)",
        fmt(lp_rate, "ratio"),
        marker("landing_page_conversion_rate", lp_rate),
    )
    in_last = [v for v in values if v.period == last]
    for stage in ("best", "worst"):
        found = next(
            (v for v in in_last if v.kpi == "landing_page_conversion_rate" and v.stage == stage), None
        )
        if found is not None:
            web.add_row(f"{stage} landing page: {found.dim.value}", fmt(found.value, "ratio"), "")
    entries = sorted((v for v in in_last if v.kpi == "entry_page_entrances"), key=lambda v: v.stage)
    rates = {v.stage: v for v in in_last if v.kpi == "entry_page_conversion_rate"}
    for v in entries:
        rate = rates.get(v.stage)
        web.add_row(
            f"entry page #{v.stage}: {v.dim.value}",
            f"{fmt(v.value, 'count')} entrances, {fmt(rate.value if rate else None, 'ratio')} convert",
            "",
        )
    for name in sorted(
        {v.dim.value for v in values if v.kpi == "web_visits" and v.dim.name == "social_network"}
    ):
        dim = Dim("social_network", name)
        web.add_row(
            f"social: {name}",
            f"{fmt(_total(values, 'web_visits', dim=dim), 'count')} visits, "
            f"{fmt(_total(values, 'web_leads', dim=dim), 'count')} leads, "
            f"{fmt(_total(values, 'web_customers', dim=dim), 'count')} customers, "
            f"{fmt(_rate(*_sum(values, 'traffic_share', dim=dim)), 'ratio')} of visits",
            "",
        )
    personas = [v for v in values if v.kpi == "contacts_created" and v.dim.name == "persona"]
    for name in dict.fromkeys(v.dim.value for v in personas):
        web.add_row(
            f"new contacts, persona {name}",
            fmt(_total(values, "contacts_created", dim=Dim("persona", name)), "count"),
            "",
        )
    share = _rate(*_sum(values, "priority_persona_share"))
    if any(v.kpi == "priority_persona_share" for v in values):
        web.add_row("new contacts matching the priority personas", fmt(share, "ratio"), "")
    console.print(web)
