"""The one entry to every KPI read: `read_inputs` gathers what `kpi.engine.compute` needs, each
data family read by its own module (read_contacts, read_deals, read_email, read_web) with the SQL
pieces they share in kpi/sql.py.

Snapshots (contacts per current stage, open pipeline) need the values records had at `as_of`:
when a sync of the stream ended after `as_of`, they come from the type-2 history
(storage.history): the version valid at `as_of`, else (no version reaches back that far) the
current values. Entries dated after `as_of` are ignored, so an earlier as_of sees less.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine

from config import KpiSettings
from kpi.campaigns import campaign_spend_facts
from kpi.definitions import CLV_WINDOW, mql_stage
from kpi.forecast import history_since, local_day_offset, plan_for
from kpi.inputs import (
    AudienceLink,
    CampaignCell,
    CampaignFact,
    ContactAggregates,
    DealFact,
    DealPast,
    DealStageEntry,
    DimStageCell,
    EmailFact,
    KpiInputs,
    MemberCell,
    PersonaCell,
    PipelineStage,
    SalesTouch,
    SpendFact,
    StageCell,
    TouchContact,
    TrafficRow,
)
from kpi.periods import Period
from kpi.read_attribution import read_sales_touches, read_touch_contacts
from kpi.read_campaigns import read_campaign_cells, read_campaigns
from kpi.read_contacts import middle_contact_id, read_contacts, read_stage_counts
from kpi.read_deals import (
    infer_currency,
    read_deal_history,
    read_deal_stage_entries,
    read_deals,
    read_pipeline_stages,
    read_spend,
)
from kpi.read_email import (
    read_audience_link,
    read_email_sends,
    read_mailchimp_sends,
    read_member_moves,
)
from kpi.read_labels import dimension_objects
from kpi.read_web import read_persona_created, read_personas, read_traffic
from kpi.sql import on_connection


def relevant_since(periods: Sequence[Period], as_of: datetime) -> datetime:
    """The earliest instant any KPI can look at: the grid's start or the CLV window's."""
    start = as_of - CLV_WINDOW
    return min(start, periods[0].start_utc) if periods else start


@dataclass(frozen=True)
class _Money:
    deals: list[DealFact]
    currency: str
    spend: list[SpendFact]
    pipeline_stages: list[PipelineStage]
    deal_stage_entries: list[DealStageEntry]
    deal_history: list[DealPast]
    campaigns: list[CampaignFact]
    campaign_cells: list[CampaignCell]


@dataclass(frozen=True)
class _Touches:
    touch_contacts: dict[str, TouchContact]
    deal_contacts: dict[str, tuple[str, ...]]
    deal_engagements: dict[str, tuple[SalesTouch, ...]]


@dataclass(frozen=True)
class _Email:
    emails: list[EmailFact]
    members: list[MemberCell]
    audience_link: AudienceLink | None


@dataclass(frozen=True)
class _Web:
    traffic: list[TrafficRow]
    persona_created: list[PersonaCell]
    personas: list[str]


@dataclass(frozen=True)
class _Reads:
    """The reads of one computation; each runs on a connection of its own."""

    connection: str
    settings: KpiSettings
    periods: list[Period]
    as_of: datetime
    tz: ZoneInfo
    # Object type → its custom dimensions (kpi.dimensions that its property catalogue defines).
    dims: dict[str, list[str]] = field(default_factory=dict)

    @property
    def since(self) -> datetime:
        return relevant_since(self.periods, self.as_of)

    @property
    def forecast_since(self) -> datetime | None:
        """How far back the forecast and its backtest look (None: no forecast)."""
        s = self.settings
        p = plan_for(
            self.periods, self.tz, self.as_of, ahead=s.forecast_periods, backtest=s.forecast_backtest_periods
        )
        return None if p is None else history_since(p, self.as_of, s.forecast_history_days)

    @property
    def deals_since(self) -> datetime:
        forecast = self.forecast_since
        return self.since if forecast is None else min(self.since, forecast)

    @property
    def day_offset(self) -> int:
        return local_day_offset(self.tz, self.as_of)

    def funnel(self, conn: Connection, ids: tuple[str | None, str | None]) -> ContactAggregates:
        return read_contacts(
            conn,
            connection=self.connection,
            stages=list(self.settings.funnel_stages),
            periods=self.periods,
            as_of=self.as_of,
            strict=self.settings.conversion_mode == "strict",
            since=self.since,
            ids=ids,
            dims=self.dims.get("contacts", []),
            reported=self.settings.self_reported_source,
            forecast_since=self.forecast_since,
            day_offset=self.day_offset,
        )

    def counts(self, conn: Connection) -> tuple[list[StageCell], list[DimStageCell]]:
        return read_stage_counts(
            conn, connection=self.connection, as_of=self.as_of, dims=self.dims.get("contacts", [])
        )

    @property
    def touches_since(self) -> datetime:
        """The earliest touch any relevant event's look-back reaches."""
        return self.since - timedelta(days=self.settings.attribution_lookback_days)

    def money(self, conn: Connection) -> _Money:
        """Deals (from further back than the grid: the forecast learns from them), their stages
        and history, spend and campaigns."""
        c, stages = self.connection, list(self.settings.funnel_stages)
        deals_since, forecast_since = self.deals_since, self.forecast_since
        return _Money(
            deals=read_deals(
                conn,
                connection=c,
                as_of=self.as_of,
                since=deals_since,
                dimensions=[*self.dims.get("deals", []), *self.dims.get("companies", [])],
            ),
            currency=self.settings.home_currency or infer_currency(conn, connection=c),
            spend=read_spend(conn, connection=c),
            pipeline_stages=read_pipeline_stages(conn, connection=c),
            deal_stage_entries=read_deal_stage_entries(
                conn, connection=c, as_of=self.as_of, since=deals_since
            ),
            deal_history=[]
            if forecast_since is None
            else read_deal_history(conn, connection=c, since=forecast_since, as_of=self.as_of),
            campaigns=read_campaigns(conn, connection=c),
            campaign_cells=read_campaign_cells(
                conn, connection=c, periods=self.periods, customer_stage=stages[-1]
            ),
        )

    def touches(self, conn: Connection) -> _Touches:
        """What the attribution models credit: the relevant deals' contacts and their touches,
        and the deals' meetings and calls."""
        c, stages = self.connection, list(self.settings.funnel_stages)
        touch_contacts, deal_contacts = read_touch_contacts(
            conn, connection=c, lead_stage=stages[0], since=self.since, touches_since=self.touches_since
        )
        engagements = (
            read_sales_touches(conn, connection=c, since=self.touches_since, deal_contacts=deal_contacts)
            if self.settings.attribution_sales_touches
            else {}
        )
        return _Touches(touch_contacts, deal_contacts, engagements)

    def email(self, conn: Connection) -> _Email:
        """Email sends of every platform, list growth and the audience's link to the funnel."""
        c, since, stages = self.connection, self.since, list(self.settings.funnel_stages)
        emails = read_email_sends(conn, connection=c, since=since)
        emails += read_mailchimp_sends(
            conn, connection=c, since=since, open_basis=self.settings.email_open_basis
        )
        return _Email(
            emails=emails,
            members=read_member_moves(conn, connection=c, periods=self.periods, as_of=self.as_of),
            audience_link=read_audience_link(conn, connection=c, stages=stages, mql=mql_stage(stages)),
        )

    def web(self, conn: Connection) -> _Web:
        first = self.periods[0].start.date() if self.periods else self.as_of.date()
        until = self.as_of.astimezone(self.tz).date()
        c = self.connection
        return _Web(
            read_traffic(conn, connection=c, since=first, until=until),
            read_persona_created(conn, connection=c, periods=self.periods, as_of=self.as_of),
            read_personas(conn, connection=c),
        )


def read_inputs(
    engine: Engine,
    *,
    connection: str,
    settings: KpiSettings,
    periods: list[Period],
    as_of: datetime,
    tz: ZoneInfo,
    split_above: int = 10_000,
) -> KpiInputs:
    """Everything `kpi.engine.compute` needs.

    Independent reads run side by side on their own connections (SQLite and PostgreSQL do the
    work outside Python's GIL): the contact funnel in two halves of the contact ids (its cells add
    up), the attribution touches, deals with spend, email, web analytics and the current stage
    counts. Each sees a consistent snapshot of its own; KPIs run after a sync, not during one.
    """
    dims = (
        on_connection(
            engine,
            lambda conn: dimension_objects(
                conn, connection=connection, candidates=settings.dimension_candidates
            ),
        )
        if settings.dimensions
        else {}
    )
    reads = _Reads(connection, settings, periods, as_of, tz, dims)
    middle = on_connection(
        engine, lambda conn: middle_contact_id(conn, connection=connection, split_above=split_above)
    )
    halves = [(None, middle), (middle, None)] if middle is not None else [(None, None)]
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="kpi-read") as pool:
        # The longest first: the attribution touches build the most Python objects.
        touches_job = pool.submit(on_connection, engine, reads.touches)
        funnel_jobs = [
            pool.submit(on_connection, engine, lambda conn, half=half: reads.funnel(conn, half))
            for half in halves
        ]
        money_job = pool.submit(on_connection, engine, reads.money)
        email_job = pool.submit(on_connection, engine, reads.email)
        web_job = pool.submit(on_connection, engine, reads.web)
        counts_job = pool.submit(on_connection, engine, reads.counts)
        contacts = ContactAggregates()
        for job in funnel_jobs:
            contacts.add(job.result())
        contacts.stage_counts, contacts.custom_stage_counts = counts_job.result()
    return _inputs(
        reads, contacts, money_job.result(), touches_job.result(), email_job.result(), web_job.result()
    )


def _inputs(
    reads: _Reads, contacts: ContactAggregates, money: _Money, touches: _Touches, email: _Email, web: _Web
) -> KpiInputs:
    settings = reads.settings
    configured = [
        SpendFact(s.period_start, s.period_end, s.channel, s.amount, s.currency) for s in settings.spend
    ]
    if settings.campaign_spend:
        configured += campaign_spend_facts(money.campaigns, reads.as_of.astimezone(reads.tz).date())
    return KpiInputs(
        as_of=reads.as_of,
        tz=reads.tz,
        periods=reads.periods,
        stages=list(settings.funnel_stages),
        currency=money.currency,
        contacts=contacts,
        deals=money.deals,
        spend=money.spend + configured,
        pipeline_stages=money.pipeline_stages,
        deal_stage_entries=money.deal_stage_entries,
        emails=email.emails,
        members=email.members,
        audience_link=email.audience_link,
        velocity_opportunities=settings.velocity_opportunities,
        clv_average_order_value=settings.clv_average_order_value,
        clv_orders_per_year=settings.clv_orders_per_year,
        clv_years_retained=settings.clv_years_retained,
        gross_margin=settings.gross_margin,
        traffic=web.traffic,
        persona_created=web.persona_created,
        personas=web.personas,
        priority_personas=list(settings.priority_personas),
        landing_page_min_views=settings.landing_page_min_views,
        touch_contacts=touches.touch_contacts,
        deal_contacts=touches.deal_contacts,
        deal_engagements=touches.deal_engagements,
        attribution_lookback_days=settings.attribution_lookback_days,
        attribution_half_life_days=settings.attribution_half_life_days,
        self_reported_source=settings.self_reported_source,
        deal_history=money.deal_history,
        forecast_periods=settings.forecast_periods,
        forecast_backtest_periods=settings.forecast_backtest_periods,
        forecast_history_days=settings.forecast_history_days,
        forecast_method=settings.forecast_method,
        forecast_recency_days=settings.forecast_recency_days,
        day_offset=reads.day_offset,
        campaigns=money.campaigns,
        campaign_cells=money.campaign_cells,
        campaign_attribution_model=settings.campaign_attribution_model,
    )
