"""The sandbox portal's conversions and marketing email clicks: the contact properties HubSpot
keeps of a contact's first and latest form submission (`first_conversion_date` /
`_event_name`, `recent_conversion_date` / `_event_name`) and of its first and latest marketing
email click (`hs_email_first_click_date`, `hs_email_last_click_date`). A contact that arrived by a
form converted at its creation; a move to MQL or SQL was often a form too (a demo request, a
pricing enquiry); subscribers click newsletters now and then. Nothing happens after the contact's
last modification. Drawn from a random stream of their own, so adding them left every other
generated value of a seed as it was."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from sandbox.hubspot.data import PortalData, iso

# Share of the contacts of a source whose creation was a form submission.
_FORM_CREATED = {"OFFLINE": 0.1, "DIRECT_TRAFFIC": 0.5, "AI_REFERRALS": 0.5}
_FORM_CREATED_DEFAULT = 0.65
# The form a contact's first conversion was, by source.
_FIRST_FORMS = {
    "ORGANIC_SEARCH": "Guide download: B2B marketing KPIs",
    "PAID_SEARCH": "Landing page: free trial",
    "PAID_SOCIAL": "Lead ad: webinar sign-up",
    "EMAIL_MARKETING": "Newsletter sign-up",
    "REFERRALS": "Contact us",
}
_FIRST_FORM_DEFAULT = "Contact us"
_LATER_FORMS = ("Demo request", "Pricing enquiry", "Webinar registration", "Case study download")
# Chance that a move to MQL or SQL came with a form submission.
_MOVE_BY_FORM = 0.7
# Share of the contacts who click a marketing email at some point, and of those who click again.
_CLICKERS, _CLICK_AGAIN = 0.3, 0.6
_MOVES = ("marketingqualifiedlead", "salesqualifiedlead")


def _time(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + timedelta(seconds=rng.uniform(0, max((end - start).total_seconds(), 0)))


def add_conversions(data: PortalData, seed: int) -> None:
    rng = random.Random(f"{seed}:conversions")
    for contact in data.contacts:
        props: dict[str, Any] = contact["properties"]
        created, modified = _time(props.get("createdate")), _time(props.get("lastmodifieddate"))
        if created is None or modified is None:
            continue
        source = str(props.get("hs_analytics_source") or "")
        conversions: list[tuple[datetime, str]] = []
        if rng.random() < _FORM_CREATED.get(source, _FORM_CREATED_DEFAULT):
            conversions.append((created, _FIRST_FORMS.get(source, _FIRST_FORM_DEFAULT)))
        for stage in _MOVES:
            moved = _time(props.get(f"hs_v2_date_entered_{stage}"))
            if moved is not None and created < moved <= modified and rng.random() < _MOVE_BY_FORM:
                conversions.append((moved, rng.choice(_LATER_FORMS)))
        if conversions:
            conversions.sort()
            (first_at, first), (recent_at, recent) = conversions[0], conversions[-1]
            props["first_conversion_date"] = iso(first_at)
            props["first_conversion_event_name"] = first
            props["recent_conversion_date"] = iso(recent_at)
            props["recent_conversion_event_name"] = recent
        if modified - created > timedelta(days=3) and rng.random() < _CLICKERS:
            first_click = _between(rng, created + timedelta(days=1), modified)
            props["hs_email_first_click_date"] = iso(first_click)
            last_click = _between(rng, first_click, modified) if rng.random() < _CLICK_AGAIN else first_click
            props["hs_email_last_click_date"] = iso(last_click)
