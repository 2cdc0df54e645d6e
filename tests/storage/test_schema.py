"""Alembic migrations on SQLite (batch mode) and PostgreSQL: upgrades from the first revision end
at the models' schema, a fresh database matches too, and old, newer or missing schemas are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import func, select, text

from storage import SchemaError, make_engine, migrate, require_current
from storage.db import table_of
from storage.models import HubSpotContactVersion, HubSpotDealVersion
from storage.schema import BASELINE, alembic_config, drift, head_revision, schema_status
from tests.conftest import fresh_database


@pytest.fixture
def bare(db_url):
    """An empty database (no migrate)."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def upgrade(engine, revision: str) -> None:
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def test_upgrading_from_the_first_revision_ends_at_the_models_schema(bare, tmp_path, request):
    upgrade(bare, BASELINE)
    assert schema_status(bare).current == BASELINE
    assert migrate(bare) == (BASELINE, head_revision())
    assert drift(bare) == []
    require_current(bare)
    # The views too: a database the revisions built has those a fresh one gets (the models do
    # not describe views, so `drift` cannot see a revision that forgot one).
    with fresh_database(
        request, bare.dialect.name.replace("postgresql", "postgres"), tmp_path, "fresh.db"
    ) as url:
        fresh = make_engine(url)
        try:
            migrate(fresh)
            assert {k: v for k, v in shape(bare).items() if k.startswith("view ")} == {
                k: v for k, v in shape(fresh).items() if k.startswith("view ")
            }
        finally:
            fresh.dispose()


def test_a_fresh_database_is_created_at_head_without_drift(bare):
    assert migrate(bare) == (None, head_revision())
    assert drift(bare) == []
    assert migrate(bare) == (head_revision(), head_revision())  # re-running changes nothing


def test_upgrading_keeps_the_data_and_starts_history_from_it(bare):
    upgrade(bare, BASELINE)
    modified = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with bare.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO hubspot_contacts (connection, id, archived, lifecyclestage_known, raw, "
                "lifecyclestage, lastmodifieddate) VALUES ('c', '1', false, true, '{}', 'lead', :at), "
                "('c', '2', false, true, '{}', 'customer', NULL)"
            ),
            {"at": modified if bare.dialect.name == "postgresql" else "2026-03-01 09:30:00.000000"},
        )
        conn.execute(
            text(
                "INSERT INTO hubspot_deals (connection, id, archived, raw, dealstage, amount) "
                "VALUES ('c', 'd', false, '{}', 'closedwon', 5.5)"
            )
        )
    migrate(bare)
    with bare.connect() as conn:
        versions = table_of(HubSpotContactVersion)
        rows = conn.execute(
            select(versions.c.record_id, versions.c.lifecyclestage, versions.c.valid_from).order_by(
                versions.c.record_id
            )
        ).all()
        deals = conn.execute(select(func.count()).select_from(table_of(HubSpotDealVersion))).scalar_one()
    assert rows[0] == ("1", "lead", modified)
    assert rows[1][:2] == ("2", "customer") and rows[1][2] is not None
    assert deals == 1


def test_a_database_made_before_versioning_is_stamped_then_upgraded(bare):
    upgrade(bare, BASELINE)
    with bare.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    with pytest.raises(SchemaError, match="predates schema versioning"):
        require_current(bare)
    assert migrate(bare) == (None, head_revision())
    assert drift(bare) == []


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        pytest.param(lambda e: None, "no funnelsync schema yet: run `funnelsync migrate` first", id="empty"),
        pytest.param(
            lambda e: upgrade(e, BASELINE), f"at revision {BASELINE}, this funnelsync needs", id="older"
        ),
    ],
)
def test_missing_or_older_schemas_are_refused(bare, prepare, message):
    prepare(bare)
    with pytest.raises(SchemaError, match=message):
        require_current(bare)


def test_a_newer_schema_is_refused_and_not_migrated(bare):
    migrate(bare)
    with bare.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaError, match="newer than this funnelsync knows"):
        require_current(bare)
    with pytest.raises(SchemaError, match="refusing to migrate"):
        migrate(bare)


def test_the_revisions_form_one_line():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    assert len(script.get_heads()) == 1
    assert [s.revision for s in script.walk_revisions()][-1] == BASELINE


def shape(engine) -> dict[str, tuple[list[str], list[str]]]:
    """Every table's columns and indexes (name and columns), every view's columns (what a
    downgrade must give back)."""
    from sqlalchemy import inspect

    seen = inspect(engine)
    tables = {
        table: (
            sorted(c["name"] for c in seen.get_columns(table)),
            sorted(f"{i['name']}{tuple(map(str, i['column_names']))}" for i in seen.get_indexes(table)),
        )
        for table in sorted(seen.get_table_names())
        if table != "alembic_version"
    }
    views: dict[str, tuple[list[str], list[str]]] = {
        f"view {v}": (sorted(c["name"] for c in seen.get_columns(v)), []) for v in seen.get_view_names()
    }
    return {**tables, **views}


def downgrade(engine, revision: str) -> None:
    with engine.begin() as conn:
        command.downgrade(alembic_config(conn), revision)


def test_every_revision_downgrades_to_the_schema_before_it(bare):
    """Up one revision at a time from nothing, then down again: each downgrade gives back the
    schema its predecessor built, down to no tables at all; upgrading again ends without drift."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    revisions = [s.revision for s in reversed(list(script.walk_revisions()))]
    assert revisions[0] == BASELINE and revisions[-1] == head_revision()
    shapes = [shape(bare)]
    for revision in revisions:
        upgrade(bare, revision)
        shapes.append(shape(bare))
    assert shapes[0] == {} and len({repr(s) for s in shapes}) == len(shapes)  # each one changes it
    for index in range(len(revisions), 0, -1):
        downgrade(bare, "-1")
        assert shape(bare) == shapes[index - 1], f"downgrade of {revisions[index - 1]}"
    assert schema_status(bare).current is None
    assert migrate(bare)[1] == head_revision() and drift(bare) == []


def test_revision_0005_clears_the_empty_date_findings_earlier_versions_wrote(bare):
    """HubSpot's "" for a cleared date is no value now: the findings of earlier versions go, others stay."""
    upgrade(bare, "0004")
    columns = "connection, source, stream, record_id, field, raw_value, reason, detected_at"
    with bare.begin() as conn:
        for record_id, raw, reason in (
            ("1", "", "empty string where a date was expected"),
            ("2", "next tuesday", "unparseable date"),
        ):
            conn.execute(
                text(
                    f"INSERT INTO quarantine ({columns}) VALUES "
                    "('c', 'hubspot', 'deals', :id, 'closedate', :raw, :reason, :at)"
                ),
                {"id": record_id, "raw": raw, "reason": reason, "at": datetime(2026, 11, 1, tzinfo=UTC)},
            )
    migrate(bare)
    with bare.connect() as conn:
        left = conn.execute(text("SELECT record_id, reason FROM quarantine")).all()
    assert [tuple(r) for r in left] == [("2", "unparseable date")]
