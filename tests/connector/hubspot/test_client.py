"""The HubSpot client against the sandbox over loopback: retries, rate limits, errors."""

from __future__ import annotations

import socket

import pytest
from pydantic import SecretStr

from config import HubSpotSettings, RetrySettings
from connector.auth import BearerAuth
from connector.errors import (
    AuthenticationError,
    FatalAPIError,
    MalformedResponseError,
    RateLimitDeferredError,
    RetriableAPIError,
)
from connector.hubspot.client import HubSpotClient

CONTACTS = "/crm/v3/objects/contacts"


def client_for(sandbox, clock, *, token=None, attempts=4, **hub):
    settings = HubSpotSettings(base_url=sandbox.url, **hub)
    retry = RetrySettings(
        max_attempts=attempts, initial_wait_seconds=0.5, max_wait_seconds=60, jitter_seconds=0
    )
    return HubSpotClient(
        settings, auth=BearerAuth(SecretStr(token or sandbox.token)), retry=retry, clock=clock
    )


@pytest.mark.parametrize(
    ("fault", "expected_sleeps"),
    [
        ({"kind": "rate_limit", "policy": "TEN_SECONDLY_ROLLING", "retry_after": 3}, [3.0]),
        ({"kind": "rate_limit", "policy": "TEN_SECONDLY_ROLLING"}, [10.0]),
        ({"kind": "rate_limit", "policy": "SECONDLY"}, [1.0]),
        ({"kind": "status", "status": 502, "body": "html", "count": 2}, [0.5, 1.0]),
        ({"kind": "status", "status": 503, "count": 1}, [0.5]),
        ({"kind": "malformed", "count": 1}, [0.5]),
    ],
    ids=[
        "429-retry-after",
        "429-rolling-no-header",
        "429-secondly",
        "502-html-twice",
        "503-json",
        "truncated-json",
    ],
)
def test_transient_failures_are_retried_then_succeed(sandbox, clock, fault, expected_sleeps):
    sandbox.faults({"path_prefix": CONTACTS, **fault})
    with client_for(sandbox, clock) as client:
        body = client.get(CONTACTS, params={"limit": 5})
    assert len(body["results"]) == 5
    assert clock.sleeps[: len(expected_sleeps)] == pytest.approx(expected_sleeps)
    assert client.stats.retries == len(expected_sleeps)
    assert client.stats.requests == len(expected_sleeps) + 1


def test_retries_are_bounded_and_the_last_error_propagates(sandbox, clock):
    sandbox.faults({"kind": "status", "status": 500, "count": 10, "path_prefix": CONTACTS})
    with client_for(sandbox, clock, attempts=3) as client, pytest.raises(RetriableAPIError) as info:
        client.get(CONTACTS)
    assert info.value.status == 500
    assert client.stats.requests == 3
    assert clock.sleeps == [0.5, 1.0]


def test_malformed_body_fails_cleanly_after_retries(sandbox, clock):
    sandbox.faults({"kind": "malformed", "count": 10, "path_prefix": CONTACTS})
    with client_for(sandbox, clock, attempts=2) as client, pytest.raises(MalformedResponseError):
        client.get(CONTACTS)


def test_daily_limit_defers_without_retrying(sandbox, clock):
    sandbox.faults({"kind": "rate_limit", "policy": "DAILY", "path_prefix": CONTACTS})
    with client_for(sandbox, clock) as client, pytest.raises(RateLimitDeferredError) as info:
        client.get(CONTACTS)
    assert client.stats.requests == 1
    assert info.value.reset_at is not None and info.value.reset_at > clock.now()
    assert "daily" in str(info.value).lower()


def test_bad_token_is_fatal_and_never_echoed(sandbox, clock):
    secret = "pat-na1-this-is-a-very-secret-token"
    with client_for(sandbox, clock, token=secret) as client, pytest.raises(AuthenticationError) as info:
        client.get(CONTACTS)
    assert client.stats.requests == 1
    assert info.value.status == 401
    assert info.value.category == "INVALID_AUTHENTICATION"
    assert secret not in str(info.value) and secret not in repr(info.value)
    assert "FUNNELSYNC_HUBSPOT__TOKEN" in str(info.value)


def test_other_4xx_are_not_retried(sandbox, clock):
    with client_for(sandbox, clock) as client, pytest.raises(FatalAPIError) as info:
        client.post("/crm/v3/objects/contacts/search", json_body={"limit": 500}, search=True)
    assert info.value.status == 400
    assert client.stats.requests == 1


def test_proactive_limiter_keeps_a_real_rolling_window_free_of_429(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(rate_limit=5, send_retry_after=False)
    clock = FakeClock(sandbox)
    with client_for(sandbox, clock, rate_limit_per_10s=5) as client:
        for _ in range(12):
            client.get(CONTACTS, params={"limit": 1})
    assert client.stats.rate_limited == 0
    assert sandbox.stats().get("429", 0) == 0
    assert sum(clock.sleeps) >= 20  # two full windows waited out, on the injected clock


def test_limiter_adopts_the_ceiling_the_portal_reports(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(rate_limit=5, send_retry_after=True)
    clock = FakeClock(sandbox)
    # Configured for 100 per 10 s, but the portal says X-HubSpot-RateLimit-Max: 5.
    with client_for(sandbox, clock, rate_limit_per_10s=100) as client:
        for _ in range(8):
            client.get(CONTACTS, params={"limit": 1})
    assert client.limiter.max_requests == 5
    assert client.stats.rate_limited == 0


def test_search_429_without_headers_is_recovered(make_sandbox):
    from tests.conftest import FakeClock

    sandbox = make_sandbox(search_rate=2, send_retry_after=False)
    clock = FakeClock(sandbox)
    # The client thinks search allows 5/s; the portal allows 2/s and search answers carry no headers.
    with client_for(sandbox, clock, search_rate_per_second=5, attempts=4) as client:
        for _ in range(6):
            client.post("/crm/v3/objects/contacts/search", json_body={"limit": 1}, search=True)
    assert client.stats.rate_limited >= 1
    assert sandbox.stats()["429"] == client.stats.rate_limited
    # The waits after a 429 without Retry-After are the secondly window's whole second.
    waits = [s for s in clock.sleeps if s >= 0.99]
    assert len(waits) == client.stats.rate_limited and all(s == pytest.approx(1.0) for s in waits)


def test_server_time_comes_from_the_date_header(sandbox, clock):
    sandbox.store.clock.advance(3 * 86400)
    from tests.conftest import FakeClock

    local = FakeClock(None)  # a local clock stuck days behind the portal
    with client_for(sandbox, local) as client:
        server_now = client.server_now()
    assert abs((server_now - sandbox.store.clock.now()).total_seconds()) < 2


def test_connection_refused_is_retried_then_fails_cleanly(sandbox, clock):
    with socket.socket() as probe:  # a port nothing listens on once this socket closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = HubSpotSettings(base_url=f"http://127.0.0.1:{port}")
    retry = RetrySettings(max_attempts=3, initial_wait_seconds=0.5, max_wait_seconds=60, jitter_seconds=0)
    auth = BearerAuth(SecretStr(sandbox.token))
    with (
        HubSpotClient(settings, auth=auth, retry=retry, clock=clock) as client,
        pytest.raises(RetriableAPIError) as info,
    ):
        client.get(CONTACTS)
    assert str(info.value) == f"[GET {CONTACTS}] connection failed (ConnectError)"
    assert info.value.status is None and info.value.path == CONTACTS
    assert client.stats.requests == 3 and clock.sleeps == [0.5, 1.0]
    assert sandbox.token not in str(info.value)
