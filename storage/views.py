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


# Revision 0016: `touchpoints`, every touch the attribution models see (docs/kpis.md,
# "Attribution"), one row per contact (or deal) and touch, for BI tools. A revision that rebuilds
# `hubspot_contacts`, `hubspot_deals` or the engagement tables on SQLite drops it first and makes
# it again after. `_LATER` compares two instants: more than five minutes apart, per dialect.
_LATER = {
    "sqlite": "(julianday({a}) - julianday({b})) * 1440 > 5",
    "postgresql": "{a} - {b} > INTERVAL '5 minutes'",
}
_COLUMNS = "connection, contact_id, deal_id, at, touch_type, channel, campaign, content"
# The channel of a form submission: the latest session's source when it began at or before it.
_AT_SESSION = (
    "CASE WHEN c.latest_source_at <= {at} AND c.latest_source IS NOT NULL THEN c.latest_source "
    "ELSE COALESCE(c.analytics_source, 'unknown') END"
)
_HELD = {
    "meeting": "(e.outcome IS NULL OR e.outcome NOT IN ('NO_SHOW', 'CANCELED', 'RESCHEDULED'))",
    "call": "(e.outcome IS NULL OR e.outcome = 'COMPLETED')",
}


# Revision 0017: a contact's Mailchimp clicks, one per campaign (its first click), joined by the
# lower-cased address; the content is the campaign's title.
_MAILCHIMP_CLICK = (
    "SELECT c.connection, c.id, NULL, m.first_click_at, 'mailchimp_click', 'EMAIL_MARKETING', 'none',\n"
    "  COALESCE(mc.title, m.campaign_id)\n"
    "FROM hubspot_contacts c\n"
    "JOIN mailchimp_email_clicks m\n"
    "  ON m.connection = c.connection AND m.email_address = LOWER(TRIM(c.email))\n"
    "LEFT JOIN mailchimp_campaigns mc ON mc.connection = m.connection AND mc.id = m.campaign_id\n"
    "WHERE NOT c.archived AND c.merged_into IS NULL AND NOT m.archived AND m.first_click_at IS NOT NULL"
)


# Revision 0018: a contact's website visits (kpi/attribution.py `site_visits`): a page view more
# than 30 minutes after the one before, not within 30 minutes of the contact's creation or latest
# session; its channel is the source HubSpot gave the view, else the session in effect (as a
# form's); the content its page's title.
_WITHIN_30 = {
    "sqlite": "ABS(julianday({a}) - julianday({b})) * 1440 <= 30",
    "postgresql": "ABS(EXTRACT(EPOCH FROM ({a} - {b}))) <= 1800",
}


def _site_visit(dialect: str) -> str:
    def far(other: str) -> str:
        return "NOT (" + _WITHIN_30[dialect].format(a="w.occurred_at", b=other) + ")"

    return (
        "SELECT c.connection, c.id, NULL, w.occurred_at, 'site_visit', COALESCE(w.source, "
        + _AT_SESSION.format(at="w.occurred_at")
        + "), 'none', COALESCE(w.title, w.url)\n"
        "FROM (SELECT connection, contact_id, occurred_at, title, url, source, LAG(occurred_at) OVER\n"
        "    (PARTITION BY connection, contact_id ORDER BY occurred_at) AS previous\n"
        "  FROM hubspot_web_events WHERE NOT archived AND occurred_at IS NOT NULL) w\n"
        "JOIN hubspot_contacts c ON c.connection = w.connection AND c.id = w.contact_id\n"
        "WHERE NOT c.archived AND c.merged_into IS NULL\n"
        f"  AND (w.previous IS NULL OR {far('w.previous')})\n"
        f"  AND (c.createdate IS NULL OR {far('c.createdate')})\n"
        f"  AND (c.latest_source_at IS NULL OR {far('c.latest_source_at')})"
    )


def _contact_touch(at: str, kind: str, channel: str, campaign: str, content: str, where: str = "") -> str:
    return (
        f"SELECT c.connection, c.id, NULL, {at}, '{kind}', {channel}, {campaign}, {content}\n"
        f"FROM hubspot_contacts c\nWHERE NOT c.archived AND c.merged_into IS NULL AND {at} IS NOT NULL{where}"
    )


def _engagement_touch(kind: str) -> str:
    return (
        "SELECT a.connection, CASE WHEN a.to_type = 'contact' THEN a.to_id END,\n"
        "  CASE WHEN a.to_type = 'deal' THEN a.to_id END,\n"
        f"  e.occurred_at, '{kind}', 'SALES', 'none', e.title\n"
        f"FROM hubspot_{kind}_associations a\n"
        f"JOIN hubspot_{kind}s e ON e.connection = a.connection AND e.id = a.engagement_id\n"
        "WHERE a.to_type IN ('contact', 'deal') AND NOT e.archived AND e.occurred_at IS NOT NULL\n"
        f"  AND {_HELD[kind]}"
    )


def touchpoints_sql(dialect: str, revision: int = 18) -> str:
    """The `touchpoints` view as `revision` makes it: 0016, 0017 with Mailchimp clicks, 0018
    with website visits."""
    later = _LATER["postgresql" if dialect == "postgresql" else "sqlite"]
    first, recent = "c.first_conversion_at", "c.recent_conversion_at"
    first_click, last_click = "c.email_first_click_at", "c.email_last_click_at"
    source = "COALESCE(c.analytics_source, 'unknown')"
    parts = [
        _contact_touch(
            "c.createdate", "contact_created", source, "COALESCE(c.first_touch_campaign, 'none')", "NULL"
        ),
        _contact_touch(
            "c.latest_source_at",
            "latest_session",
            "c.latest_source",
            "COALESCE(c.last_touch_campaign, 'none')",
            "NULL",
            " AND c.latest_source IS NOT NULL"
            " AND (c.createdate IS NULL OR c.latest_source_at > c.createdate)",
        ),
        _contact_touch(
            first,
            "form_submission",
            _AT_SESSION.format(at=first),
            "'none'",
            "c.first_conversion",
            f" AND (c.createdate IS NULL OR {later.format(a=first, b='c.createdate')})",
        ),
        _contact_touch(
            recent,
            "form_submission",
            _AT_SESSION.format(at=recent),
            "'none'",
            "c.recent_conversion",
            f" AND ({first} IS NULL OR {recent} > {first})"
            f" AND (c.createdate IS NULL OR {later.format(a=recent, b='c.createdate')})",
        ),
        _contact_touch(first_click, "email_click", "'EMAIL_MARKETING'", "'none'", "NULL"),
        _contact_touch(
            last_click,
            "email_click",
            "'EMAIL_MARKETING'",
            "'none'",
            "NULL",
            f" AND ({first_click} IS NULL OR {last_click} <> {first_click})",
        ),
        *(_engagement_touch(kind) for kind in _HELD),
        *([_MAILCHIMP_CLICK] if revision >= 17 else []),
        *([_site_visit("postgresql" if dialect == "postgresql" else "sqlite")] if revision >= 18 else []),
        "SELECT d.connection, NULL, d.id, d.createdate, 'deal_created',\n"
        "  COALESCE(d.latest_source, d.analytics_source, 'unknown'), 'none', d.dealname\n"
        "FROM hubspot_deals d\nWHERE NOT d.archived AND d.merged_into IS NULL AND d.createdate IS NOT NULL",
    ]
    return f"CREATE VIEW touchpoints ({_COLUMNS}) AS\n" + "\nUNION ALL\n".join(parts)


def create_touchpoints(conn: Connection, revision: int = 18) -> None:
    conn.execute(text(touchpoints_sql(conn.dialect.name, revision)))


def drop_touchpoints(conn: Connection) -> None:
    conn.execute(text("DROP VIEW IF EXISTS touchpoints"))
