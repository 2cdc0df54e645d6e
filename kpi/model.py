"""The shape of a KPI value, and the helpers every KPI uses to build one.

A KPI value is one row of a long table. Rates carry their raw numerator and denominator so callers
can re-aggregate; a zero (or unknown) denominator gives `value=None` plus a reason, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict, Unpack

from kpi.periods import Period

# Reason codes (documented in docs/kpis.md).
NO_BASE = "no_base"  # zero denominator: nothing to divide by
NO_DATA = "no_data"  # an input of the formula is missing (e.g. no won deal with an amount)
NO_SPEND = "no_spend"  # spend-based KPI without spend for the period
NON_POSITIVE_CYCLE = "non_positive_cycle"  # velocity with a mean cycle of 0 days or less

# KPI name → family (one export file per family).
FAMILIES: dict[str, str] = {}


def _family(name: str, *kpis: str) -> None:
    for kpi in kpis:
        FAMILIES[kpi] = name


_family(
    "funnel",
    "stage_count",
    "stage_entries",
    "stage_conversion",
    "stage_conversion_open",
    "stage_volume_ratio",
    "stage_dates_missing",
    "leads_per_customer",
)
_family(
    "sources",
    "contacts_created",
    "contact_to_customer_rate",
    "priority_persona_share",
    "reported_vs_tracked_contacts",
)
_family(
    "web",
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
)
_family(
    "pipeline",
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
)
_family(
    "email",
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
)
_family(
    "audience",
    "list_new_subscribers",
    "list_unsubscribes",
    "list_cleaned",
    "list_net_growth",
    "contacts_in_audience",
    "mql_share_subscribed",
    "mql_share_not_subscribed",
    "mql_share_engaged",
    "mql_share_not_engaged",
)
_family(
    "deal_stages",
    "deal_stage_conversion",
    "deal_stage_days_mean",
    "deal_stage_days_median",
    "deal_stage_days_p90",
)
_family(
    "cycle",
    "days_to_close_mean",
    "days_to_close_median",
    "days_to_close_p90",
    "deals_closed_before_created",
    "time_to_customer_mean",
    "time_to_customer_median",
    "time_to_customer_p90",
)
_family(
    "spend",
    "spend",
    "cac",
    "cost_per_lead",
    "cost_per_mql",
    "roi",
    "roas",
    "pipe_to_spend",
    "spend_excluded",
)
_family(
    "campaigns",
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
)
_family("attribution", "attributed_revenue", "attributed_deals_created", "attributed_pipeline_created")
_family(
    "forecast",
    "forecast_won_revenue",
    "forecast_new_customers",
    "forecast_error_won_revenue",
    "forecast_error_new_customers",
    "forecast_bias_won_revenue",
    "forecast_bias_new_customers",
    "forecast_backtest_won_revenue",
    "forecast_backtest_new_customers",
    "forecast_deals_left_out",
)
_family(
    "clv",
    "clv_average_order_value",
    "clv_orders_per_year",
    "clv_years_retained",
    "clv",
    "clv_gross_margin",
    "clv_roi",
)


@dataclass(frozen=True)
class Dim:
    """A breakdown: `all`, or one value of `source`, `latest_source`, `pipeline`, `owner`."""

    name: str = "all"
    value: str = "all"


ALL = Dim()
UNKNOWN = "unknown"  # dimension value for records without one (e.g. no source)


class Where(TypedDict, total=False):
    """Which period, breakdown and stage a value is about (keyword arguments of KpiValue)."""

    period: Period | None
    dim: Dim
    stage: str


@dataclass(frozen=True)
class KpiValue:
    """One KPI value: the row written to the history table and the exports."""

    kpi: str
    value: float | None
    unit: str
    period: Period | None = None  # None: a snapshot as of `as_of` (e.g. open pipeline)
    dim: Dim = ALL
    stage: str = ""  # the funnel stage ("lead") or step ("lead>customer") the value is about
    numerator: float | None = None
    denominator: float | None = None
    reason: str | None = None
    # How the value was counted where a KPI can be counted several ways (email opens:
    # `bot_filtered`, `proxy_excluded`, `raw`; several joined by "+"); "" otherwise.
    basis: str = ""

    @property
    def family(self) -> str:
        return FAMILIES[self.kpi]

    def key(self) -> tuple[str, str, str, str, str]:
        start = self.period.start.isoformat() if self.period else ""
        return (self.kpi, self.stage, start, self.dim.name, self.dim.value)

    def record(self, *, as_of: datetime) -> dict[str, Any]:
        """The value's columns with native types (the KPI history row, less its bookkeeping)."""
        return {
            "kpi": self.kpi,
            "family": self.family,
            "stage": self.stage,
            "period_start": self.period.start if self.period else None,
            "period_end": self.period.end if self.period else as_of,
            "period_label": self.period.label if self.period else "",
            "dimension": self.dim.name,
            "dimension_value": self.dim.value,
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "unit": self.unit,
            "reason": self.reason,
            "basis": self.basis,
        }


# The unit vocabulary (docs/exports.md, "Units"): `share` is a part of a whole, always in [0, 1];
# `rate` relates two different populations (contacts per visit): usually below 1, never promised;
# `multiple` is a ratio read as "× times" (ROI, ROAS); `count`, `days`, `years`; `money:<ISO>`
# and `money_per_day:<ISO>` (the portal's home currency). Every KPI has one, declared here.
UNITS = ("share", "rate", "multiple", "count", "days", "years", "money", "money_per_day")
KPI_UNITS: dict[str, str] = {}


def _units(unit: str, *kpis: str) -> None:
    for kpi in kpis:
        KPI_UNITS[kpi] = unit


_units(
    "share",
    "stage_conversion",
    "contact_to_customer_rate",
    "priority_persona_share",
    "win_rate",
    "deal_stage_conversion",
    "email_delivery_rate",
    "email_bounce_rate",
    "email_open_rate",
    "email_click_rate",
    "email_click_to_open_rate",
    "email_unsubscribe_rate",
    "email_spam_rate",
    "mql_share_subscribed",
    "mql_share_not_subscribed",
    "mql_share_engaged",
    "mql_share_not_engaged",
    "traffic_share",
    "organic_traffic_share",
)
_units(
    "rate",
    "visit_to_contact_rate",
    "visitor_to_lead_rate",
    "web_contact_to_customer_rate",
    "entry_page_conversion_rate",
    "landing_page_conversion_rate",
    "forecast_error_won_revenue",
    "forecast_error_new_customers",
    "forecast_bias_won_revenue",
    "forecast_bias_new_customers",
    "campaign_budget_used",
)
_units(
    "multiple",
    "roi",
    "roas",
    "pipe_to_spend",
    "clv_roi",
    "stage_volume_ratio",
    "campaign_roas",
    "campaign_roi",
)
_units("days", *(k for k in FAMILIES if "days" in k or k.startswith("time_to_customer")))
_units("years", "clv_years_retained")
_units("money_per_day", "pipeline_velocity")
_units(
    "money",
    "attributed_revenue",
    "attributed_pipeline_created",
    "forecast_won_revenue",
    "forecast_backtest_won_revenue",
    "pipeline_created",
    "open_pipeline",
    "weighted_pipeline",
    "closed_won_revenue",
    "average_won_deal_size",
    "spend",
    "cac",
    "cost_per_lead",
    "cost_per_mql",
    "clv_average_order_value",
    "clv",
    "clv_gross_margin",
    "campaign_spend",
    "campaign_won_revenue",
    "campaign_cost_per_contact",
    "campaign_cac",
    "campaign_budget",
    "campaign_spend_total",
    "campaign_cost_per_new_contact",
)
_units("count", *(k for k in FAMILIES if k not in KPI_UNITS))
RATIO_UNITS = {k: u for k, u in KPI_UNITS.items() if u in ("share", "rate", "multiple")}


def ratio_unit(kpi: str) -> str:
    return RATIO_UNITS[kpi]


def ratio(
    kpi: str,
    numerator: float,
    denominator: float,
    *,
    unit: str | None = None,
    reason_if_empty: str = NO_BASE,
    **where: Any,
) -> KpiValue:
    """numerator / denominator with both kept; a zero denominator gives None and a reason. The
    unit: the KPI's share/rate/multiple (RATIO_UNITS) unless given."""
    unit = unit or ratio_unit(kpi)
    if denominator == 0:
        return KpiValue(
            kpi, None, unit, numerator=numerator, denominator=denominator, reason=reason_if_empty, **where
        )
    return KpiValue(kpi, numerator / denominator, unit, numerator=numerator, denominator=denominator, **where)


def count(kpi: str, n: float, **where: Unpack[Where]) -> KpiValue:
    return KpiValue(kpi, float(n), "count", **where)


def money(
    kpi: str, amount: float | None, currency: str, *, reason: str | None = None, **where: Any
) -> KpiValue:
    return KpiValue(kpi, amount, f"money:{currency}", reason=reason if amount is None else None, **where)


@dataclass
class KpiResult:
    """Everything one computation produced."""

    as_of: datetime
    values: list[KpiValue] = field(default_factory=list)
    currency: str = "XXX"

    def extend(self, values: list[KpiValue]) -> None:
        self.values.extend(values)

    def find(
        self, kpi: str, *, stage: str = "", dim: Dim = ALL, period: Period | None = None
    ) -> KpiValue | None:
        """The value for one key (tests and the demo summary use this)."""
        for v in self.values:
            if v.kpi == kpi and v.stage == stage and v.dim == dim and (period is None or v.period == period):
                return v
        return None
