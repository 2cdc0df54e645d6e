"""A hand-built CRM snapshot written straight into storage, for KPI tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from storage import upsert
from storage.models import (
    HubSpotCall,
    HubSpotCallAssociation,
    HubSpotCampaign,
    HubSpotCampaignItem,
    HubSpotContact,
    HubSpotContactStageDate,
    HubSpotDeal,
    HubSpotDealAssociation,
    HubSpotDealStageDate,
    HubSpotMarketingEmail,
    HubSpotMeeting,
    HubSpotMeetingAssociation,
    HubSpotPipelineStage,
    HubSpotWebEvent,
    MailchimpCampaign,
    MailchimpEmailClick,
    MarketingSpend,
)

TOUCH_COLUMNS = ("first_conversion_at", "recent_conversion_at", "email_first_click_at", "email_last_click_at")


def t(text: str) -> datetime:
    """'2025-01-05' or '2025-01-05T10:00' as an aware UTC instant (noon for bare dates)."""
    if len(text) == 10:
        text += "T12:00"
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Portal:
    contacts: list[dict[str, Any]] = field(default_factory=list)
    dates: list[dict[str, Any]] = field(default_factory=list)
    deals: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    spend: list[dict[str, Any]] = field(default_factory=list)
    deal_dates: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    campaign_items: list[dict[str, Any]] = field(default_factory=list)
    # "meeting" | "call" → rows, and their associations.
    engagements: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    engagement_links: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    mailchimp_campaigns: list[dict[str, Any]] = field(default_factory=list)
    mailchimp_clicks: list[dict[str, Any]] = field(default_factory=list)
    page_views: list[dict[str, Any]] = field(default_factory=list)

    def contact(
        self,
        cid: str,
        created: str,
        stage: str,
        *,
        source: str | None = None,
        latest: str | None = None,
        latest_at: str | None = None,
        archived: bool = False,
        merged_into: str | None = None,
        persona: str | None = None,
        first_campaign: str | None = None,
        last_campaign: str | None = None,
        touches: dict[str, str] | None = None,
        email: str | None = None,
        **entered: str | list[str],
    ) -> None:
        """`touches`: the conversion and email click columns (`first_conversion_at`,
        `recent_conversion_at`, `email_first_click_at`, `email_last_click_at`) → when."""
        moments = dict.fromkeys(TOUCH_COLUMNS) | {k: t(v) for k, v in (touches or {}).items()}
        self.contacts.append(
            {
                "connection": "default",
                "id": cid,
                "createdate": t(created),
                "lifecyclestage": stage,
                "analytics_source": source,
                "latest_source": latest,
                "latest_source_at": t(latest_at) if latest_at else None,
                "archived": archived,
                "merged_into": merged_into,
                "persona": persona,
                "first_touch_campaign": first_campaign,
                "last_touch_campaign": last_campaign,
                "email": email,
                **moments,
                "raw": {},
            }
        )
        for stage_name, when in entered.items():
            values = when if isinstance(when, list) else [when]
            for kind, value in zip(("hs_v2_date_entered", "hs_lifecyclestage_date"), values, strict=False):
                self.dates.append(
                    {
                        "connection": "default",
                        "contact_id": cid,
                        "stage": stage_name,
                        "source": kind,
                        "entered_at": t(value),
                    }
                )

    def deal(
        self,
        did: str,
        created: str,
        *,
        stage: str,
        amount: float | None,
        closed: str | None = None,
        is_closed: bool | None = None,
        is_won: bool | None = None,
        source: str | None = None,
        owner: str | None = "o1",
        company: str | None = None,
        currency: str = "SEK",
    ) -> None:
        self.deals.append(
            {
                "connection": "default",
                "id": did,
                "createdate": t(created),
                "closedate": t(closed) if closed else None,
                "pipeline": "default",
                "dealstage": stage,
                "amount": amount,
                "amount_in_home_currency": amount,
                "currency": currency,
                "is_closed": is_closed,
                "is_closed_won": is_won,
                "analytics_source": source,
                "owner_id": owner,
                "raw": {},
            }
        )
        if company:
            self.links.append(
                {"connection": "default", "deal_id": did, "to_type": "company", "to_id": company}
            )

    def link(self, did: str, contact_id: str) -> None:
        """Associate a deal with a contact."""
        self.links.append(
            {"connection": "default", "deal_id": did, "to_type": "contact", "to_id": contact_id}
        )

    def deal_stage(self, did: str, stage: str, when: str, source: str = "hs_v2_date_entered") -> None:
        self.deal_dates.append(
            {"connection": "default", "deal_id": did, "stage": stage, "source": source, "entered_at": t(when)}
        )

    def email(self, eid: str, sent_at: str, **counters: Any) -> None:
        """A sent HubSpot marketing email; `counters` are column values (sent, delivered, …)."""
        row = {
            "connection": "default",
            "id": eid,
            "sent_at": t(sent_at),
            "email_type": "BATCH_EMAIL",
            "raw": {},
        }
        row.update(
            {
                "sent": None,
                "delivered": None,
                "unique_opens": 0,
                "unique_clicks": 0,
                "bounces": 0,
                "unsubscribes": 0,
                "spam_reports": 0,
            }
        )
        row.update(counters)
        self.emails.append(row)

    def add_spend(self, start: str, end: str, channel: str, amount: float, currency: str = "SEK") -> None:
        self.spend.append(
            {
                "connection": "default",
                "period_start": datetime.fromisoformat(start).date(),
                "period_end": datetime.fromisoformat(end).date(),
                "channel": channel,
                "amount": amount,
                "currency": currency,
                "imported_at": t("2025-04-01"),
            }
        )

    def campaign(
        self,
        cid: str,
        name: str,
        *,
        start: str | None,
        end: str | None,
        spend: list[tuple[float, str]],
        currency: str = "SEK",
        budget: float | None = None,
        **metrics: int,
    ) -> None:
        """A HubSpot marketing campaign with spend items (amount, day entered) and its totals."""
        self.campaigns.append(
            {
                "connection": "default",
                "id": cid,
                "name": name,
                "start_date": datetime.fromisoformat(start).date() if start else None,
                "end_date": datetime.fromisoformat(end).date() if end else None,
                "currency": currency,
                "budget_total": budget,
                "spend_total": sum(amount for amount, _ in spend),
                "archived": False,
                "raw": {},
                **dict.fromkeys(
                    ("sessions", "new_contacts_first_touch", "new_contacts_last_touch", "influenced_contacts")
                ),
                **metrics,
            }
        )
        for n, (amount, entered) in enumerate(spend):
            self.campaign_items.append(
                {
                    "connection": "default",
                    "campaign_id": cid,
                    "kind": "spend",
                    "item_id": f"{cid}-{n}",
                    "amount": amount,
                    "item_order": n,
                    "created_at": t(entered),
                }
            )

    def engagement(
        self,
        kind: str,
        eid: str,
        at: str,
        *,
        outcome: str | None = "COMPLETED",
        deals: tuple[str, ...] = (),
        contacts: tuple[str, ...] = (),
        archived: bool = False,
    ) -> None:
        """A sales meeting or call (`kind`) held at `at`, associated with deals and contacts."""
        self.engagements.setdefault(kind, []).append(
            {
                "connection": "default",
                "id": eid,
                "occurred_at": t(at),
                "outcome": outcome,
                "archived": archived,
                "raw": {},
            }
        )
        for to_type, ids in (("deal", deals), ("contact", contacts)):
            self.engagement_links.setdefault(kind, []).extend(
                {"connection": "default", "engagement_id": eid, "to_type": to_type, "to_id": i} for i in ids
            )

    def mailchimp_click(
        self, campaign: str, title: str, email: str, first: str, last: str | None = None
    ) -> None:
        """A Mailchimp member (by address, as Mailchimp spells it) who clicked `campaign`."""
        if not any(c["id"] == campaign for c in self.mailchimp_campaigns):
            self.mailchimp_campaigns.append(
                {"connection": "default", "id": campaign, "title": title, "status": "sent", "raw": {}}
            )
        self.mailchimp_clicks.append(
            {
                "connection": "default",
                "id": f"{campaign}:{email}",
                "campaign_id": campaign,
                "email_id": email,
                "email_address": email.strip().lower(),
                "first_click_at": t(first),
                "last_click_at": t(last or first),
                "clicks": 1 if last is None else 2,
                "raw": {},
            }
        )

    def page_view(self, cid: str, at: str, title: str, source: str | None = None) -> None:
        """A page view of contact `cid` (the event analytics API), with its touchpoint source."""
        self.page_views.append(
            {
                "connection": "default",
                "id": f"e_visited_page-{cid}-{len(self.page_views)}",
                "contact_id": cid,
                "event_type": "e_visited_page",
                "occurred_at": t(at),
                "title": title,
                "source": source,
                "raw": {},
            }
        )

    def save(self, engine: Engine) -> None:
        stages = [
            ("open", 0.2, False, False),
            ("won", 1.0, True, True),
            ("lost", 0.0, True, False),
        ]
        with engine.begin() as conn:
            upsert(conn, HubSpotContact, self.contacts)
            upsert(conn, HubSpotContactStageDate, self.dates)
            upsert(conn, HubSpotDeal, self.deals)
            upsert(conn, HubSpotDealAssociation, self.links)
            upsert(conn, HubSpotDealStageDate, self.deal_dates)
            upsert(conn, MarketingSpend, self.spend)
            upsert(conn, HubSpotMarketingEmail, self.emails)
            upsert(conn, HubSpotCampaign, self.campaigns)
            upsert(conn, HubSpotCampaignItem, self.campaign_items)
            upsert(conn, MailchimpCampaign, self.mailchimp_campaigns)
            upsert(conn, MailchimpEmailClick, self.mailchimp_clicks)
            upsert(conn, HubSpotWebEvent, self.page_views)
            for kind, model, links in (
                ("meeting", HubSpotMeeting, HubSpotMeetingAssociation),
                ("call", HubSpotCall, HubSpotCallAssociation),
            ):
                upsert(conn, model, self.engagements.get(kind, []))
                upsert(conn, links, self.engagement_links.get(kind, []))
            upsert(
                conn,
                HubSpotPipelineStage,
                [
                    {
                        "connection": "default",
                        "pipeline_id": "default",
                        "stage_id": sid,
                        "label": sid,
                        "display_order": i,
                        "probability": p,
                        "is_closed": closed,
                        "is_won": won,
                    }
                    for i, (sid, p, closed, won) in enumerate(stages)
                ],
            )
