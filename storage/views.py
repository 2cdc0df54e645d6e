"""Views for BI tools (docs/bi.md): `kpi_latest`, every value of each connection's latest KPI
computation, and `kpi_<family>`, that family's latest values one row per period, stage and
dimension value with one column per KPI (a BI tool reads a wide table without pivoting).

The KPI lists are frozen per revision (storage sits below kpi/, and a migration must build the
same thing whenever it runs): a revision that adds KPIs adds its own list and recreates the
views; `CURRENT` is the newest (tests/storage/test_views.py checks it against kpi.model). The
views' own SQL is frozen per revision the same way (`LATEST`, `KEYS`). A revision that alters
`kpi_values` or `kpi_runs` drops the views first and creates them again after (SQLite rebuilds an
altered table, and PostgreSQL fixes a view's columns when it is made).
"""

from __future__ import annotations

from sqlalchemy import Connection, text

VIEWS_0007: dict[str, tuple[str, ...]] = {
    "funnel": (
        "stage_count",
        "stage_entries",
        "stage_conversion",
        "stage_conversion_open",
        "stage_volume_ratio",
        "stage_dates_missing",
        "leads_per_customer",
    ),
    "sources": (
        "contacts_created",
        "contact_to_customer_rate",
        "priority_persona_share",
    ),
    "web": (
        "web_visits",
        "web_visitors",
        "web_new_contacts",
        "web_leads",
        "web_customers",
        "visit_to_contact_rate",
        "visitor_to_lead_rate",
        "web_contact_to_customer_rate",
        "visitors_per_customer",
        "traffic_share",
        "organic_traffic_share",
        "landing_page_views",
        "landing_page_submissions",
        "landing_page_conversion_rate",
        "entry_page_entrances",
        "entry_page_conversion_rate",
    ),
    "pipeline": (
        "deals_created",
        "pipeline_created",
        "open_deals",
        "open_pipeline",
        "weighted_pipeline",
        "deals_missing_amount",
        "deals_won",
        "deals_lost",
        "closed_won_revenue",
        "win_rate",
        "average_won_deal_size",
        "pipeline_velocity",
    ),
    "email": (
        "emails_sent",
        "email_sent",
        "email_delivered",
        "email_delivery_rate",
        "email_bounce_rate",
        "email_open_rate",
        "email_click_rate",
        "email_click_to_open_rate",
        "email_unsubscribe_rate",
        "email_spam_rate",
    ),
    "audience": (
        "list_new_subscribers",
        "list_unsubscribes",
        "list_cleaned",
        "list_net_growth",
        "contacts_in_audience",
        "mql_share_subscribed",
        "mql_share_not_subscribed",
        "mql_share_engaged",
        "mql_share_not_engaged",
    ),
    "deal_stages": (
        "deal_stage_conversion",
        "deal_stage_days_mean",
        "deal_stage_days_median",
        "deal_stage_days_p90",
    ),
    "cycle": (
        "days_to_close_mean",
        "days_to_close_median",
        "days_to_close_p90",
        "deals_closed_before_created",
        "time_to_customer_mean",
        "time_to_customer_median",
        "time_to_customer_p90",
    ),
    "spend": (
        "spend",
        "cac",
        "cost_per_lead",
        "cost_per_mql",
        "roi",
        "roas",
        "pipe_to_spend",
        "spend_excluded",
    ),
    "clv": (
        "clv_average_order_value",
        "clv_orders_per_year",
        "clv_years_retained",
        "clv",
        "clv_gross_margin",
        "clv_roi",
    ),
}

# Revision 0010 added the attribution family.
VIEWS_0010: dict[str, tuple[str, ...]] = {
    **VIEWS_0007,
    "attribution": ("attributed_revenue", "attributed_deals_created", "attributed_pipeline_created"),
}

# Revision 0011 added the self-reported source cross-tabulation to the sources family.
VIEWS_0011: dict[str, tuple[str, ...]] = {
    **VIEWS_0010,
    "sources": (*VIEWS_0010["sources"], "reported_vs_tracked_contacts"),
}

# Revision 0012 added the forecast family.
VIEWS_0012: dict[str, tuple[str, ...]] = {
    **VIEWS_0011,
    "forecast": (
        "forecast_won_revenue",
        "forecast_new_customers",
        "forecast_error_won_revenue",
        "forecast_error_new_customers",
        "forecast_bias_won_revenue",
        "forecast_bias_new_customers",
        "forecast_backtest_won_revenue",
        "forecast_backtest_new_customers",
        "forecast_deals_left_out",
    ),
}

# Revision 0013 added the campaigns family.
VIEWS_0013: dict[str, tuple[str, ...]] = {
    **VIEWS_0012,
    "campaigns": (
        "campaign_spend",
        "campaign_contacts_created",
        "campaign_customers",
        "campaign_won_revenue",
        "campaign_cost_per_contact",
        "campaign_cac",
        "campaign_roas",
        "campaign_roi",
        "campaign_budget",
        "campaign_spend_total",
        "campaign_budget_used",
        "campaign_cost_per_new_contact",
        "campaign_sessions",
        "campaign_new_contacts_first_touch",
        "campaign_new_contacts_last_touch",
        "campaign_influenced_contacts",
        "campaigns_excluded",
    ),
}

CURRENT = VIEWS_0013

# The views as each revision made them: 0009 added `period_label` and `complete` (the period
# had ended when the KPIs were computed; always true for snapshot values).
LATEST = {
    "0007": """
CREATE VIEW kpi_latest AS
SELECT v.*
FROM kpi_values v
JOIN (SELECT connection, MAX(id) AS run_id FROM kpi_runs GROUP BY connection) latest
  ON v.connection = latest.connection AND v.run_id = latest.run_id
""",
    "0009": """
CREATE VIEW kpi_latest AS
SELECT v.*, (v.period_start IS NULL OR v.period_end <= r.as_of) AS complete
FROM kpi_values v
JOIN (SELECT connection, MAX(id) AS run_id FROM kpi_runs GROUP BY connection) latest
  ON v.connection = latest.connection AND v.run_id = latest.run_id
JOIN kpi_runs r ON r.id = v.run_id
""",
}
KEYS = {
    "0007": (
        "connection, run_id, period_start, period_end, stage, stage_label, "
        "dimension, dimension_value, dimension_label"
    ),
    "0009": (
        "connection, run_id, period_start, period_end, period_label, complete, stage, stage_label, "
        "dimension, dimension_value, dimension_label"
    ),
}
REVISION = "0009"  # the newest views


def wide(family: str, kpis: tuple[str, ...], *, revision: str = REVISION) -> str:
    """The family's latest values, one column per KPI."""
    key = KEYS[revision]
    columns = ",\n  ".join(f"MAX(CASE WHEN kpi = '{kpi}' THEN value END) AS {kpi}" for kpi in kpis)
    return (
        f"CREATE VIEW kpi_{family} AS\nSELECT {key},\n  MAX(stale_since) AS stale_since,\n  {columns}\n"
        f"FROM kpi_latest WHERE family = '{family}'\nGROUP BY {key}"
    )


def create_views(conn: Connection, families: dict[str, tuple[str, ...]], *, revision: str = "0007") -> None:
    conn.execute(text(LATEST[revision]))
    for family, kpis in families.items():
        conn.execute(text(wide(family, kpis, revision=revision)))


def drop_views(conn: Connection, families: dict[str, tuple[str, ...]]) -> None:
    for family in families:
        conn.execute(text(f"DROP VIEW IF EXISTS kpi_{family}"))
    conn.execute(text("DROP VIEW IF EXISTS kpi_latest"))
