"""OAuth through a whole sync: the refreshed token is kept in a private file and reused."""

from __future__ import annotations

import json
import stat

import pytest
from pydantic import SecretStr

from config import ConfigurationError
from connector.auth import OAuthToken
from service.sync import build_sync
from service.tokens import FileTokenStore

OAUTH = {
    "token": None,
    "client_id": "sandbox-client",
    "client_secret": "sandbox-secret",
    "refresh_token": "sandbox-refresh",
}


def test_oauth_sync_keeps_its_token_in_a_private_file_and_reuses_it(
    sandbox, clock, make_settings, engine, db_url, tmp_path
):
    settings = make_settings(db_url, **OAUTH)
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run(full=True)
    assert all(o.status == "succeeded" for o in outcomes)
    path = settings.data_dir / "tokens" / "hubspot-default.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert stored["access_token"].startswith("sandbox-oauth-") and "sandbox-refresh" not in stored["origin"]
    # The next run (a new process would do the same) uses the stored token.
    sandbox.store.clock.advance(600)
    build_sync("hubspot", settings, engine, clock=clock).run()
    assert sandbox.stats()["oauth:token"] == 1
    # Past its lifetime, the next run refreshes first and never sends an expired token.
    sandbox.store.clock.advance(1800)
    build_sync("hubspot", settings, engine, clock=clock).run()
    assert sandbox.stats()["oauth:token"] == 2 and sandbox.stats().get("401", 0) == 0


def test_a_refused_refresh_fails_the_run_without_leaking_secrets(
    sandbox, clock, make_settings, engine, db_url
):
    settings = make_settings(db_url, **{**OAUTH, "refresh_token": "revoked-refresh-token"})
    outcomes = build_sync("hubspot", settings, engine, clock=clock).run()
    assert outcomes[0].status == "failed" and {o.status for o in outcomes[1:]} == {"skipped"}
    error = outcomes[0].error or ""
    assert "BAD_REFRESH_TOKEN" in error
    assert "revoked-refresh-token" not in error and "sandbox-secret" not in error


@pytest.mark.parametrize(
    ("hub", "message"),
    [
        ({"client_id": "x"}, "FUNNELSYNC_HUBSPOT__CLIENT_SECRET, FUNNELSYNC_HUBSPOT__REFRESH_TOKEN"),
        ({**OAUTH, "token": "pat-1"}, "keep one"),
        ({}, "No HubSpot credentials"),
    ],
)
def test_credentials_are_checked_with_one_clear_line(hub, message):
    from config import load_settings

    with pytest.raises(ConfigurationError, match=message):
        load_settings(hubspot=hub).require_hubspot_auth()


def test_a_token_grown_from_another_refresh_token_is_ignored(tmp_path):
    from datetime import UTC, datetime

    path = tmp_path / "t.json"
    token = OAuthToken(SecretStr("a"), SecretStr("r"), datetime(2026, 1, 1, tzinfo=UTC))
    FileTokenStore(path, SecretStr("first")).save(token)
    assert FileTokenStore(path, SecretStr("first")).load() == token
    assert FileTokenStore(path, SecretStr("re-authorised")).load() is None
    path.write_text("{not json")
    assert FileTokenStore(path, SecretStr("first")).load() is None
