"""HubSpot as a source: its streams in run order, the run's client with the configured credential
(a token that does not expire, or OAuth whose refreshed tokens the service keeps), and the
portal's schema read before the streams that depend on it."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, ClassVar

import httpx

from config import Settings
from connector.auth import BearerAuth
from connector.hubspot.analytics import WebAnalyticsStream
from connector.hubspot.auth import OAUTH_HINT, OAuthAuth
from connector.hubspot.campaigns import CampaignsStream
from connector.hubspot.catalogue import OwnersStream, PipelinesStream, PropertiesStream
from connector.hubspot.client import TOKEN_HINT, HubSpotClient
from connector.hubspot.crm import CompaniesStream, ContactsStream, DealsStream
from connector.hubspot.emails import MarketingEmailsStream
from connector.hubspot.endpoints import HubSpotPaths
from connector.hubspot.engagements import CallsStream, MeetingsStream
from connector.hubspot.schema import cached_schema, discover_schema
from connector.hubspot.web_events import WebEventsStream
from connector.source import Source
from connector.stream import Stream


class HubSpotSource(Source[HubSpotClient]):
    """One HubSpot portal. Building it checks the credentials' settings (ConfigurationError)."""

    name = "hubspot"
    stream_types: ClassVar[tuple[type[Stream[Any]], ...]] = (
        PropertiesStream,
        OwnersStream,
        PipelinesStream,
        CompaniesStream,
        ContactsStream,
        DealsStream,
        MeetingsStream,
        CallsStream,
        MarketingEmailsStream,
        CampaignsStream,
        WebAnalyticsStream,
        WebEventsStream,
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.auth, self.auth_hint = self._build_auth()

    def _build_auth(self) -> tuple[httpx.Auth, str]:
        """The run's auth and the hint a 401 should give."""
        hub = self.settings.hubspot
        if self.settings.require_hubspot_auth() == "token":
            assert hub.token is not None
            return BearerAuth(hub.token), TOKEN_HINT
        assert hub.client_id and hub.client_secret and hub.refresh_token
        store = self.token_stores(self.name, hub.refresh_token) if self.token_stores else None
        auth = OAuthAuth(
            client_id=hub.client_id,
            client_secret=hub.client_secret,
            refresh_token=hub.refresh_token,
            token_path=hub.token_path or HubSpotPaths(hub.api_version).path("oauth_token"),
            clock=self.clock,
            store=store,
        )
        return auth, OAUTH_HINT

    @property
    def parallel_streams(self) -> int:
        return self.settings.hubspot.parallel_streams

    @classmethod
    def endpoints_in_use(cls, settings: Settings) -> list[str]:
        """The endpoints a sync with these settings calls (for end-of-support warnings)."""
        hub = settings.hubspot
        names = [
            e
            for t in cls.stream_types
            if (hub.web_analytics or t is not WebAnalyticsStream)
            and (hub.engagements or t not in (MeetingsStream, CallsStream))
            and (hub.web_events or t is not WebEventsStream)
            for e in t.endpoints
        ]
        if not hub.token and hub.refresh_token:
            names.append("oauth_token")
        return list(dict.fromkeys(names))

    @property
    def recheck_minutes(self) -> int:
        return self.settings.hubspot.catalogue_minutes

    def secrets(self) -> list[str]:
        return list(getattr(self.auth, "secrets", []))

    def connect(self) -> HubSpotClient:
        return HubSpotClient(
            self.settings.hubspot,
            auth=self.auth,
            auth_hint=self.auth_hint,
            retry=self.settings.retry,
            clock=self.clock,
            transport=self.transport,
        )

    def verify(self, client: HubSpotClient) -> str:
        path = client.paths.path("owners")
        client.get(path, params={"limit": 1})
        return f"GET {path} answered"

    def open_streams(
        self, client: HubSpotClient, names: Sequence[str], *, full: bool
    ) -> dict[str, Stream[HubSpotClient]]:
        """The portal's schema first (from the last catalogue read while it is fresh), then the
        streams built on it."""
        hub = self.settings.hubspot
        cached = cached_schema(client, hub, self.stored.state(PropertiesStream.name), full=full)
        schema = cached or discover_schema(client, hub)

        def archived(name: str) -> Callable[[], Collection[str]]:
            return lambda: self.stored.archived_ids(name)

        dims = schema.dimensions(self.settings.kpi.dimension_candidates)
        streams: list[Stream[HubSpotClient]] = [
            PropertiesStream(schema),
            OwnersStream(hub),
            PipelinesStream(hub),
            CompaniesStream(hub, schema, archived(CompaniesStream.name), dims.get("companies")),
            ContactsStream(hub, schema, archived(ContactsStream.name), dims.get("contacts")),
            DealsStream(hub, schema, archived(DealsStream.name), dims.get("deals")),
            MeetingsStream(hub, schema, archived(MeetingsStream.name)),
            CallsStream(hub, schema, archived(CallsStream.name)),
            MarketingEmailsStream(hub),
            CampaignsStream(hub),
            WebAnalyticsStream(hub),
            WebEventsStream(hub),
        ]
        return {stream.name: stream for stream in streams if stream.name in names}
