"""The views BI tools read (migrations 0007 and 0009), on SQLite and PostgreSQL: the latest values,
and one wide table per family with a column per KPI, each row with its period's label and whether
that period had ended."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import text

from service.kpis import run_kpis
from service.sync import build_sync
from storage.kpis import kpi_rows


def test_the_latest_values_a_wide_table_per_family_and_the_documented_queries(
    sandbox, clock, make_settings, engine, db_url
):
    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    run_kpis(settings, engine, trigger="test", clock=clock)
    report = run_kpis(settings, engine, trigger="test", clock=clock)  # the latest of two
    assert report.run_id is not None
    stored = kpi_rows(engine, run_id=report.run_id)
    with engine.connect() as conn:
        latest = conn.execute(text("SELECT run_id, count(*) FROM kpi_latest GROUP BY run_id")).all()
        pipeline = conn.execute(
            text(
                "SELECT period_start, period_label, complete, dimension_label, deals_won, win_rate, "
                "closed_won_revenue "
                "FROM kpi_pipeline WHERE dimension = 'all' AND stage = '' AND period_start IS NOT NULL "
                "ORDER BY period_start"
            )
        ).all()
        funnel = conn.execute(
            text(
                "SELECT stage_label, stage_conversion FROM kpi_funnel "
                "WHERE dimension = 'all' AND stage = 'lead>customer' AND stage_conversion IS NOT NULL"
            )
        ).all()
    assert [tuple(r) for r in latest] == [(report.run_id, len(stored))]
    # The wide rows, period by period, hold the same values as the long ones.
    by_period: dict[object, dict[str, object]] = {}
    for r in stored:
        if r["family"] == "pipeline" and r["dimension"] == "all" and r["stage"] == "" and r["period_start"]:
            by_period.setdefault(r["period_start"], {})[r["kpi"]] = r["value"]
    expected = [
        (k["deals_won"], k.get("win_rate"), k["closed_won_revenue"]) for _, k in sorted(by_period.items())
    ]
    assert pipeline and all(row.dimension_label == "all" for row in pipeline)
    assert [(r.deals_won, r.win_rate, r.closed_won_revenue) for r in pipeline] == expected
    assert funnel and {r.stage_label for r in funnel} == {"Lead → Customer"}
    # Labels and completeness as the exports have them: the portal's clock is 1 June, noon.
    assert [r.period_label for r in pipeline][-2:] == ["2026-05", "2026-06"]
    assert [bool(r.complete) for r in pipeline] == [True] * (len(pipeline) - 1) + [False]
    with engine.connect() as conn:
        snapshots = conn.execute(
            text("SELECT period_label, complete FROM kpi_latest WHERE period_start IS NULL")
        ).all()
    assert snapshots and {(r.period_label, bool(r.complete)) for r in snapshots} == {("", True)}
    # Every query of docs/bi.md runs on this database and finds rows.
    docs = (Path(__file__).resolve().parents[2] / "docs" / "bi.md").read_text()
    queries = re.findall(r"```sql\n(.+?)```", docs, flags=re.S)
    assert len(queries) >= 4
    with engine.connect() as conn:
        for query in queries:
            assert conn.execute(text(query)).all(), query
