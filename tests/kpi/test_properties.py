"""Invariants that hold for any snapshot (hypothesis), computed through SQLite and the formulas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from config import KpiSettings
from kpi.definitions import funnel_steps, step
from kpi.engine import compute
from kpi.periods import period_grid
from kpi.reader import read_inputs
from storage import make_engine, migrate
from storage.db import table_of
from storage.models import HubSpotContact, HubSpotContactStageDate, HubSpotDeal
from tests.conftest import DIALECTS, fresh_database
from tests.kpi.portal import Portal, t

STAGES = ["lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
START = t("2025-01-01")
AS_OF = t("2025-07-01")
# The module-scoped engine is shared on purpose; each example clears the tables first.
SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
TZ = ZoneInfo("America/New_York")

# A contact: creation offset (days) and, per stage, an entry offset (or None = skipped).
contact_strategy = st.tuples(
    st.integers(0, 170),
    st.lists(st.one_of(st.none(), st.integers(-30, 200)), min_size=5, max_size=5),
    st.sampled_from(["ORGANIC_SEARCH", "PAID_SEARCH", None]),
)
deal_strategy = st.tuples(
    st.integers(0, 170),
    st.one_of(st.none(), st.integers(-20, 120)),
    st.booleans(),
    st.one_of(st.none(), st.floats(0, 1e6, allow_nan=False)),
)


def _iso(days: int) -> str:
    return (START + timedelta(days=days)).isoformat()[:16]


def _portal(contacts, deals) -> Portal:
    p = Portal()
    for i, (created, offsets, source) in enumerate(contacts):
        entered: dict[str, Any] = {
            s: _iso(created + o) for s, o in zip(STAGES, offsets, strict=True) if o is not None
        }
        reached = [s for s in STAGES if s in entered]
        p.contact(f"c{i}", _iso(created), reached[-1] if reached else "subscriber", source=source, **entered)
    for i, (created, close_after, won, amount) in enumerate(deals):
        closed = _iso(created + close_after) if close_after is not None else None
        p.deal(
            f"d{i}",
            _iso(created),
            stage="won" if won else "lost",
            amount=amount,
            closed=closed,
            is_closed=closed is not None,
            is_won=won and closed is not None,
        )
    return p


@pytest.fixture(scope="module", params=DIALECTS)
def engine(request, tmp_path_factory):
    """One database per dialect for all examples (hypothesis reruns a test body many times)."""
    with fresh_database(request, request.param, tmp_path_factory.mktemp("kpi")) as url:
        engine = make_engine(url)
        migrate(engine)
        yield engine
        engine.dispose()


def _compute(engine, contacts, deals, mode):
    with engine.begin() as conn:
        for model in (HubSpotContact, HubSpotContactStageDate, HubSpotDeal):
            conn.execute(delete(table_of(model)))
    _portal(contacts, deals).save(engine)
    kpi = KpiSettings(conversion_mode=mode)
    periods = period_grid("month", TZ, as_of=AS_OF, first="2025-01", last="2025-07")
    inputs = read_inputs(engine, connection="default", settings=kpi, periods=periods, as_of=AS_OF, tz=TZ)
    return compute(inputs), periods


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=SLOW_OK,
)
@given(
    st.lists(contact_strategy, max_size=25),
    st.lists(deal_strategy, max_size=15),
    st.sampled_from(["reached_or_passed", "strict"]),
)
def test_shares_never_leave_zero_to_one(engine, contacts, deals, mode):
    """The unit contract: a `share` is a part of its base, in [0, 1], whatever the data."""
    result, _ = _compute(engine, contacts, deals, mode)
    assert any(v.unit == "share" for v in result.values)
    for v in result.values:
        if v.unit != "share":
            continue
        assert v.numerator is not None and v.denominator is not None
        assert 0 <= v.numerator <= v.denominator, v
        if v.denominator == 0:
            assert v.value is None and v.reason
        else:
            assert v.value is not None and 0.0 <= v.value <= 1.0


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=SLOW_OK,
)
@given(st.lists(contact_strategy, max_size=25))
def test_strict_cohort_counts_never_grow_along_the_funnel(engine, contacts):
    result, periods = _compute(engine, contacts, [], "strict")
    for period in periods:
        first = result.find("stage_conversion", stage=step(STAGES[0], STAGES[1]), period=period)
        whole = result.find("stage_conversion", stage=step(STAGES[0], STAGES[-1]), period=period)
        assert first is not None and whole is not None
        # Of one cohort (first entry into lead in the period), fewer reach the end than the next stage.
        assert whole.numerator <= first.numerator <= first.denominator
        for x, y in funnel_steps(STAGES)[:-1]:
            rate = result.find("stage_conversion", stage=step(x, y), period=period)
            entries = result.find("stage_entries", stage=x, period=period)
            assert rate is not None and entries is not None
            assert rate.denominator == entries.value  # the base is exactly the stage's entries
