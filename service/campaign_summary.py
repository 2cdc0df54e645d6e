"""The demo summary's campaigns table: each HubSpot marketing campaign over the grid, its spend,
contacts, customers and credited revenue with CAC and ROAS, beside HubSpot's own lifetime
figures (docs/kpis.md, "Campaigns")."""

from __future__ import annotations

from collections import defaultdict

from rich.table import Table

from kpi.labels import Labels
from kpi.model import ALL, KpiValue
from service.report import fmt, rate

# Per-period KPIs summed over the grid, in column order.
_SUMMED = ("campaign_spend", "campaign_contacts_created", "campaign_customers", "campaign_won_revenue")


def campaign_table(values: list[KpiValue], currency: str, span: str, labels: Labels) -> Table | None:
    """None when the portal has no campaigns (or the stream is unavailable)."""
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    lifetime: dict[str, dict[str, float | None]] = defaultdict(dict)
    model = ""
    for v in values:
        if v.family != "campaigns" or v.dim.name != "campaign":
            continue
        if v.period is None:
            lifetime[v.dim.value][v.kpi] = v.value
        elif v.kpi in _SUMMED:
            sums[v.dim.value][v.kpi] += v.value or 0
            model = v.stage or model
    if not lifetime:
        return None
    money = f"money:{currency}"
    table = Table(
        title=f"HubSpot campaigns, {span} (revenue credited by {labels.stage('campaigns', model) or model}; "
        "sessions and influenced contacts: HubSpot's lifetime metrics)"
    )
    for column in (
        "campaign",
        "spend",
        "contacts",
        "customers",
        "won revenue",
        "CAC",
        "ROAS",
        "sessions",
        "influenced",
    ):
        table.add_column(
            column, justify="left" if column == "campaign" else "right", no_wrap=column != "campaign"
        )
    ranked = sorted(lifetime, key=lambda c: (-sums[c]["campaign_spend"], c))
    for campaign in ranked:
        s, life = sums[campaign], lifetime[campaign]
        spend, customers, revenue = s["campaign_spend"], s["campaign_customers"], s["campaign_won_revenue"]
        table.add_row(
            labels.dimension("campaign", campaign),
            fmt(spend, money),
            fmt(s["campaign_contacts_created"], "count"),
            fmt(customers, "count"),
            fmt(revenue, money),
            fmt(rate(spend, customers), money),
            fmt(rate(revenue, spend), "multiple"),
            fmt(life.get("campaign_sessions"), "count"),
            fmt(life.get("campaign_influenced_contacts"), "count"),
        )
    total = next((v.value for v in values if v.kpi == "campaign_spend_total" and v.dim == ALL), None)
    table.caption = f"All campaigns' spend to date: {fmt(total, money)}"
    return table
