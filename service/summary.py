"""The demo's summary of a KPI computation: what a marketing lead wants from the whole grid
(funnel, sources, sales from marketing and the website, sales, email), as rich tables."""

from __future__ import annotations

from collections import defaultdict

from rich.console import Console
from rich.table import Table

from kpi.attribution import MODELS
from kpi.definitions import step
from kpi.health import marker
from kpi.labels import Labels
from kpi.model import ALL, Dim, KpiValue
from service.campaign_summary import campaign_table
from service.forecast_summary import forecast_tables
from service.kpis import KpiReport
from service.report import fmt, index_of, rate, span_of, stages_of, sum_over, total_of


def print_summary(report: KpiReport, console: Console) -> None:
    """What a marketing lead wants from the whole grid: funnel, sources, sales, value."""
    values = report.result.values
    stages = stages_of(report)
    span = span_of(report.periods, report.result.as_of)
    console.print(_funnel_table(values, stages, span, report.labels))
    first_last = step(stages[0], stages[-1])
    won_leads, leads = sum_over(values, "stage_conversion", stage=first_last)
    overall = rate(won_leads, leads)
    per = f", i.e. about {1 / overall:,.0f} leads per new customer" if overall else ""
    console.print(
        f"{stages[0]} → {stages[-1]}: {fmt(overall, 'share')} ({won_leads:,.0f} of {leads:,.0f}){per}"
    )
    sources = _by_source(values, stages)
    console.print(_sources_table(sources, report.result.currency, span, report.labels))
    print_web(report, console, revenue={k: v["revenue"] for k, v in sources.items()})
    console.print(_sales_table(report, stages, span))
    reported = [v for v in values if v.kpi == "reported_vs_tracked_contacts"]
    if reported:
        console.print(_reported_table(reported, span, report.labels))
    if any(v.kpi == "attributed_revenue" and v.dim.name == "source" for v in values):
        console.print(_attribution_table(values, report.result.currency, span, report.labels))
    campaigns = campaign_table(values, report.result.currency, span, report.labels)
    if campaigns is not None:
        console.print(campaigns)
    if total_of(values, "emails_sent"):
        console.print(_email_table(values, span))
    for table in forecast_tables(values, report.result.currency):
        console.print(table)


def _funnel_table(values: list[KpiValue], stages: list[str], span: str, labels: Labels) -> Table:
    funnel = Table(title=f"Funnel, {span} (cohorts: of those entering a stage, how many went on)")
    for column in ("stage", "contacts now", "entered", "→ next stage", "converted", "still open"):
        funnel.add_column(column, justify="left" if column == "stage" else "right")
    now = {v.stage: v.value for v in values if v.kpi == "stage_count" and v.dim == ALL}
    for i, stage in enumerate(stages):
        entered = total_of(values, "stage_entries", stage=stage)
        if i + 1 == len(stages):
            funnel.add_row(
                labels.stage("funnel", stage), fmt(now.get(stage), "count"), fmt(entered, "count"), "", "", ""
            )
            continue
        label = step(stage, stages[i + 1])
        converted, base = sum_over(values, "stage_conversion", stage=label)
        funnel.add_row(
            labels.stage("funnel", stage),
            fmt(now.get(stage), "count"),
            fmt(entered, "count"),
            fmt(rate(converted, base), "share"),
            fmt(converted, "count"),
            fmt(total_of(values, "stage_conversion_open", stage=label), "count"),
        )
    return funnel


def _by_source(values: list[KpiValue], stages: list[str]) -> dict[str, dict[str, float]]:
    """Per original source over the grid: new contacts, new customers, won revenue, won and closed."""
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
    return sources


def _sources_table(sources: dict[str, dict[str, float]], cur: str, span: str, labels: Labels) -> Table:
    table = Table(title=f"Top sources by new customers and won revenue, {span} (first touch)")
    for column in ("source", "new contacts", "new customers", "won revenue", "win rate"):
        table.add_column(column, justify="left" if column == "source" else "right", no_wrap=True)
    ranked = sorted(sources.items(), key=lambda kv: (-kv[1]["customers"], -kv[1]["revenue"]))
    for source, row in ranked[:8]:
        table.add_row(
            labels.dimension("source", source),
            fmt(row["contacts"], "count"),
            fmt(row["customers"], "count"),
            fmt(row["revenue"], f"money:{cur}"),
            fmt(rate(row["won"], row["closed"]), "share"),
        )
    return table


def _sales_table(report: KpiReport, stages: list[str], span: str) -> Table:
    values, cur = report.result.values, report.result.currency
    won, closed = sum_over(values, "win_rate")
    revenue, n_won = sum_over(values, "average_won_deal_size")
    cycles = [v for v in values if v.kpi == "days_to_close_mean" and v.dim == ALL and v.period is not None]
    day_sum = sum((v.value or 0) * (v.denominator or 0) for v in cycles)
    day_n = sum(v.denominator or 0 for v in cycles)
    sales = Table(title=f"Sales, {span}")
    sales.add_column("kpi")
    sales.add_column("value", justify="right")
    sales.add_row(
        "win rate (won / closed)", f"{fmt(rate(won, closed), 'share')}  ({won:,.0f} of {closed:,.0f})"
    )
    sales.add_row("average won deal", fmt(rate(revenue, n_won), f"money:{cur}"))
    sales.add_row("days to close (mean, won deals)", fmt(rate(day_sum, day_n), "days"))
    last_complete = report.periods[-2] if len(report.periods) > 1 else report.periods[-1]
    index = index_of(values)
    for kpi in ("days_to_close_median", "pipeline_velocity"):
        found = index.get((kpi, "", ALL, last_complete.label))
        if found is not None:
            sales.add_row(f"{kpi.replace('_', ' ')} ({last_complete.label})", fmt(found.value, found.unit))
    spend = total_of(values, "spend")
    if spend:
        customers = total_of(values, "stage_entries", stage=stages[-1])
        won_revenue = total_of(values, "closed_won_revenue")
        sales.add_row("marketing spend", fmt(spend, f"money:{cur}"))
        sales.add_row("CAC (spend / new customers)", fmt(rate(spend, customers), f"money:{cur}"))
        sales.add_row(
            "ROI ((won revenue − spend) / spend)", fmt(rate(won_revenue - spend, spend), "multiple")
        )
    for kpi in ("open_pipeline", "weighted_pipeline", "clv"):
        found = index.get((kpi, "", ALL, ""))
        if found is not None:
            sales.add_row(kpi.replace("_", " "), fmt(found.value, found.unit))
    return sales


EMAIL_ROWS = (
    ("email_delivery_rate", "delivered / sent"),
    ("email_open_rate", "open rate (unique opens / delivered)"),
    ("email_click_rate", "click rate (unique clicks / delivered)"),
    ("email_click_to_open_rate", "click-to-open (clickers / openers)"),
    ("email_unsubscribe_rate", "unsubscribe rate"),
)


def _reported_table(values: list[KpiValue], span: str, labels: Labels) -> Table:
    """Contacts created by what they said (rows) and what tracking says (the five commonest
    tracked sources, then the rest): where the two part, tracking is blind."""
    cells: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    per_source: dict[str, float] = defaultdict(float)
    prop = values[0].dim.name
    for v in values:
        cells[v.dim.value][v.stage] += v.value or 0
        per_source[v.stage] += v.value or 0
    top = [s for s, _ in sorted(per_source.items(), key=lambda kv: (-kv[1], kv[0]))[:5]]
    table = Table(title=f"What people say ({prop}) vs what tracking says (original source), {span}")
    table.add_column("they said", no_wrap=True)
    for source in top:
        table.add_column(labels.dimension("source", source), justify="right", no_wrap=True)
    table.add_column("other", justify="right", no_wrap=True)
    table.add_column("all", justify="right", no_wrap=True)
    ranked = sorted(cells.items(), key=lambda kv: (kv[0] == "unknown", -sum(kv[1].values()), kv[0]))
    for answer, row in ranked:
        other = sum(n for s, n in row.items() if s not in top)
        name = "(no answer)" if answer == "unknown" else labels.dimension(prop, answer)
        table.add_row(
            name,
            *(fmt(row.get(s, 0), "count") for s in top),
            fmt(other, "count"),
            fmt(sum(row.values()), "count"),
        )
    return table


# Short headings of the attribution models (kpi.attribution.MODELS, in its order) for the table.
MODEL_HEADINGS = {
    "first_touch": "first",
    "last_touch": "last",
    "linear": "linear",
    "u_shaped": "U",
    "w_shaped": "W",
    "time_decay": "decay",
    "full_path": "full path",
}


def _attribution_table(values: list[KpiValue], cur: str, span: str, labels: Labels) -> Table:
    """Won revenue credited to each channel under each model (docs/kpis.md, "Attribution")."""
    credit: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for v in values:
        if v.kpi == "attributed_revenue" and v.dim.name == "source" and v.period is not None:
            credit[v.dim.value][v.stage] += v.value or 0
    table = Table(
        title=f"Won revenue by channel under each attribution model, {span} "
        "(U: 40/20/40, W: 30/30/30 + 10, time decay: 7-day half-life)"
    )
    table.add_column("channel", no_wrap=True)
    for model in MODELS:
        table.add_column(MODEL_HEADINGS[model], justify="right", no_wrap=True)
    ranked = sorted(credit.items(), key=lambda kv: (-kv[1]["linear"], kv[0]))
    for channel, models in ranked[:10]:
        table.add_row(labels.dimension("source", channel), *(fmt(models[m], f"money:{cur}") for m in MODELS))
    return table


def _email_table(values: list[KpiValue], span: str) -> Table:
    platforms = sorted({v.dim.value for v in values if v.kpi == "emails_sent" and v.dim.name == "platform"})
    dims = [ALL, *(Dim("platform", p) for p in platforms)] if len(platforms) > 1 else [ALL]
    email = Table(
        title=f"Email, {span} (sums over all sends; opens bot-filtered on HubSpot, "
        f"without Apple MPP opens on Mailchimp where it reports them)"
    )
    email.add_column("kpi")
    for dim in dims:
        email.add_column("all" if dim == ALL else dim.value, justify="right")
    email.add_column("rule of thumb (source articles, not truth)")
    email.add_row("sends", *(fmt(total_of(values, "emails_sent", dim=d), "count") for d in dims), "")
    for kpi, label in EMAIL_ROWS:
        rates = [rate(*sum_over(values, kpi, dim=d)) for d in dims]
        email.add_row(label, *(fmt(r, "share") for r in rates), marker(kpi, rates[0]))
    return email


def print_web(report: KpiReport, console: Console, *, revenue: dict[str, float]) -> None:
    """Sales from marketing (visits → new contacts → customers → won revenue per source), then
    the website: visitor → lead, organic share, landing pages, entry pages, social networks,
    personas. Nothing when the portal has no web analytics."""
    values = report.result.values
    if not any(v.family == "web" for v in values):
        return
    span = span_of(report.periods, report.result.as_of)
    console.print(_chain_table(values, revenue, report.result.currency, span, report.labels))
    console.print(_website_table(report, span))


def _chain_table(
    values: list[KpiValue], revenue: dict[str, float], cur: str, span: str, labels: Labels
) -> Table:
    chain = Table(title=f"Sales from marketing, {span} (web analytics + won deals, first touch)")
    columns = (
        "source",
        "visits",
        "new contacts",
        "visit → contact",
        "customers",
        "contact → customer",
        "won revenue",
    )
    for column in columns:
        chain.add_column(column, justify="left" if column == "source" else "right", no_wrap=True)
    # Why its new contacts can differ by a few from the sources table's.
    chain.caption = (
        "New contacts here are HubSpot's web analytics figures (days in the portal's time zone); the "
        "sources table counts CRM records by creation time in the reporting time zone, so days at "
        "the edges of the span can differ."
    )
    names = sorted(
        {v.dim.value for v in values if v.kpi == "web_visits" and v.dim.name == "source"},
        key=lambda n: -total_of(values, "web_visits", dim=Dim("source", n)),
    )
    for name, dim in [*((n, Dim("source", n)) for n in names), ("all", ALL)]:
        chain.add_row(
            labels.dimension("source", name) if dim != ALL else name,
            fmt(total_of(values, "web_visits", dim=dim), "count"),
            fmt(total_of(values, "web_new_contacts", dim=dim), "count"),
            fmt(rate(*sum_over(values, "visit_to_contact_rate", dim=dim)), "share"),
            fmt(total_of(values, "web_customers", dim=dim), "count"),
            fmt(rate(*sum_over(values, "web_contact_to_customer_rate", dim=dim)), "share"),
            fmt(sum(revenue.values()) if dim == ALL else revenue.get(name, 0.0), f"money:{cur}"),
        )
    return chain


def _website_table(report: KpiReport, span: str) -> Table:
    values = report.result.values
    last = report.periods[-2] if len(report.periods) > 1 else report.periods[-1]
    web = Table(title=f"Website, {span} (per-page figures: {last.label})")
    web.add_column("kpi")
    web.add_column("value", justify="right", no_wrap=True)
    web.add_column("rule of thumb (source articles, not truth)")
    visitors, customers = total_of(values, "web_visitors"), total_of(values, "web_customers")
    web.add_row(
        "visitor → lead (new contacts / visitors)",
        fmt(rate(*sum_over(values, "visitor_to_lead_rate")), "share"),
        "",
    )
    web.add_row("visitors per new customer", fmt(rate(visitors, customers), "count"), "")
    organic = rate(*sum_over(values, "organic_traffic_share"))
    web.add_row("organic search share of visits", fmt(organic, "share"), "")
    lp_rate = rate(*sum_over(values, "landing_page_conversion_rate"))
    web.add_row(
        "landing pages (submissions / views)",
        fmt(lp_rate, "share"),
        marker("landing_page_conversion_rate", lp_rate),
    )
    _page_rows(web, [v for v in values if v.period == last])
    _audience_rows(web, values)
    return web


def _page_rows(web: Table, in_last: list[KpiValue]) -> None:
    """The last complete period's best and worst landing page and its top entry pages."""
    for stage in ("best", "worst"):
        found = next(
            (v for v in in_last if v.kpi == "landing_page_conversion_rate" and v.stage == stage), None
        )
        if found is not None:
            web.add_row(f"{stage} landing page: {found.dim.value}", fmt(found.value, "share"), "")
    entries = sorted((v for v in in_last if v.kpi == "entry_page_entrances"), key=lambda v: v.stage)
    rates = {v.stage: v for v in in_last if v.kpi == "entry_page_conversion_rate"}
    for v in entries:
        converts = rates.get(v.stage)
        web.add_row(
            f"entry page #{v.stage}: {v.dim.value}",
            f"{fmt(v.value, 'count')} entrances, "
            f"{fmt(converts.value if converts else None, 'share')} convert",
            "",
        )


def _audience_rows(web: Table, values: list[KpiValue]) -> None:
    """Social networks, new contacts per persona, the priority personas' share."""
    for name in sorted(
        {v.dim.value for v in values if v.kpi == "web_visits" and v.dim.name == "social_network"}
    ):
        dim = Dim("social_network", name)
        web.add_row(
            f"social: {name}",
            f"{fmt(total_of(values, 'web_visits', dim=dim), 'count')} visits, "
            f"{fmt(total_of(values, 'web_leads', dim=dim), 'count')} leads, "
            f"{fmt(total_of(values, 'web_customers', dim=dim), 'count')} customers, "
            f"{fmt(rate(*sum_over(values, 'traffic_share', dim=dim)), 'share')} of visits",
            "",
        )
    personas = [v for v in values if v.kpi == "contacts_created" and v.dim.name == "persona"]
    for name in dict.fromkeys(v.dim.value for v in personas):
        created = total_of(values, "contacts_created", dim=Dim("persona", name))
        web.add_row(f"new contacts, persona {name}", fmt(created, "count"), "")
    share = rate(*sum_over(values, "priority_persona_share"))
    if any(v.kpi == "priority_persona_share" for v in values):
        web.add_row("new contacts matching the priority personas", fmt(share, "share"), "")
