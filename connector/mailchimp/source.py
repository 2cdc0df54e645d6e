"""Mailchimp as a source: its streams, and the run's client for the account the credentials
name (an API key's data centre, or the OAuth metadata endpoint's answer)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from connector.mailchimp.auth import resolve_base_url
from connector.mailchimp.client import MailchimpClient
from connector.mailchimp.streams import (
    CampaignsStream,
    ListsStream,
    MailchimpStream,
    MembersStream,
    ReportsStream,
)
from connector.source import Source
from connector.stream import Stream


class MailchimpSource(Source[MailchimpClient]):
    """Audiences, members, campaigns and reports, all side by side within the account's limit."""

    name = "mailchimp"
    stream_types: ClassVar[tuple[type[MailchimpStream], ...]] = (
        ListsStream,
        MembersStream,
        CampaignsStream,
        ReportsStream,
    )

    def connect(self) -> MailchimpClient:
        settings = self.settings.mailchimp
        base_url, auth = resolve_base_url(settings, transport=self.transport)
        return MailchimpClient(
            settings,
            base_url=base_url,
            auth=auth,
            retry=self.settings.retry,
            clock=self.clock,
            transport=self.transport,
        )

    def open_streams(
        self, client: MailchimpClient, names: Sequence[str], *, full: bool
    ) -> dict[str, Stream[MailchimpClient]]:
        settings = self.settings.mailchimp
        return {t.name: t(settings) for t in self.stream_types if t.name in names}
