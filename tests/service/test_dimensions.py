"""Custom dimensions (kpi.dimensions): the named contact, company and deal properties are read,
stored typed and kept current by incremental syncs, and become breakdowns of their objects' KPIs
with the portal's option labels; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict

import pytest
from sqlalchemy import select

from config import ConfigurationError, load_settings
from sandbox.hubspot.answers import HEARD_OPTIONS, HEARD_PROPERTY
from service.kpis import run_kpis
from service.sync import build_sync
from storage.db import table_of
from storage.kpis import kpi_rows
from storage.models import HubSpotCompanyProperty, HubSpotContactProperty, HubSpotDealProperty

DIMENSIONS = [HEARD_PROPERTY, "industry", "companies.numberofemployees", "dealtype", "contacts.closedate"]


def truth(sandbox, object_type):
    found = sandbox.admin("GET", f"/_sandbox/truth/{object_type}")["results"]
    return {r["id"]: r["properties"] for r in found if not r["archived"]}


def values(engine, model, owner):
    table = table_of(model)
    with engine.connect() as conn:
        rows = conn.execute(
            select(table.c[owner], table.c.property, table.c.value, table.c.number, table.c.at)
        )
        return {(r[0], r[1]): r[2:] for r in rows}


def test_configured_properties_are_stored_typed_and_kept_current(
    sandbox, clock, make_settings, engine, db_url
):
    settings = make_settings(db_url)
    settings = settings.model_copy(update={"kpi": settings.kpi.model_copy(update={"dimensions": DIMENSIONS})})
    build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    contacts, companies, deals = (truth(sandbox, t) for t in ("contacts", "companies", "deals"))
    stored = values(engine, HubSpotContactProperty, "contact_id")
    heard = {(i, HEARD_PROPERTY): p[HEARD_PROPERTY] for i, p in contacts.items() if p.get(HEARD_PROPERTY)}
    assert heard and {k: v[0] for k, v in stored.items() if k[1] == HEARD_PROPERTY} == heard
    # A datetime property is stored as its text and as a time.
    closed = [v for k, v in stored.items() if k[1] == "closedate"]
    assert closed and all(text and at is not None and number is None for text, number, at in closed)
    firms = values(engine, HubSpotCompanyProperty, "company_id")
    sizes = {k: v for k, v in firms.items() if k[1] == "numberofemployees"}
    assert sizes and all(
        number == float(companies[k[0]]["numberofemployees"]) for k, (_, number, _) in sizes.items()
    )
    assert {k[0] for k in firms if k[1] == "industry"} == {
        i for i, p in companies.items() if p.get("industry")
    }
    dealt = values(engine, HubSpotDealProperty, "deal_id")
    assert {k: v[0] for k, v in dealt.items()} == {(i, "dealtype"): p["dealtype"] for i, p in deals.items()}

    # An answer changes and another is cleared: the next incremental sync says so.
    changed, cleared = sorted(k[0] for k in heard)[:2]
    sandbox.store.clock.advance(120)
    sandbox.admin(
        "PATCH", f"/_sandbox/objects/contacts/{changed}", json={"properties": {HEARD_PROPERTY: "podcast"}}
    )
    sandbox.admin("PATCH", f"/_sandbox/objects/contacts/{cleared}", json={"properties": {HEARD_PROPERTY: ""}})
    sandbox.store.clock.advance(120)
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["contacts"])
    after = values(engine, HubSpotContactProperty, "contact_id")
    assert after[(changed, HEARD_PROPERTY)][0] == "podcast" and (cleared, HEARD_PROPERTY) not in after


def test_custom_dimensions_break_down_their_objects_kpis(
    sandbox, clock, make_settings, engine, db_url, tmp_path
):
    settings = make_settings(db_url)
    # The self-reported source alone names the property: it becomes a contact dimension too.
    kpi = settings.kpi.model_validate(
        {"dimensions": [d for d in DIMENSIONS if d != HEARD_PROPERTY], "self_reported_source": HEARD_PROPERTY}
    )
    assert f"contacts.{HEARD_PROPERTY}" in kpi.dimensions
    settings = settings.model_copy(update={"kpi": kpi})
    build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    report = run_kpis(settings, engine, trigger="test", clock=clock, out_dir=tmp_path / "exports")
    assert report.run_id is not None
    rows = kpi_rows(engine, run_id=report.run_id)

    def totals(kpi, dimension, stage="", column="value"):
        out: dict[object, float] = defaultdict(float)
        for r in rows:
            if r["kpi"] == kpi and r["dimension"] == dimension and r["stage"] == stage and r["period_start"]:
                out[r["period_start"]] += r[column] or 0
        return {start: total for start, total in out.items() if total}  # `all` lists empty periods too

    # Every contact is in one answer (or `unknown`), every deal in one industry and one deal type:
    # the breakdowns add up to `all` period by period.
    assert totals("contacts_created", HEARD_PROPERTY) == totals("contacts_created", "all")
    assert totals("stage_entries", HEARD_PROPERTY, "customer") == totals("stage_entries", "all", "customer")
    for dimension in ("industry", "dealtype"):
        assert totals("closed_won_revenue", dimension) == pytest.approx(totals("closed_won_revenue", "all"))
    # Days to close by deal type and time to customer by answer: each won deal in one type and
    # each new customer in one answer, so the deals and customers the means count add up.
    for kpi, dimension in (("days_to_close_mean", "dealtype"), ("time_to_customer_mean", HEARD_PROPERTY)):
        assert totals(kpi, dimension, column="denominator") == totals(kpi, "all", column="denominator")
    labels = {r["dimension_value"]: r["dimension_label"] for r in rows if r["dimension"] == HEARD_PROPERTY}
    assert labels["podcast"] == dict(HEARD_OPTIONS)["podcast"] and labels["unknown"] == "unknown"
    assert {r["dimension_label"] for r in rows if r["dimension"] == "dealtype"} >= {"New Business"}
    # Contacts now at each stage, by answer: they add up to the stage's count.
    now: dict[str, float] = defaultdict(float)
    for r in rows:
        if r["kpi"] == "stage_count" and r["dimension"] == HEARD_PROPERTY:
            now[r["stage"]] += r["value"]
    at_stage = {r["stage"]: r["value"] for r in rows if r["kpi"] == "stage_count" and r["dimension"] == "all"}
    assert now and dict(now) == {s: n for s, n in at_stage.items() if n}
    # What people say against what tracking says: per period and answer, the tracked sources
    # add up to the contacts created with that answer.
    crossed: dict[tuple[object, str], float] = defaultdict(float)
    for r in rows:
        if r["kpi"] == "reported_vs_tracked_contacts":
            assert r["dimension"] == HEARD_PROPERTY and r["stage"] and r["stage_label"]
            crossed[(r["period_start"], r["dimension_value"])] += r["value"]
    created = {
        (r["period_start"], r["dimension_value"]): r["value"]
        for r in rows
        if r["kpi"] == "contacts_created" and r["dimension"] == HEARD_PROPERTY and r["value"]
    }
    assert crossed and dict(crossed) == created
    tracked = {r["stage"]: r["stage_label"] for r in rows if r["kpi"] == "reported_vs_tracked_contacts"}
    assert tracked["ORGANIC_SEARCH"] == "Organic Search"
    # A property no object of the portal defines is not a breakdown (and not an error).
    assert not any(r["dimension"] == "numberofemployees" and r["family"] == "funnel" for r in rows)


@pytest.mark.parametrize(
    ("names", "problem"),
    [(["source"], "a built-in breakdown already"), (["How Did You Hear"], "is not a property name")],
)
def test_a_dimension_that_cannot_be_one_is_refused(names, problem, tmp_path):
    with pytest.raises(ConfigurationError, match=problem):
        load_settings(data_dir=tmp_path, kpi={"dimensions": names})
