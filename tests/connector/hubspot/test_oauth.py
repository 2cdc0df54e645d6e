"""OAuth 2.0 against the sandbox's token endpoint: refresh before expiry, on EXPIRED_AUTHENTICATION,
once for many threads, clear errors for refused refreshes and missing scopes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from pydantic import SecretStr

from config import HubSpotSettings, RetrySettings
from connector.auth import MemoryTokenStore, OAuthToken
from connector.errors import AuthenticationError, MalformedResponseError, PermissionDeniedError
from connector.hubspot.auth import OAuthAuth
from connector.hubspot.client import HubSpotClient

CONTACTS = "/crm/v3/objects/contacts"


def oauth_client(sandbox, clock, *, store=None, refresh_token="sandbox-refresh", secret="sandbox-secret"):
    auth = OAuthAuth(
        client_id="sandbox-client",
        client_secret=SecretStr(secret),
        refresh_token=SecretStr(refresh_token),
        token_path="/oauth/v1/token",
        clock=clock,
        store=store,
    )
    settings = HubSpotSettings(base_url=sandbox.url)
    retry = RetrySettings(max_attempts=3, jitter_seconds=0)
    return auth, HubSpotClient(settings, auth=auth, retry=retry, clock=clock)


def test_first_request_gets_a_token_and_later_ones_reuse_it(sandbox, clock):
    store = MemoryTokenStore()
    auth, client = oauth_client(sandbox, clock, store=store)
    with client:
        for _ in range(3):
            client.get(CONTACTS, params={"limit": 1})
    assert auth.refreshes == 1 and sandbox.stats()["oauth:token"] == 1
    saved = store.load()
    assert saved is not None and saved.expires_at == clock.now() + timedelta(seconds=1800)


def test_refreshes_before_the_token_expires(sandbox, clock):
    auth, client = oauth_client(sandbox, clock)
    with client:
        client.get(CONTACTS, params={"limit": 1})
        sandbox.store.clock.advance(1800 - 240)  # inside the 5-minute margin
        client.get(CONTACTS, params={"limit": 1})
    assert auth.refreshes == 2
    assert sandbox.stats().get("401", 0) == 0  # never sent an expired token


def test_expired_authentication_answer_refreshes_and_repeats_the_request(sandbox, clock):
    """A token that dies early (revoked, or a clock we cannot trust): one refresh, same request again."""
    store = MemoryTokenStore()
    auth, client = oauth_client(sandbox, clock, store=store)
    with client:
        client.get(CONTACTS, params={"limit": 1})
        sandbox.state.oauth_tokens.update(dict.fromkeys(sandbox.state.oauth_tokens, clock.now()))
        body = client.get(CONTACTS, params={"limit": 2})
    assert len(body["results"]) == 2
    assert auth.refreshes == 2 and sandbox.stats()["401"] == 1


def test_many_threads_share_one_refresh(sandbox, clock):
    auth, client = oauth_client(sandbox, clock)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                client.get(CONTACTS, params={"limit": 1})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    with client:
        client.get(CONTACTS, params={"limit": 1})
        sandbox.store.clock.advance(1800)  # every thread finds the token expired
        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert auth.refreshes == 2 and sandbox.stats()["oauth:token"] == 2


def test_a_stored_token_is_used_without_refreshing(sandbox, clock):
    store = MemoryTokenStore()
    first, client = oauth_client(sandbox, clock, store=store)
    with client:
        client.get(CONTACTS, params={"limit": 1})
    second, client = oauth_client(sandbox, clock, store=store)
    with client:
        client.get(CONTACTS, params={"limit": 1})
    assert first.refreshes == 1 and second.refreshes == 0


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"refresh_token": "revoked-token"}, "BAD_REFRESH_TOKEN"),
        ({"secret": "wrong-secret"}, "BAD_CLIENT_SECRET"),
    ],
)
def test_a_refused_refresh_is_fatal_clear_and_secret_free(sandbox, clock, kwargs, reason):
    _, client = oauth_client(sandbox, clock, **kwargs)
    with client, pytest.raises(AuthenticationError) as info:
        client.get(CONTACTS)
    message = str(info.value)
    assert reason in message and "FUNNELSYNC_HUBSPOT__REFRESH_TOKEN" in message
    assert "revoked-token" not in message and "wrong-secret" not in message
    assert sandbox.stats()["oauth:token"] == 1  # refused answers are not retried


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 503},
        {"kind": "status", "status": 502, "body": "html"},  # a proxy's page
        {"kind": "malformed"},  # 200 with a torn body: not a refusal
    ],
    ids=["503-json", "502-html", "200-not-json"],
)
def test_token_endpoint_outage_is_retried(sandbox, clock, fault):
    sandbox.faults({**fault, "count": 1, "path_prefix": "/oauth/"})
    auth, client = oauth_client(sandbox, clock)
    with client:
        client.get(CONTACTS, params={"limit": 1})
    assert auth.refreshes == 1 and sandbox.stats()["oauth:token"] == 2


def test_a_token_endpoint_that_never_answers_json_fails_cleanly_after_retries(sandbox, clock):
    sandbox.faults({"kind": "malformed", "count": 10, "path_prefix": "/oauth/"})
    auth, client = oauth_client(sandbox, clock)
    with client, pytest.raises(MalformedResponseError) as info:
        client.get(CONTACTS)
    assert "token refresh answer is not a JSON object" in str(info.value)
    assert auth.refreshes == 0 and sandbox.stats()["oauth:token"] == 3  # max_attempts
    assert "sandbox-secret" not in str(info.value) and "sandbox-refresh" not in str(info.value)


def test_missing_scopes_name_the_scope(sandbox, clock):
    sandbox.admin("POST", "/_sandbox/options", json={"oauth_scopes": ["oauth", "crm.objects.contacts.read"]})
    _, client = oauth_client(sandbox, clock)
    with client:
        client.get(CONTACTS, params={"limit": 1})
        with pytest.raises(PermissionDeniedError) as info:
            client.get("/crm/v3/objects/deals")
    assert info.value.missing_scopes == ["crm.objects.deals.read"]
    assert "Missing scope: crm.objects.deals.read" in str(info.value)


def test_repr_hides_tokens():
    auth = OAuthAuth(
        client_id="app",
        client_secret=SecretStr("s3cret-value"),
        refresh_token=SecretStr("r3fresh-value"),
        token_path="/oauth/v1/token",
        clock=None,  # type: ignore[arg-type]
        store=MemoryTokenStore(),
    )
    assert "s3cret" not in repr(auth) and "r3fresh" not in repr(auth)
    token = OAuthToken(SecretStr("acc3ss"), SecretStr("r3fresh"), expires_at=None)  # type: ignore[arg-type]
    assert "acc3ss" not in repr(token)
