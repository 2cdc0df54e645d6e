"""As-of KPIs from the snapshot history: after the CRM has moved on, the snapshot KPIs as of an
earlier instant are what they were at that instant (SQLite and PostgreSQL, real sandbox syncs)."""

from __future__ import annotations

from datetime import timedelta

from service.kpis import compute_kpis
from service.sync import build_sync

# KPIs that describe a moment (no period): they need the values records had then.
SNAPSHOT = ("stage_count", "open_deals", "open_pipeline", "weighted_pipeline", "deals_missing_amount")


def snapshot(report):
    return {
        (r["kpi"], r["stage"], r["dimension"], r["dimension_value"]): r["value"]
        for r in report.rows()
        if r["kpi"] in SNAPSHOT
    }


def test_snapshot_kpis_as_of_an_earlier_instant_survive_later_changes(
    sandbox, make_settings, engine, db_url, clock
):
    settings = make_settings(db_url)
    assert all(
        o.status == "succeeded" for o in build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    )
    first_sync = clock.now()
    then = snapshot(compute_kpis(settings, engine, as_of=first_sync))
    assert then[("stage_count", "lead", "all", "all")] > 0 and then[("open_deals", "", "all", "all")] > 0

    changed = sandbox.admin(
        "POST",
        "/_sandbox/simulate",
        json={
            "days": 3,
            "new_contacts": 20,
            "stage_changes": 60,
            "deals_created": 10,
            "deals_won": 8,
            "deals_lost": 6,
            "archive": 5,
        },
    )
    assert changed["stage_changes"] and changed["deals_won"] and changed["archived"]
    assert all(o.status == "succeeded" for o in build_sync("hubspot", settings, engine, clock=clock).run())

    now = snapshot(compute_kpis(settings, engine, as_of=clock.now()))
    assert now != then  # the CRM did move on
    assert snapshot(compute_kpis(settings, engine, as_of=first_sync)) == then
    # Between the two syncs (before any change happened) it is the same picture.
    assert snapshot(compute_kpis(settings, engine, as_of=first_sync + timedelta(seconds=1))) == then
