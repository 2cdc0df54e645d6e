"""The Mailchimp client against the sandbox over loopback: data centre, auth, retries, the
connection limit, problem+json errors."""

from __future__ import annotations

import threading
import time

import pytest
from pydantic import SecretStr

from config import MailchimpSettings, RetrySettings
from connector.clock import SystemClock
from connector.errors import AuthenticationError, ConfigurationError, FatalAPIError
from connector.mailchimp.auth import data_centre, resolve_base_url
from connector.mailchimp.client import MailchimpClient
from tests.conftest import MAILCHIMP_KEY, FakeClock


def client_for(
    mailchimp, *, key: str = MAILCHIMP_KEY, attempts: int = 5, clock=None, **options
) -> MailchimpClient:
    settings = MailchimpSettings(api_key=SecretStr(key), base_url=mailchimp.url, **options)
    base_url, auth = resolve_base_url(settings)
    retry = RetrySettings(
        max_attempts=attempts, jitter_seconds=0.05, initial_wait_seconds=0.05, max_wait_seconds=0.5
    )
    return MailchimpClient(settings, base_url=base_url, auth=auth, retry=retry, clock=clock or FakeClock())


@pytest.mark.parametrize(("key", "dc"), [("abc-us6", "us6"), ("0123-eu12", "eu12")])
def test_data_centre_is_the_key_suffix(key, dc):
    assert data_centre(key) == dc


@pytest.mark.parametrize("key", ["nodatacentre", "abc-", "abc-US6"])
def test_a_key_without_data_centre_is_a_config_error(key):
    with pytest.raises(ConfigurationError, match="FUNNELSYNC_MAILCHIMP__API_KEY"):
        data_centre(key)


def test_default_base_url_comes_from_the_key():
    base_url, _ = resolve_base_url(MailchimpSettings(api_key=SecretStr("k-us19")))
    assert base_url == "https://us19.api.mailchimp.com/3.0"


def test_wrong_data_centre_is_one_clear_error_without_the_key(mailchimp):
    wrong = "0123456789abcdef0123456789abcdef-us9"
    with client_for(mailchimp, key=wrong) as client, pytest.raises(AuthenticationError) as info:
        client.get("/lists")
    message = str(info.value)
    assert "wrong datacenter" in message and "-us6" in message and wrong not in message
    assert mailchimp.stats()["401"] == 1  # not retried


def test_oauth_token_finds_its_data_centre_through_the_metadata_endpoint(mailchimp):
    settings = MailchimpSettings(
        access_token=SecretStr("sandbox-mailchimp-oauth"),
        metadata_url=f"{mailchimp.server.url}/oauth2/metadata",
    )
    base_url, auth = resolve_base_url(settings)
    assert base_url == mailchimp.url
    client = MailchimpClient(settings, base_url=base_url, auth=auth, retry=RetrySettings(), clock=FakeClock())
    with client:
        assert client.get("/ping")["health_status"] == "Everything's Chimpy!"
    bad = MailchimpSettings(access_token=SecretStr("nope"), metadata_url=settings.metadata_url)
    with pytest.raises(AuthenticationError, match="ACCESS_TOKEN"):
        resolve_base_url(bad)


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "status", "status": 500, "count": 2},
        {"kind": "status", "status": 502, "body": "html", "count": 2},
        {"kind": "rate_limit", "count": 2},
        {"kind": "malformed", "count": 1},
    ],
    ids=["500", "html-502", "429", "truncated"],
)
def test_transient_failures_are_retried(mailchimp, fault):
    mailchimp.admin("POST", "/_sandbox/faults", json={"faults": [fault]})
    with client_for(mailchimp) as client:
        assert client.get("/lists")["total_items"] == 2
        assert client.stats.retries == fault["count"]


def test_not_found_is_fatal_with_mailchimps_title(mailchimp):
    with client_for(mailchimp) as client, pytest.raises(FatalAPIError) as info:
        client.get("/lists/nope/members")
    assert info.value.status == 404 and "Resource Not Found" in str(info.value)


@pytest.mark.parametrize(("slots", "expect_429"), [(10, True), (3, False)])
def test_the_client_keeps_within_the_connection_limit(mailchimp, slots, expect_429):
    """The sandbox allows 3 at once here and holds the first 3 requests: a client allowing 10
    sends more meanwhile and bounces off (then retries), one sized to the account's limit waits
    for its own free slots and never does."""
    mailchimp.admin("POST", "/_sandbox/options", json={"max_connections": 3})
    mailchimp.admin(
        "POST",
        "/_sandbox/faults",
        json={"faults": [{"kind": "hold", "count": 3, "path_prefix": "/3.0/ping"}]},
    )
    errors: list[BaseException] = []
    # Real time: a retry has to wait for a slot to free up.
    with client_for(mailchimp, max_connections=slots, attempts=10, clock=SystemClock()) as client:

        def work() -> None:
            try:
                for _ in range(3):
                    client.get("/ping")
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while mailchimp.stats().get("fault:hold", 0) < 3 or (expect_429 and not mailchimp.stats().get("429")):
            assert time.monotonic() < deadline, mailchimp.stats()
            time.sleep(0.02)
        mailchimp.admin("POST", "/_sandbox/release")
        for thread in threads:
            thread.join()
    assert not errors
    assert (mailchimp.stats().get("429", 0) > 0) is expect_429
    assert mailchimp.stats()["requests"] == 8 * 3 + mailchimp.stats().get("429", 0)
