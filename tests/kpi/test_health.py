"""Rules of thumb place a value against the source articles' ranges; they never change a value."""

from __future__ import annotations

import pytest

from kpi.health import RULES_OF_THUMB, marker


@pytest.mark.parametrize(
    ("kpi", "value", "verdict"),
    [
        ("email_open_rate", 0.21, "below"),
        ("email_open_rate", 0.5, "within"),
        ("email_open_rate", 0.8, "within"),  # "near 50 % or more" has no upper bound
        ("email_click_rate", 0.0999, "below"),
        ("email_click_rate", 0.10, "within"),
        ("email_click_rate", 0.20, "within"),
        ("email_click_rate", 0.25, "above"),
        ("landing_page_conversion_rate", 0.4, "within"),
        ("landing_page_conversion_rate", 0.61, "above"),
        ("email_click_rate", None, None),
    ],
)
def test_a_value_is_placed_against_its_rule(kpi, value, verdict):
    assert RULES_OF_THUMB[kpi].verdict(value) == verdict
    text = marker(kpi, value)
    assert text.startswith(RULES_OF_THUMB[kpi].text)
    assert text.endswith(verdict or RULES_OF_THUMB[kpi].text)


def test_kpis_without_a_rule_get_no_marker():
    assert marker("win_rate", 0.3) == ""
