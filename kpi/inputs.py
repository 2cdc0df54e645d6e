"""What the KPI formulas read: compact facts and pre-aggregated cells, never database rows.

`kpi.reader` builds these from storage (aggregating contacts in SQL, where millions of rows
live); tests build them by hand. Everything here is plain data.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

from kpi.periods import Period


@dataclass(frozen=True)
class StageCell:
    """Contacts currently at `stage`, by original and latest source."""

    stage: str
    source: str
    latest_source: str
    n: int


@dataclass(frozen=True, slots=True)
class DimStageCell:
    """Contacts currently at `stage` with `value` of the custom dimension `dimension`."""

    stage: str
    dimension: str
    value: str
    n: int


@dataclass(frozen=True, slots=True)
class PeriodCell:
    """`n` contacts (and `hits` of them meeting a condition) in grid period `period`, by source."""

    period: int
    source: str
    latest_source: str
    n: int
    hits: int = 0


@dataclass(frozen=True, slots=True)
class DimCell:
    """`n` contacts (and `hits` of them) in grid period `period` with `value` of the custom
    dimension `dimension` (kpi.dimensions)."""

    period: int
    dimension: str
    value: str
    n: int
    hits: int = 0


@dataclass(frozen=True, slots=True)
class ReportedCell:
    """`n` contacts created in grid period `period` who answered `answer` to the self-reported
    source question and whose tracked original source is `source`."""

    period: int
    answer: str
    source: str
    n: int


@dataclass(frozen=True, slots=True)
class CustomerFact:
    """A contact that became a customer: when it was created and when it first became one."""

    created: datetime | None
    became: datetime
    source: str
    latest_source: str
    # (property, value) of each custom contact dimension (kpi.dimensions).
    dims: tuple[tuple[str, str], ...] = ()


@dataclass
class ContactAggregates:
    stage_counts: list[StageCell] = field(default_factory=list)
    # stage -> contacts whose first entry into it falls in each period
    entries: dict[str, list[PeriodCell]] = field(default_factory=dict)
    # (from stage, to stage) -> base (n) and converted (hits) per period of the first entry into X
    conversions: dict[tuple[str, str], list[PeriodCell]] = field(default_factory=dict)
    # contacts created per period; hits = reached the last funnel stage by as_of
    created: list[PeriodCell] = field(default_factory=list)
    # stage -> contacts whose current stage is at or after it but have no entry date for it
    missing_dates: dict[str, int] = field(default_factory=dict)
    customers: list[CustomerFact] = field(default_factory=list)
    # The same cells by each custom contact dimension (kpi.dimensions): entries per stage,
    # conversions per step, contacts created.
    custom_entries: dict[str, list[DimCell]] = field(default_factory=dict)
    custom_conversions: dict[tuple[str, str], list[DimCell]] = field(default_factory=dict)
    custom_created: list[DimCell] = field(default_factory=list)
    custom_stage_counts: list[DimStageCell] = field(default_factory=list)
    # Self-reported answer × tracked original source (kpi.self_reported_source).
    reported: list[ReportedCell] = field(default_factory=list)
    # The forecast's view of the open funnel (kpi/forecast.py), in local day numbers (`day_number`):
    # (open stage, day entered, day it moved on to a later stage, day it became a customer) →
    # contacts; and (day first at an open stage or None, day of the first customer entry) →
    # contacts.
    paths: Counter[tuple[str, int, int | None, int | None]] = field(default_factory=Counter)
    customer_days: Counter[tuple[int | None, int]] = field(default_factory=Counter)

    def add(self, other: ContactAggregates) -> None:
        """Fold in the aggregates of another set of contacts (every part is additive)."""
        self.stage_counts.extend(other.stage_counts)
        for stage, cells in other.entries.items():
            self.entries.setdefault(stage, []).extend(cells)
        for step, cells in other.conversions.items():
            self.conversions.setdefault(step, []).extend(cells)
        self.created.extend(other.created)
        for stage, n in other.missing_dates.items():
            self.missing_dates[stage] = self.missing_dates.get(stage, 0) + n
        self.customers.extend(other.customers)
        for stage, dim_cells in other.custom_entries.items():
            self.custom_entries.setdefault(stage, []).extend(dim_cells)
        for step, dim_cells in other.custom_conversions.items():
            self.custom_conversions.setdefault(step, []).extend(dim_cells)
        self.custom_created.extend(other.custom_created)
        self.reported.extend(other.reported)
        self.custom_stage_counts.extend(other.custom_stage_counts)
        self.paths.update(other.paths)
        self.customer_days.update(other.customer_days)


@dataclass(frozen=True, slots=True)
class DealFact:
    """One deal as the KPIs see it; `amount` is in the home currency, None when unknown."""

    id: str
    pipeline: str
    stage: str
    amount: float | None
    created: datetime | None
    closed: datetime | None
    is_closed: bool
    is_won: bool
    probability: float | None
    source: str
    latest_source: str
    owner: str
    company: str | None = None
    # Custom dimensions (kpi.dimensions): (property, value) of the deal's own properties and of
    # its company's.
    dims: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class TouchContact:
    """What the attribution models know of a contact associated with a deal: its creation and
    original source, its latest session and source, when it became a lead (kpi/attribution.py)."""

    id: str
    created: datetime | None
    source: str
    latest_source: str | None
    latest_at: datetime | None
    lead_at: datetime | None
    # The marketing campaigns of the first and the latest converting touch, if any.
    first_campaign: str | None = None
    last_campaign: str | None = None
    # The first and the latest conversion (form submission), and the first and the latest
    # marketing email click.
    first_conversion_at: datetime | None = None
    recent_conversion_at: datetime | None = None
    email_first_click_at: datetime | None = None
    email_last_click_at: datetime | None = None
    # The first click of each Mailchimp campaign the contact clicked (by address), oldest first.
    mailchimp_clicks: tuple[datetime, ...] = ()
    # Its page views (the event analytics API) with the source HubSpot gave each, oldest first:
    # visits are derived from them.
    page_views: tuple[tuple[datetime, str | None], ...] = ()


class SalesTouch(NamedTuple):
    """A meeting or call held with a deal or one of its contacts (kpi/attribution.py)."""

    id: str
    at: datetime
    kind: str  # meeting | call


@dataclass(frozen=True)
class PipelineStage:
    """A deal stage in its pipeline's display order."""

    pipeline: str
    stage: str
    order: int
    is_closed: bool
    is_won: bool
    probability: float | None = None


class DealPast(NamedTuple):
    """A superseded version of a deal (storage.history): its stage and amount (home currency)
    over [valid_from, valid_to). The forecast's backtest sees deals as they were."""

    deal_id: str
    valid_from: datetime
    valid_to: datetime
    stage: str | None
    amount: float | None


class DealStageEntry(NamedTuple):
    """A deal's first entry into one stage (earliest over properties, history, observations).

    A named tuple: a large portal reads hundreds of thousands of them."""

    deal_id: str
    stage: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EmailFact:
    """One email send with its counters, from any email platform (HubSpot marketing emails,
    Mailchimp campaign reports): the email KPIs are one implementation for all of them.

    `delivered` may be None (derived as sent − bounces); `open_basis` says what the opens count:
    `bot_filtered` (HubSpot), `proxy_excluded` or `raw` (Mailchimp), `unknown`.
    """

    platform: str
    email_id: str
    sent_at: datetime
    email_type: str
    sent: int
    delivered: int | None
    unique_opens: int
    unique_clicks: int
    bounces: int
    unsubscribes: int
    spam_reports: int
    open_basis: str = "unknown"


class MemberCell(NamedTuple):
    """Audience members counted by audience, status and the grid periods they joined and left in
    (None: not in the grid, not yet, or not at all); read grouped, as an audience has 100,000s."""

    audience: str
    status: str
    joined: int | None
    left: int | None
    members: int


@dataclass(frozen=True)
class AudienceLink:
    """Live CRM contacts split by whether their email is a subscribed audience member, and by
    whether it is an email-engaged one (Mailchimp shows opens or clicks for it), with how many of
    each group are at the MQL stage or further along the funnel now."""

    subscribed: int = 0
    subscribed_mql: int = 0
    not_subscribed: int = 0
    not_subscribed_mql: int = 0
    engaged: int = 0
    engaged_mql: int = 0


@dataclass(frozen=True)
class SpendFact:
    """Spend over [start, end] (dates inclusive, reporting calendar) for a channel or `all`."""

    start: date
    end: date
    channel: str
    amount: float
    currency: str
    # The HubSpot marketing campaign the spend is an item of (None: imported or configured).
    campaign: str | None = None


@dataclass(frozen=True)
class CampaignFact:
    """A HubSpot marketing campaign: its dates, totals, HubSpot's lifetime metrics (None when
    they could not be read) and its spend items (amount, the day the item was entered)."""

    id: str
    name: str | None
    start: date | None
    end: date | None
    currency: str | None
    budget_total: float | None = None
    spend_total: float | None = None
    sessions: int | None = None
    new_contacts_first_touch: int | None = None
    new_contacts_last_touch: int | None = None
    influenced_contacts: int | None = None
    spend_items: tuple[tuple[float, date | None], ...] = ()


@dataclass(frozen=True, slots=True)
class CampaignCell:
    """`n` contacts whose first converting touch was `campaign` that were created (`event`
    `created`) or first became customers (`customer`) in grid period `period`."""

    period: int
    campaign: str
    event: str
    n: int


@dataclass(frozen=True, slots=True)
class TrafficRow:
    """One day of one web-analytics breakdown (HubSpot's Reporting API v2). `report` is `totals`,
    `sources`, `sources:<SOURCE>` (a source's drill-down: social networks, search engines),
    `utm-campaigns` or a content type (`landing-pages`, `standard-pages`, `blog-posts`); `day` is a
    date of the portal's calendar. Counters HubSpot did not send are 0."""

    report: str
    day: date
    breakdown: str
    visits: int = 0
    visitors: int = 0
    contacts: int = 0
    leads: int = 0
    customers: int = 0
    raw_views: int = 0
    submissions: int = 0
    entrances: int = 0
    meta: str | None = None


@dataclass(frozen=True, slots=True)
class PersonaCell:
    """Contacts created in grid period `period` with persona `persona` (`unknown`: none)."""

    period: int
    persona: str
    n: int


@dataclass
class KpiInputs:
    as_of: datetime
    tz: ZoneInfo
    periods: list[Period]
    stages: list[str]
    currency: str
    contacts: ContactAggregates
    deals: list[DealFact]
    spend: list[SpendFact] = field(default_factory=list)
    pipeline_stages: list[PipelineStage] = field(default_factory=list)
    deal_stage_entries: list[DealStageEntry] = field(default_factory=list)
    emails: list[EmailFact] = field(default_factory=list)
    members: list[MemberCell] = field(default_factory=list)
    audience_link: AudienceLink | None = None
    velocity_opportunities: str = "created"
    clv_average_order_value: float | None = None
    clv_orders_per_year: float | None = None
    clv_years_retained: float = 3.0
    gross_margin: float | None = None
    traffic: list[TrafficRow] = field(default_factory=list)
    persona_created: list[PersonaCell] = field(default_factory=list)
    # Persona values the portal defines (`hs_persona` options, in display order).
    personas: list[str] = field(default_factory=list)
    priority_personas: list[str] = field(default_factory=list)
    landing_page_min_views: int = 50
    # Attribution (kpi/attribution.py): the touch data of the contacts associated with deals,
    # each deal's contacts, the look-back and the time-decay half-life.
    touch_contacts: dict[str, TouchContact] = field(default_factory=dict)
    deal_contacts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Each deal's meetings and calls (its own and its contacts'), oldest first.
    deal_engagements: dict[str, tuple[SalesTouch, ...]] = field(default_factory=dict)
    attribution_lookback_days: int = 365
    attribution_half_life_days: float = 7.0
    # The contact property of the self-reported source (kpi.self_reported_source), if any.
    self_reported_source: str | None = None
    # Forecast (kpi/forecast.py): superseded deal versions since the history window, the number
    # of periods ahead and of past periods backtested, the history each cut-off learns from, and
    # the reporting zone's UTC offset (seconds) that local day numbers use.
    deal_history: list[DealPast] = field(default_factory=list)
    forecast_periods: int = 3
    forecast_backtest_periods: int = 6
    forecast_history_days: int = 365
    forecast_method: str = "history"
    forecast_recency_days: float = 0.0
    # HubSpot marketing campaigns (kpi/campaigns.py), their contacts per period, and the model
    # that credits them with won revenue.
    campaigns: list[CampaignFact] = field(default_factory=list)
    campaign_cells: list[CampaignCell] = field(default_factory=list)
    campaign_attribution_model: str = "first_touch"
    day_offset: int = 0
