"""Rules of thumb from the user's source articles, shown beside a KPI as a marker, never as truth:
they predate Apple Mail Privacy Protection and bot filtering, and vary by industry and list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RuleOfThumb:
    """A range the articles call good; `high` None means "this much or more"."""

    low: float
    high: float | None
    text: str

    def verdict(self, value: float | None) -> str | None:
        """Where a rate stands against the rule: below, within or above it (None without a value)."""
        if value is None:
            return None
        if value < self.low:
            return "below"
        if self.high is not None and value > self.high:
            return "above"
        return "within"


RULES_OF_THUMB: dict[str, RuleOfThumb] = {
    "email_open_rate": RuleOfThumb(0.45, None, "newsletter near 50 % is very good"),
    "email_click_rate": RuleOfThumb(0.10, 0.20, "10–20 % is great"),
    "landing_page_conversion_rate": RuleOfThumb(0.40, 0.60, "downloads 40–60 % is very good"),
}


def marker(kpi: str, value: float | None) -> str:
    """The rule of thumb for a KPI with the value's place against it ("" when there is none)."""
    rule = RULES_OF_THUMB.get(kpi)
    if rule is None:
        return ""
    verdict = rule.verdict(value)
    return rule.text if verdict is None else f"{rule.text}: {verdict}"
