"""Reading the deals, pipeline stages, stage entries and spend as facts for the pure formulas
(few enough to read whole). In the past, a deal's pipeline, stage, money, close date and flags
come from the history."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from sys import intern
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, Table, and_, case, false, func, or_, select

from kpi.inputs import DealFact, DealPast, DealStageEntry, PipelineStage, SpendFact
from kpi.model import UNKNOWN
from kpi.sql import as_of_view, bound, history_applies, instant, raw, streamed
from storage.db import table_of
from storage.models import (
    HubSpotCompany,
    HubSpotCompanyProperty,
    HubSpotDeal,
    HubSpotDealAssociation,
    HubSpotDealProperty,
    HubSpotDealStageDate,
    HubSpotDealVersion,
    HubSpotPipelineStage,
    MarketingSpend,
)

NO_CURRENCY = "XXX"  # ISO 4217 "no currency": nothing tells us the portal's currency


def _relevant_deals(deals: Table, stages: Table, since: datetime | None) -> list[ColumnElement[bool]]:
    if since is None:
        return []
    return [
        or_(
            deals.c.createdate >= bound(since),
            deals.c.closedate >= bound(since),
            deals.c.closedate.is_(None),
            func.coalesce(deals.c.is_closed, stages.c.is_closed, False) == false(),
        )
    ]


def read_pipeline_stages(conn: Connection, *, connection: str) -> list[PipelineStage]:
    t = table_of(HubSpotPipelineStage).c
    query = select(t.pipeline_id, t.stage_id, t.display_order, t.is_closed, t.is_won, t.probability).where(
        t.connection == connection
    )
    return [
        PipelineStage(pipeline, stage, int(order or 0), bool(closed), bool(won), probability)
        for pipeline, stage, order, closed, won, probability in conn.execute(query)
    ]


def read_deal_history(
    conn: Connection, *, connection: str, since: datetime, as_of: datetime
) -> list[DealPast]:
    """The deal versions superseded after `since` that had started by `as_of`: what a deal's
    stage and amount were before their latest change (the forecast's backtest)."""
    v = table_of(HubSpotDealVersion).c
    query = select(
        v.record_id,
        raw(v.valid_from),
        raw(v.valid_to),
        v.dealstage,
        func.coalesce(v.amount_in_home_currency, v.amount),
    ).where(
        v.connection == connection,
        v.valid_to.is_not(None),
        v.valid_to > bound(since),
        v.valid_from <= bound(as_of),
    )
    out = []
    for deal, start, end, stage, amount in conn.execute(query):
        valid_from, valid_to = instant(start), instant(end)
        if valid_from is not None and valid_to is not None:
            out.append(DealPast(str(deal), valid_from, valid_to, stage, amount))
    return out


def read_deal_stage_entries(
    conn: Connection, *, connection: str, as_of: datetime, since: datetime
) -> list[DealStageEntry]:
    """First entry per deal and stage, for deals with any stage entry since `since`.

    No join: the engine keeps the entries of the deals it has facts for (live ones) and takes
    their pipeline from there. Grouped in the table's key order, so SQLite streams it.
    """
    dates = table_of(HubSpotDealStageDate)
    active = (
        select(dates.c.deal_id)
        .where(dates.c.connection == connection, dates.c.entered_at >= bound(since))
        .distinct()
    )
    query = (
        select(dates.c.deal_id, dates.c.stage, func.min(raw(dates.c.entered_at)))
        .where(
            dates.c.connection == connection,
            dates.c.entered_at <= bound(as_of),
            dates.c.deal_id.in_(active),
        )
        .group_by(dates.c.deal_id, dates.c.stage)
    )
    rows = streamed(conn).execute(query)
    return [
        DealStageEntry(intern(deal), intern(stage), when)
        for deal, stage, at in rows
        if (when := instant(at)) is not None
    ]


def read_deals(
    conn: Connection,
    *,
    connection: str,
    as_of: datetime,
    since: datetime | None = None,
    dimensions: Sequence[str] = (),
) -> list[DealFact]:
    """Deals as facts. With `since`, deals closed before it (and created before it) are left out:
    no KPI of the grid or the CLV window can count them. `dimensions`: the configured custom
    dimension properties, from the deal's own values and its company's."""
    company_of = _companies_of_deals(conn, connection)
    names = list(dict.fromkeys(dimensions))
    custom = _custom_dims(conn, connection, company_of, names) if names else {}
    facts = []
    for row in streamed(conn).execute(_deal_query(conn, connection, as_of, since)):
        values = custom.get(row[0], {})
        facts.append(_fact(row, as_of, company_of, tuple((n, values.get(n, UNKNOWN)) for n in names)))
    return facts


def _custom_dims(
    conn: Connection, connection: str, company_of: dict[str, str], names: Sequence[str]
) -> dict[str, dict[str, str]]:
    """Deal id → property → value: the company's values, overridden by the deal's own."""
    deal_values, company_values = table_of(HubSpotDealProperty), table_of(HubSpotCompanyProperty)
    by_company: dict[str, dict[str, str]] = defaultdict(dict)
    query = select(company_values.c.company_id, company_values.c.property, company_values.c.value).where(
        company_values.c.connection == connection, company_values.c.property.in_(list(names))
    )
    for company_id, name, value in conn.execute(query):
        by_company[str(company_id)][str(name)] = str(value)
    out: dict[str, dict[str, str]] = {
        deal: dict(by_company[company]) for deal, company in company_of.items() if company in by_company
    }
    query = select(deal_values.c.deal_id, deal_values.c.property, deal_values.c.value).where(
        deal_values.c.connection == connection, deal_values.c.property.in_(list(names))
    )
    for deal_id, name, value in conn.execute(query):
        out.setdefault(str(deal_id), {})[str(name)] = str(value)
    return out


def _companies_of_deals(conn: Connection, connection: str) -> dict[str, str]:
    """Each deal's company (the smallest id when several). Links to deleted or merged-away
    companies are kept (a restore brings them back), not used."""
    links = table_of(HubSpotDealAssociation)
    companies = table_of(HubSpotCompany)
    query = (
        select(links.c.deal_id, func.min(links.c.to_id))
        .select_from(
            links.outerjoin(
                companies, and_(companies.c.connection == links.c.connection, companies.c.id == links.c.to_id)
            )
        )
        .where(
            links.c.connection == connection,
            links.c.to_type == "company",
            or_(
                companies.c.id.is_(None),
                and_(companies.c.archived == false(), companies.c.merged_into.is_(None)),
            ),
        )
        .group_by(links.c.deal_id)
    )
    return {intern(str(deal_id)): intern(str(company_id)) for deal_id, company_id in conn.execute(query)}


def _deal_query(conn: Connection, connection: str, as_of: datetime, since: datetime | None) -> Any:
    """The live deals with their stage's metadata; in the past, pipeline, stage, money, close date
    and flags as the history has them then."""
    deals = table_of(HubSpotDeal)
    stages = table_of(HubSpotPipelineStage)
    source: FromClause = deals
    live: ColumnElement[bool] = deals.c.archived == false()
    relevant = _relevant_deals(deals, stages, since)
    pick: Callable[[str], ColumnElement[Any]] = deals.c.__getitem__
    if history_applies(conn, "deals", connection=connection, as_of=as_of):
        view = as_of_view(deals, table_of(HubSpotDealVersion), as_of)
        source, live, pick, relevant = view.source, view.live, view.pick, []
    return (
        select(
            deals.c.id,
            pick("pipeline"),
            pick("dealstage"),
            func.coalesce(pick("amount_in_home_currency"), pick("amount")),
            raw(deals.c.createdate),
            raw(pick("closedate")),
            pick("is_closed"),
            pick("is_closed_won"),
            stages.c.probability,
            stages.c.is_closed,
            stages.c.is_won,
            pick("analytics_source"),
            pick("latest_source"),
            pick("owner_id"),
        )
        .select_from(
            source.outerjoin(
                stages,
                and_(
                    stages.c.connection == deals.c.connection,
                    stages.c.pipeline_id == pick("pipeline"),
                    stages.c.stage_id == pick("dealstage"),
                ),
            )
        )
        .where(
            deals.c.connection == connection,
            live,
            deals.c.merged_into.is_(None),
            *relevant,
            or_(deals.c.createdate.is_(None), deals.c.createdate <= bound(as_of)),
        )
        # In one order whatever the plan: the families sum money over deals in this order, so
        # the last bits of a float sum do not depend on the database or a streamed cursor.
        .order_by(deals.c.id)
    )


def _fact(
    row: Any,
    as_of: datetime,
    company_of: dict[str, str],
    dims: tuple[tuple[str, str], ...] = (),
) -> DealFact:
    r = (*row[:4], instant(row[4]), instant(row[5]), *row[6:])
    # HubSpot's own flags first; the stage's metadata when a flag is missing (docs/kpis.md).
    is_closed = bool(r[6]) if r[6] is not None else bool(r[9])
    is_won = bool(r[7]) if r[7] is not None else bool(r[10])
    closed = r[5] if is_closed and r[5] is not None and r[5] <= as_of else None
    if is_closed and closed is None and r[5] is not None:
        is_closed = is_won = False  # closed after as_of: it was still open then
    return DealFact(
        id=intern(r[0]),
        pipeline=intern(r[1] or UNKNOWN),
        stage=intern(r[2] or UNKNOWN),
        amount=r[3],
        created=r[4],
        closed=closed,
        is_closed=is_closed,
        is_won=is_won and is_closed,
        probability=r[8],
        source=intern(r[11] or UNKNOWN),
        latest_source=intern(r[12] or r[11] or UNKNOWN),
        owner=intern(r[13] or UNKNOWN),
        company=company_of.get(r[0]),
        dims=dims,
    )


def infer_currency(conn: Connection, *, connection: str) -> str:
    """The portal's home currency: the deal currency whose amounts need no conversion, else the commonest."""
    deals = table_of(HubSpotDeal)
    unconverted = func.sum(
        case((func.abs(deals.c.amount - deals.c.amount_in_home_currency) < 0.005, 1), else_=0)
    )
    rows = conn.execute(
        select(deals.c.currency, unconverted, func.count())
        .where(deals.c.connection == connection, deals.c.currency.is_not(None))
        .group_by(deals.c.currency)
    ).all()
    if not rows:
        return NO_CURRENCY
    best = max(rows, key=lambda r: (r[1] or 0, r[2], r[0]))
    return str(best[0]).upper()


def read_spend(conn: Connection, *, connection: str) -> list[SpendFact]:
    spend = table_of(MarketingSpend)
    rows = conn.execute(
        select(spend.c.period_start, spend.c.period_end, spend.c.channel, spend.c.amount, spend.c.currency)
        .where(spend.c.connection == connection)
        .order_by(spend.c.period_start, spend.c.channel)
    )
    return [SpendFact(r[0], r[1], r[2], r[3], r[4]) for r in rows]
