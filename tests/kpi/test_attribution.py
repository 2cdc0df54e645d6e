"""Attribution models (kpi/attribution.py): each model's weights on a known journey, credits that
sum to the amount for any journey (a property), journeys built from a deal and its contacts, and a
worked example through storage on both databases."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from config import load_settings
from kpi.attribution import MODELS, Journey, Touch, credits, journey_of, weights
from kpi.inputs import DealFact, SalesTouch, TouchContact
from kpi.labels import MODEL_LABELS, Labels
from kpi.model import ALL, Dim
from kpi.periods import parse_period
from service.kpis import compute_kpis
from tests.kpi.portal import Portal, t

DAY0 = datetime(2025, 1, 1, tzinfo=UTC)


def day(n: float) -> datetime:
    return DAY0 + timedelta(days=n)


# First touch (lead creation too) on day 0, a later session, the deal's creation, another
# contact's session; the deal closes on day 30.
JOURNEY = Journey(
    (
        Touch(day(0), "contact_created", "ORGANIC_SEARCH"),
        Touch(day(10), "latest_session", "PAID_SEARCH"),
        Touch(day(20), "deal_created", "EMAIL_MARKETING"),
        Touch(day(25), "latest_session", "REFERRALS"),
    ),
    lead=0,
    deal=2,
)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("first_touch", [1, 0, 0, 0]),
        ("last_touch", [0, 0, 0, 1]),
        ("linear", [0.25] * 4),
        # First touch and lead creation are the same touch: it gets both 40 %s.
        ("u_shaped", [0.8, 0.2 / 3, 0.2 / 3, 0.2 / 3]),
        ("w_shaped", [0.6, 0.05, 0.3, 0.05]),
        ("full_path", [0.45, 0.1, 0.225, 0.225]),
        ("time_decay", [0.5 ** (d / 7) for d in (30, 20, 10, 5)]),
    ],
)
def test_each_model_on_a_known_journey(model, expected):
    got = weights(JOURNEY, model, event_at=day(30), half_life_days=7)
    total = math.fsum(expected)
    assert got == pytest.approx([e / total for e in expected], abs=1e-12)


def test_an_unknown_model_is_refused():
    with pytest.raises(ValueError, match="unknown attribution model"):
        weights(JOURNEY, "last_non_direct", event_at=day(30), half_life_days=7)


kinds = st.sampled_from(["contact_created", "latest_session", "deal_created"])
journeys = st.integers(min_value=0, max_value=7).flatmap(
    lambda n: st.tuples(
        st.lists(
            st.tuples(st.floats(0, 400), kinds, st.sampled_from(["A", "B", "C"])), min_size=n, max_size=n
        ),
        st.one_of(st.none(), st.integers(0, max(n - 1, 0))) if n else st.none(),
        st.one_of(st.none(), st.integers(0, max(n - 1, 0))) if n else st.none(),
    )
)


@settings(max_examples=300, deadline=None)
@given(
    journey=journeys,
    amount=st.floats(min_value=0.01, max_value=1e9, allow_nan=False),
    half_life=st.floats(0.5, 60),
)
def test_credits_sum_to_the_amount_under_every_model(journey, amount, half_life):
    raw, lead, deal = journey
    touches = tuple(Touch(day(d), kind, channel) for d, kind, channel in sorted(raw))
    j = Journey(touches, lead, deal)
    for model in MODELS:
        shares = weights(j, model, event_at=day(400), half_life_days=half_life)
        assert len(shares) == len(touches)
        if not touches:
            continue
        assert all(s >= -1e-15 for s in shares) and math.isclose(math.fsum(shares), 1.0, rel_tol=1e-12)
        assert math.isclose(math.fsum(credits(amount, shares)), amount, rel_tol=1e-12)


def deal(**changes) -> DealFact:
    base = DealFact("d1", "p", "won", 1000.0, day(20), day(30), True, True, 1.0, "DIRECT_TRAFFIC", "", "o")
    return dataclasses.replace(base, **changes)


def test_a_journey_keeps_the_touches_before_the_event_within_the_look_back():
    early = TouchContact("c1", day(0), "ORGANIC_SEARCH", "PAID_SEARCH", day(10), lead_at=day(12))
    # A session at the contact's creation is the same touch; one after the close does not count.
    same = TouchContact("c2", day(5), "REFERRALS", "REFERRALS", day(5), lead_at=None)
    late = TouchContact("c3", day(8), "EMAIL_MARKETING", "SOCIAL_MEDIA", day(40), lead_at=None)
    j = journey_of(deal(), [early, same, late], event_at=day(30), lookback=timedelta(days=365))
    assert [(t.kind, t.channel) for t in j.touches] == [
        ("contact_created", "ORGANIC_SEARCH"),
        ("contact_created", "REFERRALS"),
        ("contact_created", "EMAIL_MARKETING"),
        ("latest_session", "PAID_SEARCH"),
        ("deal_created", "DIRECT_TRAFFIC"),
    ]
    # c2 became a lead first (at its creation on day 5; c1 only on day 12): the lead-creation
    # touch is c2's creation.
    assert (j.lead, j.deal) == (1, 4)
    short = journey_of(deal(), [early, same, late], event_at=day(30), lookback=timedelta(days=21))
    assert [t.at for t in short.touches] == [day(10), day(20)]
    assert short.lead is None  # the touch in effect when the contact became a lead is too old
    alone = journey_of(deal(created=None), [], event_at=day(30), lookback=timedelta(days=365))
    assert alone.touches == () and weights(alone, "linear", event_at=day(30), half_life_days=7) == []


def test_sales_touches_join_the_journey_but_never_make_a_lead():
    contact = TouchContact("c1", day(0), "ORGANIC_SEARCH", None, None, lead_at=day(15))
    sales = [SalesTouch("k1", day(12), "call"), SalesTouch("m1", day(22), "meeting")]
    j = journey_of(deal(), [contact], event_at=day(30), lookback=timedelta(days=365), sales=sales)
    assert [(t.kind, t.channel) for t in j.touches] == [
        ("contact_created", "ORGANIC_SEARCH"),
        ("call", "SALES"),
        ("deal_created", "DIRECT_TRAFFIC"),
        ("meeting", "SALES"),
    ]
    # The call on day 12 is the latest touch before the contact became a lead (day 15), but a
    # sales conversation is not how a lead arrives: lead creation stays the contact's creation.
    assert (j.lead, j.deal) == (0, 2)
    # A touch after the event does not count.
    before = journey_of(deal(), [contact], event_at=day(20), lookback=timedelta(days=365), sales=sales)
    assert [t.kind for t in before.touches] == ["contact_created", "call", "deal_created"]


def test_form_submissions_and_email_clicks_are_touches_of_their_contact():
    contact = TouchContact(
        "c1",
        day(0),
        "ORGANIC_SEARCH",
        "PAID_SOCIAL",
        day(9),
        lead_at=day(12),
        first_conversion_at=day(0) + timedelta(minutes=1),  # the form that created the contact
        recent_conversion_at=day(12),  # in the paid social session of day 9
        email_first_click_at=day(4),
        email_last_click_at=day(4),  # one click: one touch
    )
    j = journey_of(deal(), [contact], event_at=day(30), lookback=timedelta(days=365))
    assert [(t.at, t.kind, t.channel) for t in j.touches] == [
        (day(0), "contact_created", "ORGANIC_SEARCH"),
        (day(4), "email_click", "EMAIL_MARKETING"),
        (day(9), "latest_session", "PAID_SOCIAL"),
        (day(12), "form_submission", "PAID_SOCIAL"),
        (day(20), "deal_created", "DIRECT_TRAFFIC"),
    ]
    # The contact became a lead with that form on day 12: it is the lead-creation touch.
    assert (j.lead, j.deal) == (3, 4)
    # A later form without a session before it came by the original source.
    early = dataclasses.replace(contact, latest_at=day(14), recent_conversion_at=day(13))
    kinds = journey_of(deal(), [early], event_at=day(30), lookback=timedelta(days=365)).touches
    assert [(t.kind, t.channel) for t in kinds if t.kind == "form_submission"] == [
        ("form_submission", "ORGANIC_SEARCH")
    ]


def _worked_example() -> Portal:
    p = Portal()
    p.contact("c1", "2025-01-05", "customer", source="ORGANIC_SEARCH", latest="PAID_SEARCH",
              latest_at="2025-02-01", lead="2025-01-05", customer="2025-02-20")  # fmt: skip
    p.contact("c2", "2025-01-20", "opportunity", source="REFERRALS", lead="2025-01-20")
    # d1: created 10 Feb (its own source EMAIL_MARKETING), won 20 Feb, 100,000.
    p.deal("d1", "2025-02-10", stage="won", amount=100_000, closed="2025-02-20", is_closed=True,
           is_won=True, source="EMAIL_MARKETING")  # fmt: skip
    p.link("d1", "c1")
    p.link("d1", "c2")
    # d2: created two years before it was won, no contact: nothing in the look-back.
    p.deal("d2", "2023-01-10", stage="won", amount=5_000, closed="2025-02-25", is_closed=True,
           is_won=True, source="DIRECT_TRAFFIC")  # fmt: skip
    return p


def _february(engine, tmp_path: Path):
    settings_ = load_settings(
        data_dir=tmp_path,
        database_url=str(engine.url.render_as_string(hide_password=False)),
        kpi={"periods_back": 3},
    )
    result = compute_kpis(settings_, engine, as_of=t("2025-03-15")).result
    feb = parse_period("month", "2025-02", ZoneInfo("UTC"))

    def credit(model: str, d: Dim, kpi: str = "attributed_revenue") -> float | None:
        found = result.find(kpi, stage=model, dim=d, period=feb)
        return found.value if found else None

    return credit


def test_worked_example_through_storage(engine, tmp_path: Path):
    _worked_example().save(engine)
    credit = _february(engine, tmp_path)

    # d1's journey: c1 created (organic, lead creation), c2 created (referrals), c1's paid
    # session (1 Feb), d1 created (email, 10 Feb); d2 has none.
    for model in MODELS:
        assert credit(model, ALL) == 105_000
        assert credit(model, Dim("source", "unattributed")) == 5_000
    assert credit("first_touch", Dim("source", "ORGANIC_SEARCH")) == 100_000
    assert credit("last_touch", Dim("source", "EMAIL_MARKETING")) == 100_000
    assert credit("linear", Dim("source", "PAID_SEARCH")) == 25_000
    assert credit("w_shaped", Dim("source", "ORGANIC_SEARCH")) == pytest.approx(60_000)
    assert credit("w_shaped", Dim("source", "EMAIL_MARKETING")) == pytest.approx(30_000)
    assert credit("w_shaped", Dim("touch_type", "latest_session")) == pytest.approx(5_000)
    assert credit("first_touch", Dim("source", "ORGANIC_SEARCH"), "attributed_deals_created") == 1


def test_meetings_and_calls_are_touches_of_their_deals(engine, tmp_path: Path):
    """The worked example with d1's sales conversations: a call with c1 (12 Feb), a meeting on d1
    (15 Feb) and a call on both d1 and c1 (18 Feb, counted once). A no-show, a meeting after the
    close, an unanswered call and an archived call are not touches."""
    p = _worked_example()
    p.engagement("call", "k1", "2025-02-12", contacts=("c1",))
    p.engagement("meeting", "m1", "2025-02-15", deals=("d1",))
    p.engagement("call", "k2", "2025-02-18", deals=("d1",), contacts=("c1",))
    p.engagement("meeting", "m2", "2025-02-16", outcome="NO_SHOW", deals=("d1",))
    p.engagement("meeting", "m3", "2025-02-22", deals=("d1",))
    p.engagement("call", "k3", "2025-02-13", outcome="NO_ANSWER", deals=("d1",))
    p.engagement("call", "k4", "2025-02-14", deals=("d1",), archived=True)
    p.save(engine)
    credit = _february(engine, tmp_path)
    # d1's journey to its close: c1 created (organic; first touch and lead creation), c2 created
    # (referrals), c1's paid session, d1 created (email), k1, m1, k2: seven touches.
    for model in MODELS:
        assert credit(model, ALL) == 105_000
    assert credit("linear", Dim("source", "SALES")) == pytest.approx(300_000 / 7)
    assert credit("linear", Dim("touch_type", "meeting")) == pytest.approx(100_000 / 7)
    assert credit("linear", Dim("touch_type", "call")) == pytest.approx(200_000 / 7)
    assert credit("last_touch", Dim("source", "SALES")) == 100_000
    assert credit("first_touch", Dim("source", "ORGANIC_SEARCH")) == 100_000
    # W-shaped: 60 % to c1's creation (first touch and lead creation), 30 % to d1's creation,
    # 10 % over the five others, three of them sales touches.
    assert credit("w_shaped", Dim("source", "SALES")) == pytest.approx(6_000)
    assert credit("w_shaped", Dim("source", "EMAIL_MARKETING")) == pytest.approx(30_000)
    # The deal's creation (10 Feb) came before every conversation: none shares its credit.
    assert credit("linear", Dim("source", "SALES"), "attributed_deals_created") is None
    # The touchpoints view (BI): each held meeting and call once per contact or deal it is on.
    assert [(c, d, day, kind) for c, d, day, kind, _, _ in touchpoints(engine, "meeting", "call")] == [
        ("c1", None, "2025-02-12", "call"),
        (None, "d1", "2025-02-15", "meeting"),
        (None, "d1", "2025-02-18", "call"),
        ("c1", None, "2025-02-18", "call"),
        (None, "d1", "2025-02-22", "meeting"),
    ]
    assert credit("linear", Dim("source", "ORGANIC_SEARCH"), "attributed_deals_created") == pytest.approx(
        0.25
    )


def test_form_submissions_and_email_clicks_through_storage(engine, tmp_path: Path):
    """c1: created 5 Jan (organic; the form that created it is the creation), a paid search
    session on 1 Feb, a demo request on 5 Feb (in that session), a newsletter click on 7 Feb;
    d1 created 10 Feb (direct), won 20 Feb: five touches."""
    p = Portal()
    touches = {
        "first_conversion_at": "2025-01-05",
        "recent_conversion_at": "2025-02-05",
        "email_first_click_at": "2025-02-07",
        "email_last_click_at": "2025-02-07",
    }
    p.contact("c1", "2025-01-05", "customer", source="ORGANIC_SEARCH", latest="PAID_SEARCH",
              latest_at="2025-02-01", lead="2025-01-05", touches=touches)  # fmt: skip
    p.contacts[0]["recent_conversion"] = "Demo request"
    p.deal("d1", "2025-02-10", stage="won", amount=100_000, closed="2025-02-20", is_closed=True,
           is_won=True, source="DIRECT_TRAFFIC")  # fmt: skip
    p.link("d1", "c1")
    p.save(engine)
    credit = _february(engine, tmp_path)
    assert credit("linear", Dim("touch_type", "form_submission")) == pytest.approx(20_000)
    assert credit("linear", Dim("touch_type", "email_click")) == pytest.approx(20_000)
    assert credit("linear", Dim("source", "PAID_SEARCH")) == pytest.approx(40_000)
    assert credit("linear", Dim("source", "EMAIL_MARKETING")) == pytest.approx(20_000)
    # W-shaped: 60 % to c1's creation (first touch and lead creation), 30 % to d1's creation,
    # 10 % over the session, the form and the click.
    assert credit("w_shaped", Dim("source", "ORGANIC_SEARCH")) == pytest.approx(60_000)
    assert credit("w_shaped", Dim("source", "PAID_SEARCH")) == pytest.approx(20_000 / 3)
    assert credit("last_touch", Dim("source", "DIRECT_TRAFFIC")) == 100_000
    # The touchpoints view (BI) lists the same five touches.
    assert touchpoints(engine) == [
        ("c1", None, "2025-01-05", "contact_created", "ORGANIC_SEARCH", None),
        ("c1", None, "2025-02-01", "latest_session", "PAID_SEARCH", None),
        ("c1", None, "2025-02-05", "form_submission", "PAID_SEARCH", "Demo request"),
        ("c1", None, "2025-02-07", "email_click", "EMAIL_MARKETING", None),
        (None, "d1", "2025-02-10", "deal_created", "DIRECT_TRAFFIC", None),
    ]


def test_mailchimp_clicks_are_touches_of_the_contact_with_that_address(engine, tmp_path: Path):
    """c1 (Ada@Example.com in the CRM): created 5 Jan (organic), clicked Mailchimp's newsletter on
    3 Feb (and again on 4 Feb: one touch per campaign) and an invitation on 8 Feb; d1 created
    10 Feb (direct), won 20 Feb. A click after the close and one by an address the CRM does not
    know are not touches of d1."""
    p = Portal()
    p.contact("c1", "2025-01-05", "customer", source="ORGANIC_SEARCH", lead="2025-01-05",
              email=" Ada@Example.com")  # fmt: skip
    p.deal("d1", "2025-02-10", stage="won", amount=100_000, closed="2025-02-20", is_closed=True,
           is_won=True, source="DIRECT_TRAFFIC")  # fmt: skip
    p.link("d1", "c1")
    p.mailchimp_click("mc1", "Newsletter 2025-02-03", "ada@example.com", "2025-02-03", "2025-02-04")
    p.mailchimp_click("mc2", "Event invitation", "ADA@example.com", "2025-02-08")
    p.mailchimp_click("mc3", "Newsletter 2025-02-21", "ada@example.com", "2025-02-22")
    p.mailchimp_click("mc1", "Newsletter 2025-02-03", "someone@else.example", "2025-02-03")
    p.save(engine)
    credit = _february(engine, tmp_path)
    # Four touches: c1's creation, the two campaigns' first clicks, d1's creation.
    assert credit("linear", Dim("touch_type", "mailchimp_click")) == pytest.approx(50_000)
    assert credit("linear", Dim("source", "EMAIL_MARKETING")) == pytest.approx(50_000)
    # W-shaped: 60 % to c1's creation (first touch and lead creation), 30 % to d1's, 10 % over
    # the two clicks.
    assert credit("w_shaped", Dim("touch_type", "mailchimp_click")) == pytest.approx(10_000)
    assert credit("last_touch", Dim("source", "DIRECT_TRAFFIC")) == 100_000
    # The deal's creation: the clicks before it share the credit with c1's creation and the
    # creation touch itself.
    kpi = "attributed_deals_created"
    assert credit("linear", Dim("touch_type", "mailchimp_click"), kpi) == pytest.approx(0.5)

    # The touchpoints view lists each campaign's first click, titled, the late one included.
    assert touchpoints(engine, "mailchimp_click") == [
        ("c1", None, "2025-02-03", "mailchimp_click", "EMAIL_MARKETING", "Newsletter 2025-02-03"),
        ("c1", None, "2025-02-08", "mailchimp_click", "EMAIL_MARKETING", "Event invitation"),
        ("c1", None, "2025-02-22", "mailchimp_click", "EMAIL_MARKETING", "Newsletter 2025-02-21"),
    ]


def test_website_visits_are_touches_between_arrival_and_latest_session(engine, tmp_path: Path):
    """c1: created 5 Jan 12:00 (organic) with two page views then; visits on 20 Jan (three views
    within half an hour: one visit; no source given, and before its paid search session of 6 Feb,
    so by its original source) and 3 Feb (from a marketing email, as HubSpot's touchpoint source
    says), and views in that session; d1 created 10 Feb (direct), won 20 Feb."""
    p = Portal()
    p.contact("c1", "2025-01-05", "customer", source="ORGANIC_SEARCH", latest="PAID_SEARCH",
              latest_at="2025-02-06", lead="2025-01-05")  # fmt: skip
    for at in ("2025-01-05T12:00", "2025-01-05T12:04"):  # the arrival: the creation touch already
        p.page_view("c1", at, "Home")
    for at in ("2025-01-20T09:00", "2025-01-20T09:10", "2025-01-20T09:35"):
        p.page_view("c1", at, "The B2B funnel guide")
    p.page_view("c1", "2025-02-03T15:00", "Pricing", source="EMAIL_MARKETING")  # HubSpot says how it came
    p.page_view("c1", "2025-02-06T12:05", "Pricing")  # in the latest session: that touch already
    p.page_view("c2", "2025-02-01T10:00", "Home")  # a contact on no deal
    p.deal("d1", "2025-02-10", stage="won", amount=100_000, closed="2025-02-20", is_closed=True,
           is_won=True, source="DIRECT_TRAFFIC")  # fmt: skip
    p.link("d1", "c1")
    p.save(engine)
    credit = _february(engine, tmp_path)
    # Five touches: creation, two visits, the latest session, the deal's creation.
    assert credit("linear", Dim("touch_type", "site_visit")) == pytest.approx(40_000)
    assert credit("linear", Dim("source", "ORGANIC_SEARCH")) == pytest.approx(40_000)
    assert credit("linear", Dim("source", "EMAIL_MARKETING")) == pytest.approx(20_000)
    assert credit("linear", Dim("source", "PAID_SEARCH")) == pytest.approx(20_000)
    # W-shaped: 60 % to the creation (first touch and lead creation), 30 % to the deal's, 10 %
    # over the visits and the session.
    assert credit("w_shaped", Dim("touch_type", "site_visit")) == pytest.approx(20_000 / 3)
    assert touchpoints(engine, "site_visit") == [
        ("c1", None, "2025-01-20", "site_visit", "ORGANIC_SEARCH", "The B2B funnel guide"),
        ("c1", None, "2025-02-03", "site_visit", "EMAIL_MARKETING", "Pricing"),
    ]


def touchpoints(engine, *kinds: str) -> list[tuple[str | None, str | None, str, str, str, str | None]]:
    """The `touchpoints` view's rows (of `kinds`, or all) with the day of each, in time order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT contact_id, deal_id, at, touch_type, channel, content FROM touchpoints")
        ).all()
    found = [(c, d, str(at)[:10], kind, channel, content) for c, d, at, kind, channel, content in rows]
    return sorted(
        (r for r in found if not kinds or r[3] in kinds), key=lambda r: (r[2], r[3], r[0] or "", r[1] or "")
    )


def test_models_and_touch_types_have_names_people_read():
    labels = Labels()
    assert labels.stage("attribution", "u_shaped") == "U-shaped (40/20/40)"
    assert labels.stage("funnel", "u_shaped") == "u_shaped"  # only the attribution family's stage is a model
    assert labels.dimension("touch_type", "latest_session") == "Latest session"
    assert labels.dimension("touch_type", "meeting") == "Sales meeting"
    assert labels.dimension("touch_type", "form_submission") == "Form submission"
    assert labels.dimension("source", "SALES") == "Sales meetings and calls"
    assert {labels.stage("attribution", m) for m in MODELS} == set(MODEL_LABELS.values())
