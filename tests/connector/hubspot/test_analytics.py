"""The web analytics stream reads HubSpot's Reporting API v2 from the sandbox over loopback."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import pytest

from config import HubSpotSettings
from connector.errors import PermissionDeniedError, unavailable
from connector.hubspot.analytics import REPORTS, WINDOW_DAYS, WebAnalyticsStream, normalize_web_analytics
from sandbox.hubspot.options import ALL_SCOPES
from tests.conftest import PORTAL_NOW
from tests.connector.hubspot.test_client import client_for
from tests.connector.hubspot.test_streams import collect

TODAY = PORTAL_NOW.date()


def stream_for(sandbox, **hub):
    return WebAnalyticsStream(HubSpotSettings(base_url=sandbox.url, **hub))


def by_report_day(records):
    return {(r["report"], r["day"]): r["rows"] for r in records}


def test_full_read_covers_every_report_and_day_in_windows_of_at_most_500_points(sandbox, clock):
    days = WINDOW_DAYS * 2 + 15
    with client_for(sandbox, clock) as client:
        records, checkpoints = collect(stream_for(sandbox, analytics_days=days).pages(client, {}, full=True))
    first = TODAY - timedelta(days=days - 1)
    expected = {
        (report.name, (first + timedelta(days=i)).isoformat()) for report in REPORTS for i in range(days)
    }
    assert set(by_report_day(records)) == expected and len(records) == len(expected)
    # One page per report and window; every checkpoint but the last says where to go on.
    assert len(checkpoints) == len(REPORTS) * 3
    assert all(c["window"] and c["through"] is None for c in checkpoints[:-1])
    assert checkpoints[-1] == {
        "through": TODAY.isoformat(),
        "window": None,
        "read_at": PORTAL_NOW.isoformat(),
    }


def test_a_days_new_contacts_per_source_are_the_contacts_created_that_day_with_that_source(sandbox, clock):
    with client_for(sandbox, clock) as client:
        records, _ = collect(stream_for(sandbox, analytics_days=400).pages(client, {}, full=True))
    truth: Counter[tuple[str, str]] = Counter()
    customers: Counter[tuple[str, str]] = Counter()
    for contact in sandbox.admin("GET", "/_sandbox/truth/contacts")["results"]:
        if contact["archived"]:
            continue
        props = contact["properties"]
        source = props.get("hs_analytics_source")
        created = props["createdate"][:10]
        if date.fromisoformat(created) >= TODAY - timedelta(days=399):
            truth[created, source] += 1
        entered = props.get("hs_v2_date_entered_customer")
        if entered and date.fromisoformat(entered[:10]) >= TODAY - timedelta(days=399):
            customers[entered[:10], source] += 1
    got: Counter[tuple[str, str]] = Counter()
    got_customers: Counter[tuple[str, str]] = Counter()
    for (report, day), rows in by_report_day(records).items():
        if report == "sources":
            for row in rows:
                got[day, row["breakdown"]] += row["contacts"]
                got_customers[day, row["breakdown"]] += row["customers"]
    assert +got == +truth and sum(truth.values()) > 50
    assert +got_customers == +customers
    # The site's totals are the sources summed (sessions and contacts are additive).
    days = by_report_day(records)
    for day in ("2026-05-01", "2026-05-20"):
        (total,) = days["totals", day]
        assert total["visits"] == sum(r["visits"] for r in days["sources", day])
        assert total["contacts"] == sum(r["contacts"] for r in days["sources", day])


def test_drill_downs_and_pages_have_their_own_rows(sandbox, clock):
    with client_for(sandbox, clock) as client:
        records, _ = collect(stream_for(sandbox, analytics_days=60).pages(client, {}, full=True))
    days = by_report_day(records)
    networks = {
        row["breakdown"]
        for (report, _), rows in days.items()
        if report == "sources:SOCIAL_MEDIA"
        for row in rows
    }
    assert networks <= {"LinkedIn", "Facebook", "X", "Instagram"} and networks
    social = {
        d: sum(r["visits"] for r in rows)
        for (report, d), rows in days.items()
        if report == "sources:SOCIAL_MEDIA"
    }
    for (report, d), rows in days.items():
        if report == "sources":
            parent = next((r["visits"] for r in rows if r["breakdown"] == "SOCIAL_MEDIA"), 0)
            assert social[d] >= parent  # the drill-down shares out its source's sessions
    landing = [row for (report, _), rows in days.items() if report == "landing-pages" for row in rows]
    assert all(row["meta"].startswith("/lp/") for row in landing)
    assert any(row["rawViews"] > 0 and row["submissions"] == 0 for row in landing)  # no form
    assert sum(row["submissions"] for row in landing) > 0
    blog = [row for (report, _), rows in days.items() if report == "blog-posts" for row in rows]
    assert blog and all(row["submissions"] == 0 and row["entrances"] >= 0 for row in blog)


def test_offset_paging_gives_the_same_rows_as_one_page(sandbox, clock):
    with client_for(sandbox, clock) as client:
        whole, _ = collect(stream_for(sandbox, analytics_days=30).pages(client, {}, full=True))
        before = sandbox.stats()["requests"]
        paged, _ = collect(
            WebAnalyticsStream(HubSpotSettings(base_url=sandbox.url, analytics_days=30), page_size=2).pages(
                client, {}, full=True
            )
        )
        requests = sandbox.stats()["requests"] - before
    assert by_report_day(paged) == by_report_day(whole)
    assert requests > len(REPORTS) * 2  # sources have ten rows a day: five offsets of two


def test_incremental_reads_wait_for_analytics_minutes(sandbox, clock):
    stream = stream_for(sandbox, analytics_days=5, analytics_minutes=60)
    with client_for(sandbox, clock) as client:
        _, checkpoints = collect(stream.pages(client, {}, full=True))
        before = sandbox.stats()["requests"]
        records, again = collect(stream.pages(client, checkpoints[-1], full=False))
        assert records == [] and again == [checkpoints[-1]] and sandbox.stats()["requests"] == before
        sandbox.store.clock.advance(3601)
        records, _ = collect(stream.pages(client, checkpoints[-1], full=False))
    assert records


def test_incremental_reads_again_from_the_last_day_minus_the_lookback_and_sees_revisions(sandbox, clock):
    stream = stream_for(sandbox, analytics_days=20, analytics_lookback_days=3)
    with client_for(sandbox, clock) as client:
        first, checkpoints = collect(stream.pages(client, {}, full=True))
        sandbox.store.clock.advance(2 * 86400)
        again, later = collect(stream.pages(client, checkpoints[-1], full=False))
    today = TODAY + timedelta(days=2)
    assert {r["day"] for r in again} == {
        (TODAY - timedelta(days=3) + timedelta(days=i)).isoformat() for i in range(6)
    }
    assert later[-1]["through"] == today.isoformat()
    # The day that was "today" at the first read had 60 % of its sessions; now it is final.
    before = {row["breakdown"]: row["visits"] for row in by_report_day(first)["sources", TODAY.isoformat()]}
    after = {row["breakdown"]: row["visits"] for row in by_report_day(again)["sources", TODAY.isoformat()]}
    assert sum(after.values()) > sum(before.values())


def test_an_interrupted_read_resumes_at_its_checkpoint(sandbox, clock):
    stream = stream_for(sandbox, analytics_days=WINDOW_DAYS + 10)
    with client_for(sandbox, clock) as client:
        whole, _ = collect(stream.pages(client, {}, full=True))
        pages = stream.pages(client, {}, full=True)
        head = [next(pages) for _ in range(len(REPORTS) + 2)]
        rest, checkpoints = collect(stream.pages(client, head[-1].checkpoint, full=False))
    resumed = [r for page in head for r in page.records] + rest
    assert by_report_day(resumed) == by_report_day(whole) and len(resumed) == len(whole)
    assert checkpoints[-1]["through"] == TODAY.isoformat()


def test_a_token_without_the_analytics_scope_makes_the_stream_unavailable(sandbox, clock):
    scopes = [s for s in ALL_SCOPES if s != "business-intelligence"]
    sandbox.admin("POST", "/_sandbox/options", json={"token_scopes": scopes})
    with client_for(sandbox, clock) as client, pytest.raises(PermissionDeniedError) as info:
        collect(stream_for(sandbox, analytics_days=10).pages(client, {"through": "2026-05-01"}, full=True))
    assert info.value.missing_scopes == ["business-intelligence"] and unavailable(info.value)


@pytest.mark.parametrize(
    ("params", "status", "category"),
    [
        ({"start": "20240101", "end": "20260601"}, 413, "RESULT_POINT_LIMIT_EXCEEDED"),
        ({"start": "2026-01-01", "end": "20260601"}, 400, "VALIDATION_ERROR"),
        ({"end": "20260601"}, 400, "VALIDATION_ERROR"),
        ({"start": "20260601", "end": "20260501"}, 400, "VALIDATION_ERROR"),
    ],
)
def test_the_sandbox_refuses_what_hubspot_refuses(sandbox, params, status, category):
    with sandbox.api() as api:
        response = api.get("/analytics/v2/reports/sources/daily", params=params)
    assert response.status_code == status and response.json()["category"] == category


def test_total_and_summarized_periods_have_hubspots_shapes(sandbox):
    with sandbox.api() as api:
        total = api.get(
            "/analytics/v2/reports/sources/total", params={"start": "20260501", "end": "20260531", "limit": 3}
        ).json()
        monthly = api.get(
            "/analytics/v2/reports/sources/summarize/monthly", params={"start": "20260101", "end": "20260531"}
        ).json()
        daily = api.get(
            "/analytics/v2/reports/sources/daily", params={"start": "20260501", "end": "20260531"}
        ).json()
    assert set(total) == {"breakdowns", "offset", "total", "totals"} and len(total["breakdowns"]) == 3
    assert total["totals"]["visits"] == sum(r["visits"] for rows in daily.values() for r in rows)
    assert list(monthly) == ["2026-01-01", "2026-02-01", "2026-03-01", "2026-04-01", "2026-05-01"]
    assert all(len(rows) == 1 and "breakdown" not in rows[0] for rows in monthly.values())
    assert monthly["2026-05-01"][0]["visits"] == total["totals"]["visits"]


def test_past_days_keep_their_traffic_when_the_portal_grows(sandbox):
    """A day's sessions follow its source's new contacts over the days up to it, not the portal's
    totals or today's date: new contacts and the passing of time leave settled days as they were."""
    params = {"start": "20260301", "end": "20260525"}  # ends a week before the portal's today
    with sandbox.api() as api:
        before = api.get("/analytics/v2/reports/sources/daily", params=params).json()
        sandbox.admin("POST", "/_sandbox/simulate", json={"days": 3, "new_contacts": 60, "stage_changes": 20})
        after = api.get("/analytics/v2/reports/sources/daily", params=params).json()
    visits = {day: {r["breakdown"]: r["visits"] for r in rows} for day, rows in before.items()}
    assert sum(v for day in visits.values() for v in day.values()) > 0
    assert {day: {r["breakdown"]: r["visits"] for r in rows} for day, rows in after.items()} == visits


def test_the_parser_quarantines_bad_counters_and_rejects_unreadable_days():
    records = [
        {
            "report": "sources",
            "day": "2026-05-01",
            "rows": [
                {"breakdown": "ORGANIC_SEARCH", "visits": 10, "contacts": 1},
                {"breakdown": "DIRECT_TRAFFIC", "visits": -4, "contacts": "many"},
                {"visits": 3},
                {"breakdown": "ORGANIC_SEARCH", "visits": 99},
            ],
        },
        {"report": "sources", "day": "May 2nd", "rows": []},
        {"report": "totals", "day": "2026-05-01", "rows": [{"visits": 13, "contacts": 1}]},
        {"report": "sources", "day": "2026-05-03", "rows": []},
    ]
    out = normalize_web_analytics(records)
    assert [e["id"] for e in out.entities] == [
        "sources|2026-05-01",
        "totals|2026-05-01",
        "sources|2026-05-03",
    ]
    assert out.rejected == 1
    rows = {(c["day_id"], c["breakdown"]): c for c in out.children}
    assert rows["sources|2026-05-01", "ORGANIC_SEARCH"]["visits"] == 10  # the first of a repeated breakdown
    assert rows["sources|2026-05-01", "DIRECT_TRAFFIC"]["visits"] is None
    assert rows["totals|2026-05-01", "total"]["visits"] == 13
    reasons = sorted((i.field, i.reason) for i in out.issues)
    assert ("DIRECT_TRAFFIC.visits", "counter is not a whole number >= 0") in reasons
    assert ("DIRECT_TRAFFIC.contacts", "counter is not a whole number >= 0") in reasons
    assert ("rows[2]", "row has no breakdown") in reasons
    assert any(i.field == "*" for i in out.issues)
