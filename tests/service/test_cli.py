"""The command line, driven like a user would: exit codes, messages, tables, the demo."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


@pytest.fixture
def env(monkeypatch, tmp_path, sandbox):
    for name in list(__import__("os").environ):
        if name.startswith("FUNNELSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__BASE_URL", sandbox.url)
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__TOKEN", sandbox.token)
    monkeypatch.setenv("FUNNELSYNC_RETRY__MAX_ATTEMPTS", "2")
    monkeypatch.setenv("FUNNELSYNC_RETRY__INITIAL_WAIT_SECONDS", "0.01")
    return tmp_path


def test_sync_then_runs(env, sandbox):
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    result = runner.invoke(app, ["sync", "--stream", "contacts"])
    assert result.exit_code == 0
    assert re.search(r"contacts\s+│\s+incremental", result.output)
    result = runner.invoke(app, ["runs", "--limit", "3"])
    assert result.exit_code == 0 and "hubspot/contacts" in result.output
    assert (env / "data" / "funnelsync.db").is_file()


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


def test_failed_stream_exits_1(env, sandbox):
    sandbox.faults({"kind": "status", "status": 500, "count": 50, "path_prefix": "/crm/v3/objects/deals"})
    result = runner.invoke(app, ["sync", "--stream", "deals"])
    assert result.exit_code == 1 and "failed" in result.output


def test_unknown_stream_and_source_exit_2(env):
    assert runner.invoke(app, ["sync", "--stream", "tickets"]).exit_code == 2
    assert runner.invoke(app, ["sync", "--source", "salesforce"]).exit_code == 2


def test_check_reports_database_health(env, monkeypatch):
    assert runner.invoke(app, ["check"]).exit_code == 0
    monkeypatch.setenv("FUNNELSYNC_DATABASE_URL", "postgresql://nobody:hunter2@127.0.0.1:1/none")
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 1 and "unreachable" in result.output and "hunter2" not in result.output


def test_demo_runs_end_to_end(tmp_path):
    result = runner.invoke(app, ["demo", "--contacts", "400", "--days", "1", "--dir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "Full sync" in result.output and "Day 1" in result.output
    assert "Contacts by current lifecycle stage" in result.output
    assert (tmp_path / "demo" / "funnelsync.db").is_file()


def test_every_command_is_documented():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    names = [c.name or getattr(c.callback, "__name__", "") for c in app.registered_commands]
    names += [g.name for g in app.registered_groups]
    for name in names:
        assert f"funnelsync {name}" in readme + operations, name
