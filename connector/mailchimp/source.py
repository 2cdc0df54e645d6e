"""Mailchimp as a source: its streams, and the run's client for the account the credentials
name (an API key's data centre, or the OAuth metadata endpoint's answer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import httpx

from connector.mailchimp.auth import resolve_base_url
from connector.mailchimp.client import MailchimpClient
from connector.mailchimp.streams import (
    CampaignsStream,
    EmailActivityStream,
    ListsStream,
    MailchimpStream,
    MembersStream,
    ReportsStream,
)
from connector.source import Source
from connector.stream import Stream


class MailchimpSource(Source[MailchimpClient]):
    """Audiences, members, campaigns, reports and who clicked them, all side by side within the
    account's limit."""

    name = "mailchimp"
    stream_types: ClassVar[tuple[type[MailchimpStream], ...]] = (
        ListsStream,
        MembersStream,
        CampaignsStream,
        ReportsStream,
        EmailActivityStream,
    )

    _auth: httpx.Auth | None = None

    def secrets(self) -> list[str]:
        return list(getattr(self._auth, "secrets", []))

    def connect(self) -> MailchimpClient:
        settings = self.settings.mailchimp
        base_url, auth = resolve_base_url(settings, transport=self.transport)
        self._auth = auth
        return MailchimpClient(
            settings,
            base_url=base_url,
            auth=auth,
            retry=self.settings.retry,
            clock=self.clock,
            transport=self.transport,
        )

    def verify(self, client: MailchimpClient) -> str:
        client.get("/ping")
        return "GET /3.0/ping answered"

    def open_streams(
        self, client: MailchimpClient, names: Sequence[str], *, full: bool
    ) -> dict[str, Stream[MailchimpClient]]:
        settings = self.settings.mailchimp
        return {t.name: t(settings) for t in self.stream_types if t.name in names}
