"""What the sandbox portal's people said and what its deals are: a custom contact property
`how_did_you_hear_about_us` (the self-reported source the seed articles recommend asking for) and
HubSpot's own deal property `dealtype`. Drawn from a random stream of their own, so adding them
left every other generated value of a seed as it was."""

from __future__ import annotations

import random
from typing import Any

from sandbox.hubspot.data import RENEWAL_PIPELINE, PortalData

HEARD_PROPERTY = "how_did_you_hear_about_us"
# (value, label) in display order.
HEARD_OPTIONS = [
    ("search", "Search engine"),
    ("linkedin", "LinkedIn"),
    ("podcast", "Podcast"),
    ("colleague", "A colleague or friend"),
    ("event", "Event or fair"),
    ("newsletter", "Newsletter"),
    ("ai_assistant", "AI assistant"),
    ("other", "Other"),
]
# What people who arrived by a tracked source say, as weights over HEARD_OPTIONS: tracking and
# memory agree mostly, and direct traffic hides podcasts and word of mouth (dark social).
_SAID = {
    "ORGANIC_SEARCH": (70, 5, 8, 8, 0, 0, 4, 5),
    "PAID_SEARCH": (75, 5, 5, 5, 0, 0, 0, 10),
    "EMAIL_MARKETING": (5, 5, 5, 10, 5, 65, 0, 5),
    "SOCIAL_MEDIA": (5, 70, 10, 10, 0, 0, 0, 5),
    "PAID_SOCIAL": (5, 75, 5, 5, 0, 0, 0, 10),
    "REFERRALS": (10, 10, 5, 55, 5, 0, 5, 10),
    "DIRECT_TRAFFIC": (15, 10, 30, 30, 5, 0, 5, 5),
    "OFFLINE": (5, 5, 5, 20, 60, 0, 0, 5),
    "OTHER_CAMPAIGNS": (10, 10, 10, 10, 40, 10, 0, 10),
    "AI_REFERRALS": (20, 5, 5, 5, 0, 0, 60, 5),
}
DEAL_TYPES = [("newbusiness", "New Business"), ("existingbusiness", "Existing Business")]
# Share of contacts who answered the form question.
ANSWERED = 0.55


def add_answers(data: PortalData, seed: int) -> None:
    rng = random.Random(f"{seed}:answers")
    values = [value for value, _ in HEARD_OPTIONS]
    for contact in data.contacts:
        props: dict[str, Any] = contact["properties"]
        if rng.random() >= ANSWERED:
            continue
        weights = _SAID.get(str(props.get("hs_analytics_source")), (1,) * len(values))
        props[HEARD_PROPERTY] = rng.choices(values, weights=weights, k=1)[0]
    for deal in data.deals:
        props = deal["properties"]
        renewal = props.get("pipeline") == RENEWAL_PIPELINE
        props["dealtype"] = "existingbusiness" if renewal or rng.random() < 0.15 else "newbusiness"
