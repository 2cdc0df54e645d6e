"""KPI rows carry HubSpot's names beside the codes they are keyed by, as synced when the KPIs were
computed: lifecycle and deal stages, pipelines, owners, sources, personas, email names."""

from __future__ import annotations

import csv

from service.kpis import run_kpis
from service.sync import build_sync
from storage.kpis import kpi_rows


def rows_of(engine, report):
    assert report.run_id is not None
    return kpi_rows(engine, run_id=report.run_id)


def test_rows_carry_labels_and_a_renamed_stage_shows_its_new_name(
    sandbox, clock, make_settings, engine, db_url, tmp_path
):
    settings = make_settings(db_url)
    build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    first = run_kpis(settings, engine, trigger="test", clock=clock, out_dir=tmp_path / "exports")
    rows = rows_of(engine, first)

    def label(kpi, *, stage=None, dimension=None, value=None):
        found = {
            (r["stage_label"], r["dimension_label"])
            for r in rows
            if r["kpi"] == kpi
            and (stage is None or r["stage"] == stage)
            and (dimension is None or r["dimension"] == dimension)
            and (value is None or r["dimension_value"] == value)
        }
        assert found, (kpi, stage, dimension, value)
        return found

    assert label("stage_count", stage="marketingqualifiedlead", dimension="all") == {
        ("Marketing Qualified Lead", "all")
    }
    assert label("stage_conversion", stage="lead>customer", dimension="all") == {("Lead → Customer", "all")}
    assert {d for _, d in label("contacts_created", dimension="source", value="SOCIAL_MEDIA")} == {
        "Organic Social"
    }
    owners = {r["dimension_value"]: r["dimension_label"] for r in rows if r["dimension"] == "owner"}
    truth = {str(o["id"]): f"{o['firstName']} {o['lastName']}" for o in sandbox.store.owners}
    assert owners and all(truth[code] == name for code, name in owners.items())
    pipelines = {r["dimension_value"]: r["dimension_label"] for r in rows if r["dimension"] == "pipeline"}
    assert pipelines and all(name != code for code, name in pipelines.items())
    steps = {r["stage"]: r["stage_label"] for r in rows if r["family"] == "deal_stages" and ">" in r["stage"]}
    assert steps and all(" → " in name and ">" not in name for name in steps.values())
    emails = {r["dimension_value"]: r["dimension_label"] for r in rows if r["dimension"] == "email"}
    names = {f"hubspot:{e['id']}": e["name"] for e in sandbox.store.emails}
    assert emails and all(names[code] == name for code, name in emails.items())
    with (tmp_path / "exports" / "kpis.csv").open() as handle:
        exported = list(csv.DictReader(handle))
    assert {"stage_label", "dimension_label"} <= set(exported[0])

    # HubSpot renames a lifecycle stage: the next computation shows the new name, the old one keeps its own.
    props = sandbox.store.lifecycle_options
    index = next(i for i, (value, _) in enumerate(props) if value == "marketingqualifiedlead")
    props[index] = ("marketingqualifiedlead", "Marketing Qualified")
    build_sync("hubspot", settings, engine, clock=clock).run(streams=["properties"], full=True)
    second = run_kpis(settings, engine, trigger="test", clock=clock)
    renamed = {
        r["stage_label"]
        for r in rows_of(engine, second)
        if r["kpi"] == "stage_count" and r["stage"] == "marketingqualifiedlead"
    }
    assert renamed == {"Marketing Qualified"}
    kept = {
        r["stage_label"]
        for r in rows_of(engine, first)
        if r["kpi"] == "stage_count" and r["stage"] == "marketingqualifiedlead"
    }
    assert kept == {"Marketing Qualified Lead"}
