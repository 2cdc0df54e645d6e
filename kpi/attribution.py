"""Attribution: which channels get the credit for a won deal's revenue and for a deal's creation,
under the models the seed articles name (single touch and multi-touch), over the touchpoints the
CRM API exposes for a deal and its contacts (docs/kpis.md, "Attribution").

Touchpoints: each associated contact's creation (its original source, `hs_analytics_source`), its
latest session (`hs_latest_source` at `hs_latest_source_timestamp`), its first and latest form
submission and marketing email click (contact properties), its first click in each Mailchimp
campaign (per-member email activity, joined by address), its website visits between those
(page views from the event analytics API, Enterprise portals), the deal's creation (the
deal's latest source, else its original source), and the meetings and calls held with the deal or
its contacts (channel `SALES`). Only touches at or before the event and within the look-back
count. Milestones: the first touch, the lead-creation touch (the marketing touch in effect when
the first associated contact became a lead) and the deal-creation touch.

Each model gives weights that sum to 1; a deal's credits sum to its amount (the last credit takes
the rounding, so Σ credits equals the amount to the last few ulps). A deal without any touch in
the look-back credits `unattributed`, so every model's total equals the revenue it attributes.
Pure: the reads are in kpi/read_attribution.py.
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from kpi.grid import dim
from kpi.inputs import DealFact, KpiInputs, SalesTouch, TouchContact
from kpi.model import ALL, KpiValue, count, money
from kpi.periods import Bucketer

MODELS = ("first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay", "full_path")
UNATTRIBUTED = "unattributed"
# The `campaign` value of a touch no marketing campaign is tied to.
NO_CAMPAIGN = "none"
ATTRIBUTION_KPIS = ("attributed_revenue", "attributed_deals_created", "attributed_pipeline_created")
# Same-instant touches in the order a journey reads them.
KIND_ORDER = {
    "contact_created": 0,
    "form_submission": 1,
    "email_click": 2,
    "mailchimp_click": 3,
    "site_visit": 4,
    "latest_session": 5,
    "call": 6,
    "meeting": 7,
    "deal_created": 8,
}
# The touches a contact can become a lead by (a sales conversation is not how a lead arrives).
LEAD_KINDS = (
    "contact_created",
    "form_submission",
    "email_click",
    "mailchimp_click",
    "site_visit",
    "latest_session",
)
# Page views this close together are one visit; a visit this close to the contact's creation or
# its latest session is that touch already.
VISIT_GAP = timedelta(minutes=30)
# A first conversion this close to the contact's creation is the creation itself (HubSpot
# creates the contact from the form).
SAME_AS_CREATION = timedelta(minutes=5)
EMAIL_CHANNEL = "EMAIL_MARKETING"
# The channel of a meeting or call: the sales team's own touch, not a marketing source.
SALES_CHANNEL = "SALES"


@dataclass(frozen=True, slots=True)
class Touch:
    at: datetime
    # contact_created | form_submission | email_click | mailchimp_click | site_visit |
    # latest_session | meeting | call | deal_created
    kind: str
    channel: str  # HubSpot's source code (ORGANIC_SEARCH, …), SALES, or "unknown"
    campaign: str = NO_CAMPAIGN  # the HubSpot marketing campaign of a converting touch


@dataclass(frozen=True)
class Journey:
    """The touches before an event, oldest first, and which of them are milestones."""

    touches: tuple[Touch, ...]
    lead: int | None = None
    deal: int | None = None


def _positional(n: int, milestones: Sequence[tuple[int | None, float]]) -> list[float]:
    """Milestone shares on their touches (a touch that is two milestones gets both), the rest
    spread evenly over the other touches; with no other touch, the milestones share it all."""
    weights = [0.0] * n
    for index, share in milestones:
        if index is not None:
            weights[index] += share
    named = {i for i, _ in milestones if i is not None}
    others = [i for i in range(n) if i not in named]
    left = 1.0 - math.fsum(weights)
    if others:
        for i in others:
            weights[i] += left / len(others)
        return weights
    total = math.fsum(weights)
    return [w / total for w in weights]


def weights(journey: Journey, model: str, *, event_at: datetime, half_life_days: float) -> list[float]:
    """Each touch's share of the credit under `model` (they sum to 1; [] without touches)."""
    return list(_shares(journey, model, event_at=event_at, half_life_days=half_life_days))


def _shares(journey: Journey, model: str, *, event_at: datetime, half_life_days: float) -> Sequence[float]:
    """`weights`, without copying the cached weights of the shape models."""
    n = len(journey.touches)
    if n == 0:
        return ()
    if model == "time_decay":
        raw = [
            0.5 ** (max((event_at - t.at).total_seconds(), 0.0) / 86_400 / half_life_days)
            for t in journey.touches
        ]
        total = math.fsum(raw)
        return [r / total for r in raw]
    return _shape_weights(model, n, journey.lead, journey.deal)


# The position-based models: each milestone's share (`first`, `lead`, `deal`, `last` touch);
# what the milestones leave is spread over the other touches (`_positional`).
POSITIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "first_touch": (("first", 1.0),),
    "last_touch": (("last", 1.0),),
    "u_shaped": (("first", 0.4), ("lead", 0.4)),
    "w_shaped": (("first", 0.3), ("lead", 0.3), ("deal", 0.3)),
    "full_path": (("first", 0.225), ("lead", 0.225), ("deal", 0.225), ("last", 0.225)),
}


@functools.lru_cache(maxsize=4096)
def _shape_weights(model: str, n: int, lead: int | None, deal: int | None) -> tuple[float, ...]:
    """The weights of the models that look only at a journey's shape: its length and milestones
    (a portal's journeys have a few dozen shapes, so each is computed once)."""
    if model == "linear":
        return (1.0 / n,) * n
    if model not in POSITIONS:
        raise ValueError(f"unknown attribution model {model!r}; choose from {', '.join(MODELS)}")
    where = {"first": 0, "lead": lead, "deal": deal, "last": n - 1}
    return tuple(_positional(n, [(where[milestone], share) for milestone, share in POSITIONS[model]]))


def credits(amount: float, shares: Sequence[float]) -> list[float]:
    """The amount split by the shares; the last credit takes the rounding."""
    if not shares:
        return []
    parts = [amount * s for s in shares[:-1]]
    return [*parts, amount - math.fsum(parts)]


def journey_of(
    deal: DealFact,
    contacts: Iterable[TouchContact],
    *,
    event_at: datetime,
    lookback: timedelta,
    sales: Iterable[SalesTouch] = (),
) -> Journey:
    """The touches of a deal, its contacts and its meetings and calls at or before `event_at`
    within the look-back."""
    earliest = event_at - lookback
    touches: list[Touch] = []
    lead_at: datetime | None = None
    for c in contacts:
        if c.created is not None:
            touches.append(
                Touch(c.created, "contact_created", c.source or "unknown", c.first_campaign or NO_CAMPAIGN)
            )
        if c.latest_at is not None and c.latest_source and (c.created is None or c.latest_at > c.created):
            touches.append(
                Touch(c.latest_at, "latest_session", c.latest_source, c.last_campaign or NO_CAMPAIGN)
            )
        touches.extend(_conversions_and_clicks(c))
        became_lead = c.lead_at or c.created
        if became_lead is not None and (lead_at is None or became_lead < lead_at):
            lead_at = became_lead
    if deal.created is not None:
        touches.append(Touch(deal.created, "deal_created", deal.latest_source or deal.source or "unknown"))
    touches.extend(Touch(t.at, t.kind, SALES_CHANNEL) for t in sales)
    kept = sorted(
        (t for t in touches if earliest <= t.at <= event_at), key=lambda t: (t.at, KIND_ORDER[t.kind])
    )
    lead = None
    if lead_at is not None:
        before = [i for i, t in enumerate(kept) if t.at <= lead_at and t.kind in LEAD_KINDS]
        lead = before[-1] if before else None
    deal_index = next((i for i, t in enumerate(kept) if t.kind == "deal_created"), None)
    return Journey(tuple(kept), lead, deal_index)


def _conversions_and_clicks(c: TouchContact) -> list[Touch]:
    """A contact's form submissions (the first unless it created the contact, the latest when
    later), HubSpot marketing email clicks (the first, the latest when later) and Mailchimp
    clicks (the first in each campaign). A submission's channel
    is the source of the session it came in: the latest session's when that began at or before
    it, else the original source."""
    out: list[Touch] = []
    first, recent = c.first_conversion_at, c.recent_conversion_at
    submissions = [first] if first is not None else []
    if recent is not None and (first is None or recent > first):
        submissions.append(recent)
    for at in submissions:
        if c.created is None or at - c.created > SAME_AS_CREATION:
            out.append(Touch(at, "form_submission", _channel_at(c, at)))
    clicks = {t for t in (c.email_first_click_at, c.email_last_click_at) if t is not None}
    out.extend(Touch(at, "email_click", EMAIL_CHANNEL) for at in sorted(clicks))
    out.extend(Touch(at, "mailchimp_click", EMAIL_CHANNEL) for at in c.mailchimp_clicks)
    # A visit's channel is the source HubSpot gave it, else the session in effect (as a form's).
    out.extend(Touch(at, "site_visit", source or _channel_at(c, at)) for at, source in site_visits(c))
    return out


def site_visits(c: TouchContact) -> list[tuple[datetime, str | None]]:
    """When each of a contact's website visits began: a page view more than 30 minutes after
    the one before it (the first view opens one too), unless it is within 30 minutes of the
    contact's creation or its latest session, which are touches of their own."""
    out: list[tuple[datetime, str | None]] = []
    previous: datetime | None = None
    for at, source in c.page_views:
        if previous is None or at - previous > VISIT_GAP:
            near = [t for t in (c.created, c.latest_at) if t is not None and abs(at - t) <= VISIT_GAP]
            if not near:
                out.append((at, source))
        previous = at
    return out


def _channel_at(c: TouchContact, at: datetime) -> str:
    if c.latest_source and c.latest_at is not None and c.latest_at <= at:
        return c.latest_source
    return c.source or "unknown"


# (kpi, period index, model) → (dimension name, value) → credit; ("", "") is the `all` row.
_Sums = dict[tuple[str, int, str], dict[tuple[str, str], float]]
_ALL_KEY = ("", "")


def _credit(
    sums: _Sums,
    events: Sequence[tuple[str, float]],
    period: int,
    journey: Journey,
    *,
    event_at: datetime,
    half_life_days: float,
    campaigns: bool,
) -> None:
    """Add the credit of events that share a journey and a time (each a KPI and its amount)
    under every model, by channel and by touch type (and by campaign, when the portal has
    campaigns): each model's shares are worked out once for all of them."""
    names = ("source", "touch_type", "campaign") if campaigns else ("source", "touch_type")
    keys = [tuple(zip(names, (t.channel, t.kind, t.campaign), strict=False)) for t in journey.touches]
    for model in MODELS:
        shares = _shares(journey, model, event_at=event_at, half_life_days=half_life_days)
        for kpi, amount in events:
            acc = sums.setdefault((kpi, period, model), defaultdict(float))
            acc[_ALL_KEY] += amount
            if not shares:
                for name in names:
                    acc[(name, UNATTRIBUTED)] += amount
                continue
            for touch_keys, credit in zip(keys, credits(amount, shares), strict=True):
                for key in touch_keys:
                    acc[key] += credit


def attribution_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """Closed-won revenue (by close period), deals created and pipeline created (by creation
    period), credited to channels and touch types under every model (the model in `stage`)."""
    bucket = Bucketer(inputs.periods)
    half_life = inputs.attribution_half_life_days
    campaigns = has_campaigns(inputs)
    sums: _Sums = {}
    for won in won_journeys(inputs):
        _credit(
            sums,
            [("attributed_revenue", won.amount)],
            won.period,
            won.journey,
            event_at=won.closed,
            half_life_days=half_life,
            campaigns=campaigns,
        )
    for deal in inputs.deals:
        created = bucket.index(deal.created)
        if created is None or deal.created is None:
            continue
        events = [("attributed_deals_created", 1.0)]
        if deal.amount is not None:
            events.append(("attributed_pipeline_created", deal.amount))
        _credit(
            sums,
            events,
            created,
            deal_journey(inputs, deal, deal.created),
            event_at=deal.created,
            half_life_days=half_life,
            campaigns=campaigns,
        )
    return _values(sums, inputs)


class WonJourney(NamedTuple):
    """A won deal closed in grid period `period`, and its journey up to the close."""

    period: int
    amount: float
    closed: datetime
    journey: Journey


def won_journeys(inputs: KpiInputs) -> Iterator[WonJourney]:
    """Every won deal with an amount that closed in a grid period, with its journey: what the
    attribution family and the campaigns family's won revenue both credit."""
    bucket = Bucketer(inputs.periods)
    for deal in inputs.deals:
        if not deal.is_won or deal.amount is None or deal.closed is None:
            continue
        period = bucket.index(deal.closed)
        if period is not None:
            yield WonJourney(period, deal.amount, deal.closed, deal_journey(inputs, deal, deal.closed))


def deal_journey(inputs: KpiInputs, deal: DealFact, event_at: datetime) -> Journey:
    """The deal's journey up to `event_at`: its contacts' touches, its own and its sales touches."""
    return journey_of(
        deal,
        contacts_of(deal, inputs.deal_contacts, inputs.touch_contacts),
        event_at=event_at,
        lookback=timedelta(days=inputs.attribution_lookback_days),
        sales=inputs.deal_engagements.get(deal.id, ()),
    )


def has_campaigns(inputs: KpiInputs) -> bool:
    """Whether the portal has marketing campaigns to credit (synced, or named on contacts)."""
    return bool(inputs.campaigns) or any(
        c.first_campaign or c.last_campaign for c in inputs.touch_contacts.values()
    )


def contacts_of(
    deal: DealFact, deal_contacts: Mapping[str, tuple[str, ...]], touch_contacts: Mapping[str, TouchContact]
) -> list[TouchContact]:
    return [touch_contacts[i] for i in deal_contacts.get(deal.id, ()) if i in touch_contacts]


def _values(sums: _Sums, inputs: KpiInputs) -> list[KpiValue]:
    """Every period and model has its `all` row (0 without events); channels and touch types
    only where they were credited."""
    out: list[KpiValue] = []
    for kpi in ATTRIBUTION_KPIS:
        for i, period in enumerate(inputs.periods):
            for model in MODELS:
                acc = sums.get((kpi, i, model), {})
                found = sorted(
                    ((dim(name, value), credit) for (name, value), credit in acc.items() if name),
                    key=lambda dv: (dv[0].name, -dv[1], dv[0].value),
                )
                for d, value in [(ALL, acc.get(_ALL_KEY, 0.0)), *found]:
                    if kpi == "attributed_deals_created":
                        out.append(count(kpi, value, period=period, dim=d, stage=model))
                    else:
                        out.append(money(kpi, value, inputs.currency, period=period, dim=d, stage=model))
    return out
