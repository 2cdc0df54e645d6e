"""The scalar formulas, on plain numbers, so each can be checked against worked examples.

Every function returns None when its inputs cannot give a number (zero or missing denominator):
"no spend" and "ROI 0 %" are different facts, as are "no closed deals" and "0 % win rate".
"""

from __future__ import annotations


def safe_div(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def roi(revenue: float, spend: float) -> float | None:
    """(revenue − spend) / spend; 4.8 means 480 %."""
    return safe_div(revenue - spend, spend)


def roas(revenue: float, spend: float) -> float | None:
    """revenue / spend (a ratio, 1.0 = break-even; ROI is ROAS − 1)."""
    return safe_div(revenue, spend)


def cac(spend: float, new_customers: float) -> float | None:
    """Acquisition spend per new customer."""
    return safe_div(spend, new_customers)


def clv(
    average_order_value: float | None, orders_per_year: float | None, years_retained: float | None
) -> float | None:
    """Customer lifetime value in its revenue form: AOV × orders per year × years retained."""
    if average_order_value is None or orders_per_year is None or years_retained is None:
        return None
    return average_order_value * orders_per_year * years_retained


def margin_clv(lifetime_value: float | None, gross_margin: float | None) -> float | None:
    """CLV in its margin form: the revenue form × gross margin (profit, not revenue, per customer)."""
    if lifetime_value is None or gross_margin is None:
        return None
    return lifetime_value * gross_margin


def clv_roi(lifetime_value: float | None, acquisition_cost: float | None) -> float | None:
    """Return on the cost of winning a customer, measured on their lifetime value: (CLV − CAC) / CAC."""
    if lifetime_value is None:
        return None
    return safe_div(None if acquisition_cost is None else lifetime_value - acquisition_cost, acquisition_cost)


def pipeline_velocity(
    opportunities: float, win_rate: float | None, average_deal: float | None, cycle_days: float | None
) -> float | None:
    """Money per day: opportunities × win rate × average won deal / mean won cycle in days."""
    if win_rate is None or average_deal is None or cycle_days is None or cycle_days <= 0:
        return None
    return opportunities * win_rate * average_deal / cycle_days


def leads_per_customer(lead_to_customer_rate: float | None) -> float | None:
    """How many leads one new customer takes at a given lead → customer rate (1.4 % → about 71)."""
    return safe_div(1.0, lead_to_customer_rate)


def close_rate(won: float, opportunities: float) -> float | None:
    """Won / all opportunities (open ones included); not the win rate, which counts closed deals only."""
    return safe_div(won, opportunities)


def submission_rate(submissions: float, views: float) -> float | None:
    """Landing-page conversion: form submissions / page views."""
    return safe_div(submissions, views)


def email_rates(
    *,
    sent: float,
    unique_opens: float,
    unique_clicks: float,
    bounces: float = 0.0,
    unsubscribes: float = 0.0,
    delivered: float | None = None,
) -> dict[str, float | None]:
    """Email rates on HubSpot's and Mailchimp's denominators (delivered = sent − bounces when not given)."""
    delivered = sent - bounces if delivered is None else delivered
    return {
        "delivered": delivered,
        "delivery_rate": safe_div(delivered, sent),
        "bounce_rate": safe_div(sent - delivered, sent),
        "open_rate": safe_div(unique_opens, delivered),
        "click_rate": safe_div(unique_clicks, delivered),
        "click_to_open_rate": None if unique_opens == 0 else min(unique_clicks / unique_opens, 1.0),
        "unsubscribe_rate": safe_div(unsubscribes, delivered),
    }
