"""The composition root of a Mailchimp sync: connector pages → parsers → storage, one run row per
stream, all streams side by side within the account's connection limit."""

from __future__ import annotations

from typing import Any

from connector.errors import ConnectorError
from connector.mailchimp.client import MailchimpClient, resolve_base_url
from connector.mailchimp.normalize import normalize_mailchimp
from connector.mailchimp.streams import STREAM_NAMES, build_streams
from connector.pagination import Page
from connector.records import Normalized
from service.sync import SourceSync, StreamOutcome, _mode
from service.writer import open_writer

SOURCE = "mailchimp"


class MailchimpSync(SourceSync):
    """Runs Mailchimp streams into storage. Build one per run; it owns the run's HTTP client."""

    source = SOURCE

    stream_names = STREAM_NAMES

    def _run(self, states: dict[str, dict[str, Any]], *, full: bool, trigger: str) -> list[StreamOutcome]:
        settings = self.settings.mailchimp
        try:
            base_url, auth = resolve_base_url(settings, transport=self.transport)
        except ConnectorError as exc:
            # No account to talk to: the failure is recorded on every selected stream.
            return [
                self._record_failure(name, _mode(name, state, full), "failed", exc, trigger)
                for name, state in states.items()
            ]
        large = _mode("mailchimp_members", states.get("mailchimp_members", {}), full) == "full"

        def normalize(name: str, page: Page) -> Normalized:
            return normalize_mailchimp(name, page.records)

        with (
            open_writer(self.engine, self.settings.storage_writer, large=large) as writer,
            MailchimpClient(
                settings,
                base_url=base_url,
                auth=auth,
                retry=self.settings.retry,
                clock=self.clock,
                transport=self.transport,
            ) as client,
        ):
            return self._run_group(
                client,
                writer,
                list(states),
                build_streams(settings),
                states,
                normalize,
                full=full,
                trigger=trigger,
            )
