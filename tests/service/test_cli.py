"""The command line, driven like a user would: exit codes, messages, tables, the demo."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from storage import make_engine
from storage.kpis import kpi_values

runner = CliRunner()


@pytest.fixture
def bare_env(monkeypatch, tmp_path, sandbox, db_url):
    """The environment of a user with a sandbox portal and an empty database (on both dialects)."""
    for name in list(__import__("os").environ):
        if name.startswith("FUNNELSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__BASE_URL", sandbox.url)
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__TOKEN", sandbox.token)
    monkeypatch.setenv("FUNNELSYNC_RETRY__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("FUNNELSYNC_RETRY__INITIAL_WAIT_SECONDS", "0.01")
    # 90 days of web analytics and commits in this process, as in tests/conftest.py `make_settings`.
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__ANALYTICS_DAYS", "90")
    monkeypatch.setenv("FUNNELSYNC_STORAGE_WRITER", "inline")
    if db_url.startswith("postgresql"):
        monkeypatch.setenv("FUNNELSYNC_DATABASE_URL", db_url)
    return tmp_path


@pytest.fixture
def env(bare_env):
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0 and "empty → revision" in result.output, result.output
    return bare_env


def test_commands_refuse_a_database_without_the_current_schema(bare_env):
    for command in (["sync"], ["serve"], ["runs"], ["kpis"], ["export"], ["spend", "list"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 5, (command, result.output)
        assert "run `funnelsync migrate` first" in result.output
    assert runner.invoke(app, ["migrate", "--status"]).exit_code == 5
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0 and "already at revision" in result.output
    result = runner.invoke(app, ["migrate", "--status"])
    assert result.exit_code == 0 and "up to date" in result.output
    assert runner.invoke(app, ["runs"]).exit_code == 0


def test_sync_then_runs(env, sandbox, dialect):
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    assert "KPIs:" in result.output  # recomputed and exported after a successful sync
    assert (env / "data" / "exports" / "manifest.json").is_file()
    result = runner.invoke(app, ["sync", "--stream", "contacts"])
    assert result.exit_code == 0
    assert re.search(r"contacts\s+│\s+incremental", result.output)
    result = runner.invoke(app, ["runs", "--limit", "3"])
    assert result.exit_code == 0 and "hubspot/contacts" in result.output
    assert (env / "data" / "funnelsync.db").is_file() == (dialect == "sqlite")


def test_missing_token_exits_2_with_the_variable_name(env, monkeypatch):
    monkeypatch.delenv("FUNNELSYNC_HUBSPOT__TOKEN")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "FUNNELSYNC_HUBSPOT__TOKEN" in result.output


def test_bad_token_exits_4_and_is_never_printed(env, monkeypatch):
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__TOKEN", "pat-na1-wrong-but-secret-9876")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 4
    assert "401" in result.output and "pat-na1-wrong-but-secret-9876" not in result.output
    # One refused credential is reported once, with the request that was refused.
    assert result.output.count("HTTP 401") == 1 and "GET /crm/" in result.output


def test_failed_stream_exits_1(env, sandbox):
    deals = "/crm/objects/2026-09/deals"
    sandbox.faults({"kind": "status", "status": 500, "count": 50, "path_prefix": deals})
    result = runner.invoke(app, ["sync", "--stream", "deals"])
    assert result.exit_code == 1 and "failed" in result.output


def test_an_account_without_marketing_emails_or_analytics_syncs_exits_0_and_refreshes_kpis(env, sandbox):
    """Marketing Hub's endpoints missing (404 as for an account without them): a warning, not a
    failure; the KPIs are computed and exported; the email and web families have no data."""
    for prefix in ("/marketing/", "/analytics/"):
        sandbox.faults(
            {"kind": "status", "status": 404, "count": 1000, "path_prefix": prefix, "body": "json"}
        )
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    assert result.output.count("unavailable") >= 2 and "KPIs:" in result.output
    with (env / "data" / "exports" / "kpis.csv").open() as handle:
        families = {row["family"]: row for row in csv.DictReader(handle) if row["value"]}
    assert {"funnel", "pipeline", "sources"} <= set(families) and "web" not in families
    check = runner.invoke(app, ["check"])
    assert check.exit_code == 0
    assert (
        "hubspot/marketing_emails unavailable" in check.output
        and "hubspot/web_analytics unavailable" in check.output
    )


def test_check_warns_of_endpoints_near_their_end_of_support(env, monkeypatch):
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__API_VERSION", "legacy")
    monkeypatch.delenv("FUNNELSYNC_HUBSPOT__TOKEN")
    for name, value in (
        ("CLIENT_ID", "sandbox-client"),
        ("CLIENT_SECRET", "sandbox-secret"),
        ("REFRESH_TOKEN", "sandbox-refresh"),
    ):
        monkeypatch.setenv(f"FUNNELSYNC_HUBSPOT__{name}", value)
    result = runner.invoke(app, ["check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "warning: /oauth/v1/token: HubSpot's support" in result.output
    assert "set hubspot.api_version to a date version" in result.output
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__API_VERSION", "2026-09")
    result = runner.invoke(app, ["check"], env={"COLUMNS": "200"})
    assert result.exit_code == 0 and "/oauth/" not in result.output


def test_an_api_version_hubspot_does_not_have_is_refused_as_configuration(env, monkeypatch):
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__API_VERSION", "2026-07")
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2 and "api_version" in result.output


def test_unknown_stream_and_source_exit_2(env):
    assert runner.invoke(app, ["sync", "--stream", "tickets"]).exit_code == 2
    assert runner.invoke(app, ["sync", "--source", "salesforce"]).exit_code == 2


def test_check_reports_database_health(env, monkeypatch):
    assert runner.invoke(app, ["check"]).exit_code == 0
    monkeypatch.setenv("FUNNELSYNC_DATABASE_URL", "postgresql://nobody:hunter2@127.0.0.1:1/none")
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1 and "unreachable" in result.output and "hunter2" not in result.output


@pytest.mark.slow
def test_demo_runs_end_to_end_and_its_exports_match_the_kpi_history(tmp_path):
    demo = tmp_path / "demo"
    result = runner.invoke(
        app,
        ["demo", "--contacts", "400", "--days", "1", "--dir", str(demo)],
        env={"COLUMNS": "120"},
        terminal_width=120,
    )
    assert result.exit_code == 0, result.output
    # At 120 columns no table cell breaks a value: no unit, currency or half number on a line of its own.
    for line in result.output.splitlines():
        if line.startswith("│"):
            cells = [cell.strip() for cell in line.split("│")[1:-1]]
            broken = [
                c for c in cells if re.fullmatch(r"(?:[kMG]? ?SEK(?:/day)?|%|d|×)", c) or c.endswith(",")
            ]
            assert not broken, line
    for heading in (
        "Full sync",
        "Day 1",
        "Funnel",
        "Top sources",
        "Sales",
        "win rate",
        "CAC",
        "lead → customer",
        # The seeds' sales from marketing: visits → new contacts → customers → won revenue.
        "Sales from marketing",
        "visit → contact",
        "contact → customer",
        "won revenue",
        "visitor → lead",
        "landing pages (submissions / views)",
        "entry page #1",
        "social: LinkedIn",
        "persona",
        # HubSpot's names of the sources, and why two tables' new contacts may differ.
        "Organic Search",
        "web analytics figures",
        # What people say against what tracking says, and the attribution models side by side.
        "What people say",
        "Won revenue by channel under each attribution model",
        # HubSpot's campaigns: spend, contacts, customers, credited revenue, CAC and ROAS.
        "HubSpot campaigns",
        "All campaigns' spend to date",
        # What we will close, and how wrong the same forecast was.
        "Forecast (error:",
        "Backtest:",
    ):
        assert heading in result.output, heading
    assert re.search(r"lead → customer: \d+\.\d % \(", result.output), (
        "the overall conversion as a percentage"
    )
    manifest = json.loads((demo / "exports" / "manifest.json").read_text())
    assert manifest["schema_version"] == 2
    for entry in manifest["files"]:
        data = (demo / "exports" / entry["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    exported = list(csv.DictReader((demo / "exports" / "kpis.csv").read_text().splitlines()))
    document = json.loads((demo / "exports" / "kpis.json").read_text())
    # Every period row says which period it is and whether it had ended; the last one had not.
    # The forecast's rows are the current period and the three after it.
    periods = sorted(
        {(r["period_start"], r["period_label"], r["complete"]) for r in exported if r["period_start"]}
    )
    ahead = sorted({r["period_label"] for r in exported if r["kpi"] == "forecast_won_revenue"})
    past = [p for p in periods if p[1] not in ahead[1:]]
    assert past[-1][2] == "false" and {c for _, _, c in past[:-1]} == {"true"}
    assert past[-1][1] == ahead[0] and len(ahead) == 4
    assert {c for _, label, c in periods if label in ahead} == {"false"}
    assert all(re.fullmatch(r"\d{4}-\d{2}", label) for _, label, _ in periods)
    # The export schema as a contract: every dimension and column emitted is documented.
    docs = (Path(__file__).resolve().parents[2] / "docs" / "exports.md").read_text()
    dimension_row = next(line for line in docs.splitlines() if line.startswith("| `dimension` |"))
    documented = set(re.findall(r"`([a-z_]+)`", dimension_row.split("|")[3]))
    custom = {"how_did_you_hear_about_us", "industry", "dealtype"}  # the demo's kpi.dimensions
    assert {r["dimension"] for r in exported} - custom <= documented
    assert custom <= {r["dimension"] for r in exported}
    columns = docs.split("## Columns", 1)[1].split("\n## ", 1)[0]
    assert all(f"`{column}`" in columns for column in exported[0])
    assert len(exported) == len(document["values"]) == manifest["files"][0]["rows"] > 0
    engine = make_engine(f"sqlite:///{demo / 'funnelsync.db'}")
    stored = kpi_values(engine, run_id=manifest["run_id"])
    engine.dispose()
    assert len(stored) == len(exported)
    by_key = {(r.kpi, r.stage, r.dimension, r.dimension_value, r.period_end): r for r in stored}
    for row in exported:
        end = datetime.fromisoformat(row["period_end"])
        match = by_key[row["kpi"], row["stage"], row["dimension"], row["dimension_value"], end]
        assert (float(row["value"]) if row["value"] else None) == match.value
    assert not [p for p in (demo / "exports").iterdir() if p.name.startswith(".")]  # no temp files left
    # Believable money: over the grid, marketing ROI in the documented 3–5× (docs/sandbox.md).
    totals = {"spend": 0.0, "closed_won_revenue": 0.0}
    for row in exported:
        if row["kpi"] in totals and row["dimension"] == "all" and row["period_start"] and row["value"]:
            totals[row["kpi"]] += float(row["value"])
    assert 3.0 <= (totals["closed_won_revenue"] - totals["spend"]) / totals["spend"] <= 5.0, totals
    web = list(csv.DictReader((demo / "exports" / "kpis_web.csv").read_text().splitlines()))
    assert {"web_visits", "visit_to_contact_rate", "landing_page_conversion_rate"} <= {r["kpi"] for r in web}


def test_kpis_export_and_spend(env, sandbox):
    assert runner.invoke(app, ["sync"]).exit_code == 0
    spend = env / "spend.csv"
    spend.write_text(
        "period_start,period_end,channel,amount,currency\n"
        "2026-05-01,2026-05-31,PAID_SEARCH,12000,SEK\n2026-05-01,2026-05-31,all,30000,sek\n"
    )
    result = runner.invoke(app, ["spend", "import", str(spend)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["spend", "import", str(spend)]).exit_code == 0  # idempotent
    listed = runner.invoke(app, ["spend", "list"])
    assert listed.output.count("2026-05-01") == 2
    result = runner.invoke(app, ["kpis", "--period", "month", "--from", "2026-03", "--to", "2026-05"])
    assert result.exit_code == 0, result.output
    assert "2026-05" in result.output and "win_rate" in result.output and "open_pipeline" in result.output
    result = runner.invoke(app, ["kpis", "--source", "PAID_SEARCH", "--output", "csv", "--period", "quarter"])
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows and {r["dimension_value"] for r in rows} == {"PAID_SEARCH"}
    assert any(r["kpi"] == "spend" and float(r["value"]) == 12000 for r in rows)
    result = runner.invoke(app, ["export", "--out", str(env / "out")])
    assert result.exit_code == 0, result.output
    assert (env / "out" / "manifest.json").is_file() and (env / "out" / "kpis_funnel.csv").is_file()
    assert runner.invoke(app, ["kpis", "--from", "2026-13"]).exit_code == 2


def test_kpis_as_of_and_prune(env, sandbox):
    assert runner.invoke(app, ["sync"]).exit_code == 0
    before = runner.invoke(app, ["kpis", "--as-of", "2026-06-01T12:00:00", "--output", "json"])
    assert before.exit_code == 0, before.output
    sandbox.admin("POST", "/_sandbox/simulate", json={"days": 2, "stage_changes": 40, "deals_won": 5})
    assert runner.invoke(app, ["sync"]).exit_code == 0
    again = runner.invoke(app, ["kpis", "--as-of", "2026-06-01T12:00:00", "--output", "json"])

    def stage_counts(output: str) -> dict[str, float]:
        return {
            r["stage"]: r["value"]
            for r in json.loads(output)
            if r["kpi"] == "stage_count" and r["dimension"] == "all"
        }

    assert stage_counts(again.output) == stage_counts(before.output)
    # A date means the end of that day in the reporting time zone.
    day = runner.invoke(app, ["kpis", "--as-of", "2026-05-31", "--output", "json"])
    ends = {r["period_end"] for r in json.loads(day.output) if r["kpi"] == "stage_count"}
    assert ends == {"2026-05-31T23:59:59.999999+00:00"}  # a snapshot is dated as of its instant
    result = runner.invoke(app, ["prune", "--older-than", "0", "--dry-run"])
    planned = re.search(r"would delete (\d+) raw payload version", result.output)
    assert result.exit_code == 0 and planned and int(planned[1]) >= 45, result.output  # 40 contacts, 5 deals…
    result = runner.invoke(app, ["prune", "--older-than", "0"])
    assert f"deleted {planned[1]} raw payload version(s)" in result.output
    assert "deleted 0 " in runner.invoke(app, ["prune"]).output
    assert runner.invoke(app, ["prune", "--older-than", "-1"]).exit_code == 2


def test_bad_spend_file_lists_every_problem_with_its_line(env):
    bad = env / "bad.csv"
    bad.write_text(
        "period_start,period_end,channel,amount,currency\n"
        "2026-05-01,2026-05-31,PAID_SEARCH,12k,SEK\n"
        "2026-05-31,2026-05-01,all,100,SEK\n"
        "May,2026-05-31,all,100,SEKK\n"
    )
    result = runner.invoke(app, ["spend", "import", str(bad)])
    assert result.exit_code == 2
    for line in ("line 2: amount", "line 3: period_end", "line 4: period_start", "line 4: currency"):
        assert line in result.output, line
    (env / "cols.csv").write_text("start,amount\n")
    result = runner.invoke(app, ["spend", "import", str(env / "cols.csv")])
    assert result.exit_code == 2 and "missing column" in result.output


def test_every_command_is_documented():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    names = [c.name or getattr(c.callback, "__name__", "") for c in app.registered_commands]
    names += [g.name for g in app.registered_groups]
    for name in names:
        assert f"funnelsync {name}" in readme + operations, name


@pytest.mark.slow
def test_several_named_connections_sync_into_one_database_keyed_by_connection(
    bare_env, make_sandbox, monkeypatch, db_url
):
    from sqlalchemy import func, select

    from storage.db import table_of
    from storage.models import HubSpotContact

    acme, beta = make_sandbox(contacts=120, seed=1), make_sandbox(contacts=80, seed=2)
    for name in ("FUNNELSYNC_HUBSPOT__BASE_URL", "FUNNELSYNC_HUBSPOT__TOKEN"):
        monkeypatch.delenv(name)
    (bare_env / "funnelsync.toml").write_text(
        f'[connections.acme.hubspot]\nbase_url = "{acme.url}"\ntoken = "{acme.token}"\nanalytics_days = 90\n'
        f'[connections.beta.hubspot]\nbase_url = "{beta.url}"\nanalytics_days = 90\n'
    )
    monkeypatch.setenv("FUNNELSYNC_CONNECTIONS__BETA__HUBSPOT__TOKEN", beta.token)  # env fills in the file
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    assert "connection acme" in result.output and "connection beta" in result.output
    engine = make_engine(
        db_url if db_url.startswith("postgresql") else f"sqlite:///{bare_env / 'data' / 'funnelsync.db'}"
    )
    contacts = table_of(HubSpotContact)
    with engine.connect() as conn:
        counts: dict[str, int] = dict(
            conn.execute(select(contacts.c.connection, func.count()).group_by(contacts.c.connection)).all()
        )
    engine.dispose()
    assert counts == {
        "acme": len(acme.store.objects["contacts"]),
        "beta": len(beta.store.objects["contacts"]),
    }
    for name in ("acme", "beta"):
        assert (bare_env / "data" / "exports" / name / "manifest.json").is_file()
    # One connection at a time where a command is about one.
    result = runner.invoke(app, ["kpis"])
    assert result.exit_code == 2 and "choose one with --connection" in result.output
    assert runner.invoke(app, ["kpis", "--connection", "beta"]).exit_code == 0
    assert runner.invoke(app, ["kpis", "--connection", "gamma"]).exit_code == 2
    result = runner.invoke(app, ["runs", "--limit", "50"])
    assert "acme/hubspot/contacts" in result.output and "beta/hubspot/contacts" in result.output
    result = runner.invoke(app, ["sync", "--connection", "beta", "-s", "contacts"])
    assert result.exit_code == 0 and "connection acme" not in result.output


def run_main(args: list[str], capsys, monkeypatch) -> tuple[int, str]:
    """`funnelsync ARGS` through the console-script entry point (its error mapping included):
    (exit code, everything printed)."""
    from service.cli import main

    monkeypatch.setattr("sys.argv", ["funnelsync", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)  # the database is not what is tested
@pytest.mark.parametrize(
    ("toml", "env", "needle"),
    [
        ("[hubspot\n", {}, "not valid UTF-8 TOML"),
        (b"\xff\xfe[hubspot]", {}, "not valid UTF-8 TOML"),
        (
            "bogus_key = 1\n[hubspot]\ntokn = 'x'\n",
            {},
            "hubspot.tokn: unknown setting (did you mean 'token'?)",
        ),
        (
            None,
            {"FUNNELSYNC_HUBSPT__TOKEN": "x"},
            "FUNNELSYNC_HUBSPT__TOKEN: unknown setting (did you mean FUNNELSYNC_HUBSPOT?)",
        ),
        (None, {"FUNNELSYNC_KPI__FUNNEL_STAGES": "[lead,"}, "FUNNELSYNC_KPI__FUNNEL_STAGES: not valid JSON"),
        (
            None,
            {"FUNNELSYNC_HUBSPOT__TOKEN": "pat-1\nsecond-line"},
            "hubspot.token: contains a control character",
        ),
        (None, {"FUNNELSYNC_DATABASE_URL": "mysql://u@h/db"}, "database_url: 'mysql' is not supported"),
        (None, {"FUNNELSYNC_DATABASE_URL": "::garbled::"}, "database_url: not a database URL"),
        (None, {"FUNNELSYNC_EXPORT_MODE": "777"}, "export_mode"),
    ],
)
def test_bad_configuration_is_one_line_naming_the_setting_and_exit_2(
    bare_env, capsys, monkeypatch, toml, env, needle
):
    if toml is not None:
        path = bare_env / "funnelsync.toml"
        path.write_bytes(toml if isinstance(toml, bytes) else toml.encode())
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for command in (["check"], ["sync"], ["runs"]):
        code, output = run_main(command, capsys, monkeypatch)
        assert code == 2 and needle in output and "Traceback" not in output, (command, output)
        assert output.count("error:") == 1 and "pat-1" not in output


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)  # the database is not what is tested
def test_no_credentials_at_all_fail_check(bare_env, capsys, monkeypatch):
    monkeypatch.delenv("FUNNELSYNC_HUBSPOT__TOKEN")
    code, output = run_main(["check"], capsys, monkeypatch)
    assert code == 2 and "no source has credentials" in output


def test_check_verifies_the_credential_with_one_request(env, sandbox, capsys, monkeypatch):
    code, output = run_main(["check"], capsys, monkeypatch)
    assert (
        code == 0 and "ok: default/hubspot credential accepted (GET /crm/owners/2026-09 answered)" in output
    )
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__TOKEN", "pat-wrong-token")
    code, output = run_main(["check"], capsys, monkeypatch)
    assert code == 4 and "the credential was refused" in output and "pat-wrong-token" not in output


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)  # the URL under test is set below
@pytest.mark.parametrize("command", [["migrate"], ["sync"], ["serve"], ["runs"], ["kpis"], ["export"]])
@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("postgresql://funnelsync:pw-Secret-1@127.0.0.1:1/none", "Connection refused"),
        ("sqlite:///{dir}/not-a-db.sqlite", "file is not a database"),
    ],
)
def test_an_unusable_database_is_one_line_and_exit_1_for_every_command(
    bare_env, capsys, monkeypatch, command, url, needle
):
    (bare_env / "not-a-db.sqlite").write_text("this is not a database\n" * 100)
    monkeypatch.setenv("FUNNELSYNC_DATABASE_URL", url.format(dir=bare_env))
    code, output = run_main(command, capsys, monkeypatch)
    assert code == 1 and needle in output and "Traceback" not in output, output
    assert "pw-Secret-1" not in output


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)  # the database is not what is tested
def test_a_data_directory_that_cannot_be_made_is_one_line(bare_env, capsys, monkeypatch):
    monkeypatch.delenv("FUNNELSYNC_DATABASE_URL", raising=False)  # the SQLite file under data_dir
    (bare_env / "a-file").write_text("")
    monkeypatch.setenv("FUNNELSYNC_DATA_DIR", str(bare_env / "a-file" / "data"))
    code, output = run_main(["migrate"], capsys, monkeypatch)
    assert code == 1 and "Not a directory" in output and "Traceback" not in output


def test_a_binary_spend_file_is_refused_in_one_line(env, capsys, monkeypatch):
    (env / "spend.csv").write_bytes(bytes(range(256)) * 4)
    code, output = run_main(["spend", "import", "spend.csv"], capsys, monkeypatch)
    assert code == 2 and "not UTF-8 text" in output and "Traceback" not in output


def test_the_sqlite_database_and_its_journal_are_private(bare_env, monkeypatch):
    """They hold contacts' names and emails: 0600 like the exports and the token file."""
    monkeypatch.delenv("FUNNELSYNC_DATABASE_URL", raising=False)
    env = bare_env
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["sync", "--stream", "contacts"])
    assert result.exit_code == 0, result.output
    engine = make_engine(f"sqlite:///{env / 'data' / 'funnelsync.db'}")
    with engine.begin() as conn:  # an open writer keeps the -wal and -shm files there
        conn.exec_driver_sql("UPDATE sync_state SET updated_at = updated_at")
        files = sorted(p.name for p in (env / "data").glob("funnelsync.db*"))
        modes = {p.stat().st_mode & 0o777 for p in (env / "data").glob("funnelsync.db*")}
    engine.dispose()
    assert files == ["funnelsync.db", "funnelsync.db-shm", "funnelsync.db-wal"] and modes == {0o600}


@pytest.mark.slow
@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_a_full_disk_ends_the_sync_in_one_line_and_the_next_run_resumes(make_sandbox, db_url, tmp_path):
    """The database file may not grow past a limit (RLIMIT_FSIZE: writes fail as on a full disk):
    one line, exit 1, what was committed kept; the next run without the limit completes."""
    import resource
    import signal

    from storage.models import HubSpotContact
    from tests.service.procs import process_env, run_funnelsync

    sandbox = make_sandbox(contacts=3000)
    env = process_env(tmp_path, db_url, sandbox, storage_writer="inline")
    assert run_funnelsync(env, "migrate").returncode == 0
    size = Path(str(make_engine(db_url).url.database)).stat().st_size

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 600_000, size + 600_000))

    full = run_funnelsync(env, "sync", "--stream", "contacts", preexec_fn=small_disk)
    output = full.stdout + full.stderr
    assert full.returncode == 1 and "Traceback" not in output, output[-3000:]
    assert "error: writing to the database failed" in output and "the next run resumes" in output
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            kept = conn.exec_driver_sql(f"SELECT count(*) FROM {HubSpotContact.__tablename__}").scalar_one()
        again = run_funnelsync(env, "sync", "--stream", "contacts")
        assert again.returncode == 0, again.stdout[-2000:]
        with engine.connect() as conn:
            stored = conn.exec_driver_sql(f"SELECT count(*) FROM {HubSpotContact.__tablename__}").scalar_one()
    finally:
        engine.dispose()
    assert 0 <= kept < 3000 and stored == 3000


def test_version_prints_the_installed_version():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"funnelsync {version('funnelsync')}"


@pytest.mark.parametrize("command", ["sync", "resync"])
def test_help_at_80_columns_lists_every_stream(command):
    from connector.sources import SOURCES

    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    flat = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 0 and "--stream" in flat
    for source in SOURCES.values():
        assert all(name in flat for name in source.stream_names())


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.234, "share", "23.4 %"),
        (0.05, "rate", "5.0 %"),
        (4.1, "multiple", "4.10×"),
        (12.5, "days", "12.5 d"),
        (1234, "count", "1,234"),
        (2.5, "years", "2.50"),
        (1_250_000, "money:SEK", "1.2M SEK"),
        (950, "money_per_day:EUR", "950 EUR/day"),
        (None, "share", "–"),
    ],
)
def test_every_unit_is_shown_the_way_a_reader_expects(value, unit, shown):
    from kpi.model import UNITS
    from service.report import fmt

    assert unit.split(":")[0] in UNITS and fmt(value, unit) == shown


def test_an_unknown_unit_is_refused_not_shown_as_money():
    from service.report import fmt

    with pytest.raises(ValueError, match="unknown unit"):
        fmt(0.5, "ratio")
