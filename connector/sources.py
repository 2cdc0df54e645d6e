"""Every source funnelsync syncs, by name: where a new vendor is added."""

from __future__ import annotations

from typing import Any

from connector.hubspot.source import HubSpotSource
from connector.mailchimp.source import MailchimpSource
from connector.source import Source

SOURCES: dict[str, type[Source[Any]]] = {
    HubSpotSource.name: HubSpotSource,
    MailchimpSource.name: MailchimpSource,
}
