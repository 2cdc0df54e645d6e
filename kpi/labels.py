"""The names people read beside the codes KPIs are keyed by: HubSpot's own labels of lifecycle
stages, deal stages, pipelines, owners, sources, personas and email names, as synced when the KPIs were
computed (a renamed stage shows its new name from the next computation on). Pure: the reads are
in kpi/read_labels.py."""

from __future__ import annotations

from dataclasses import dataclass, field

# Dimensions whose values are a contact or deal property's enumeration options.
OPTION_DIMENSIONS = {
    "source": "hs_analytics_source",
    "latest_source": "hs_latest_source",
    "persona": "hs_persona",
}
# The attribution family's `stage` is its model; `touch_type` values are touchpoint kinds.
MODEL_LABELS = {
    "first_touch": "First touch",
    "last_touch": "Last touch",
    "linear": "Linear",
    "u_shaped": "U-shaped (40/20/40)",
    "w_shaped": "W-shaped (30/30/30, 10 between)",
    "time_decay": "Time decay",
    "full_path": "Full path (22.5 × 4, 10 between)",
}
TOUCH_LABELS = {
    "contact_created": "Contact created",
    "form_submission": "Form submission",
    "email_click": "Marketing email click",
    "mailchimp_click": "Mailchimp email click",
    "site_visit": "Website visit",
    "latest_session": "Latest session",
    "meeting": "Sales meeting",
    "call": "Sales call",
    "deal_created": "Deal created",
    "unattributed": "No touch in the look-back",
}
# Channels the attribution models add to HubSpot's sources.
CHANNEL_LABELS = {"SALES": "Sales meetings and calls", "unattributed": "No touch in the look-back"}
CAMPAIGN_LABELS = {"none": "No campaign", "unattributed": "No touch in the look-back"}
# The separator of a conversion step's stage (`lead>customer`) and how a label shows it.
STEP, STEP_LABEL = ">", " → "


@dataclass
class Labels:
    """Code → label maps; a code without a label is shown as it is."""

    lifecycle: dict[str, str] = field(default_factory=dict)
    deal_stages: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, str] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)
    # Property name → option value → label (hs_analytics_source, hs_latest_source, hs_persona).
    options: dict[str, dict[str, str]] = field(default_factory=dict)
    # `platform:id` of a marketing email or campaign → its name (HubSpot) or title (Mailchimp).
    emails: dict[str, str] = field(default_factory=dict)
    # HubSpot marketing campaign id → its name.
    campaigns: dict[str, str] = field(default_factory=dict)

    def stage(self, family: str, stage: str) -> str:
        """The `stage` column's label: lifecycle stages for contact families, deal stages for
        `deal_stages`; a step `a>b` as `A → B`; qualifiers (`open`, `won`) as they are."""
        if family in ("attribution", "campaigns"):
            return MODEL_LABELS.get(stage, stage)
        if family == "sources" and STEP not in stage:
            # The tracked source of `reported_vs_tracked_contacts`.
            return self.dimension("source", stage)
        names = self.deal_stages if family == "deal_stages" else self.lifecycle
        if not stage:
            return ""
        return STEP_LABEL.join(names.get(part, part) for part in stage.split(STEP))

    def dimension(self, dimension: str, value: str) -> str:
        """The `dimension_value` column's label."""
        if dimension == "pipeline":
            return self.pipelines.get(value, value)
        if dimension == "owner":
            return self.owners.get(value, value)
        if dimension == "email":
            return self.emails.get(value, value)
        if dimension == "campaign":
            return CAMPAIGN_LABELS.get(value) or self.campaigns.get(value, value)
        if dimension == "touch_type":
            return TOUCH_LABELS.get(value, value)
        if dimension == "source" and value in CHANNEL_LABELS:
            return CHANNEL_LABELS[value]
        # A built-in option dimension's property, or a custom dimension's own (kpi.dimensions).
        prop = OPTION_DIMENSIONS.get(dimension, dimension)
        return self.options.get(prop, {}).get(value, value)
