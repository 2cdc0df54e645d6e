"""The pure record parsers: bad input becomes None plus a quarantine finding, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.hubspot.catalogue import normalize_owners, normalize_pipelines
from connector.hubspot.normalize import normalize_companies, normalize_contacts, normalize_deals
from connector.records import parse_timestamp

# The record parsers of the CRM streams and the catalogue (as each stream's `parse` calls them).
PARSERS = {
    "contacts": lambda records, stated=(): normalize_contacts(records, {"lead"}, stated),
    "companies": lambda records, stated=(): normalize_companies(records),
    "deals": lambda records, stated=(): normalize_deals(records, stated),
    "owners": lambda records, stated=(): normalize_owners(records),
    "pipelines": lambda records, stated=(): normalize_pipelines(records),
}


@pytest.mark.parametrize(
    ("raw", "expected", "reason"),
    [
        ("2024-10-28T16:39:00.612Z", datetime(2024, 10, 28, 16, 39, 0, 612000, tzinfo=UTC), None),
        ("2024-10-28T18:39:00+02:00", datetime(2024, 10, 28, 16, 39, tzinfo=UTC), None),
        ("2024-10-28", datetime(2024, 10, 28, tzinfo=UTC), None),
        ("2024-10-28T16:39:00", datetime(2024, 10, 28, 16, 39, tzinfo=UTC), None),
        (" 2024-10-28T16:39:00Z ", datetime(2024, 10, 28, 16, 39, tzinfo=UTC), None),
        ("2024-13-28T16:39:00.000Z", None, "unparseable date"),
        (None, None, None),
        ("", None, None),  # a cleared date: no value, not a finding
        ("  ", None, None),
        ("1727000000000", None, "epoch milliseconds where ISO-8601 text was expected"),
        ("next tuesday", None, "unparseable date"),
        (1727000000000, None, "expected ISO-8601 text, got int"),
    ],
)
def test_parse_timestamp(raw, expected, reason):
    assert parse_timestamp(raw) == (expected, reason)


def deal(record_id="1", **props):
    return {
        "id": record_id,
        "properties": props,
        "createdAt": "2024-01-01T00:00:00Z",
        "updatedAt": "2024-01-02T00:00:00Z",
        "archived": False,
    }


@pytest.mark.parametrize(
    ("amount", "expected", "issue"),
    [
        ("43", 43.0, None),
        ("1,200.50", 1200.5, None),
        ("", None, None),
        (None, None, None),
        ("12,5k", None, "non-numeric amount"),
        ("NaN", None, "non-finite amount"),
        ("abc", None, "non-numeric amount"),
    ],
)
def test_deal_amounts(amount, expected, issue):
    out = normalize_deals([deal(amount=amount)])
    assert out.entities[0]["amount"] == expected
    assert [i.reason for i in out.issues] == ([issue] if issue else [])


@pytest.mark.parametrize("stream", ["contacts", "companies", "deals"])
def test_an_empty_string_is_no_value_in_every_typed_property(stream):
    """HubSpot sends "" for a cleared property of any type: dates, numbers, booleans, enumerations."""
    from connector.hubspot.constants import COMPANY_PROPERTIES, CONTACT_PROPERTIES, DEAL_PROPERTIES

    by_stream = {"contacts": CONTACT_PROPERTIES, "companies": COMPANY_PROPERTIES, "deals": DEAL_PROPERTIES}
    names = by_stream[stream]
    stage_dates = {f"hs_v2_date_entered_{s}": "" for s in ("lead", "customer", "closedwon")}
    record = {**deal("7"), "properties": {**dict.fromkeys(names, ""), **stage_dates}}
    out = PARSERS[stream]([record])
    assert out.issues == [] and out.rejected == 0
    (row,) = out.entities
    typed = {k: v for k, v in row.items() if k not in ("id", "raw", "archived", "created_at", "updated_at")}
    assert len(typed) >= 15 and all(v is None for k, v in typed.items() if k != "lifecyclestage_known"), typed
    assert out.stage_dates == []


def test_records_of_the_wrong_shape_are_rejected_whole():
    out = normalize_contacts(
        [
            "not a record",
            {"properties": {}},
            {"id": "abc", "properties": {}},
            {"id": "7", "properties": None},
            {"id": "8", "properties": {"email": "a@b"}},
        ],
        set(),
    )
    assert out.rejected == 4
    assert [e["id"] for e in out.entities] == ["8"]
    assert all(i.field == "*" for i in out.issues)
    # Rejected records without an id still get a stable quarantine key.
    again = normalize_contacts(["not a record"], set())
    assert again.issues[0].record_id == out.issues[0].record_id


def test_contact_stage_dates_pivot_every_source_property():
    record = {
        "id": "5",
        "properties": {
            "lifecyclestage": "customer",
            "hs_v2_date_entered_lead": "2024-01-01T00:00:00Z",
            "hs_v2_date_entered_customer": "2024-03-01T00:00:00Z",
            "hs_v2_date_entered_current_stage": "2024-03-01T00:00:00Z",
            "hs_lifecyclestage_lead_date": "2023-12-24T00:00:00Z",
            "hs_date_entered_marketingqualifiedlead": "2024-02-01T00:00:00Z",
            "hs_v2_date_entered_opportunity": None,
        },
    }
    out = normalize_contacts([record], {"lead", "customer"})
    rows = {(r["stage"], r["source"]) for r in out.stage_dates}
    assert rows == {
        ("lead", "hs_v2_date_entered"),
        ("customer", "hs_v2_date_entered"),
        ("lead", "hs_lifecyclestage_date"),
        ("marketingqualifiedlead", "hs_date_entered"),
    }
    assert out.entities[0]["lifecyclestage_known"] is True


def test_contact_conversions_and_email_clicks_are_typed_and_checked():
    record = {
        "id": "6",
        "properties": {
            "first_conversion_date": "2024-01-01T10:00:00Z",
            "first_conversion_event_name": "Guide download",
            "recent_conversion_date": "2024-03-01T10:00:00.000Z",
            "recent_conversion_event_name": "Demo request",
            "hs_email_first_click_date": "soon",
            "hs_email_last_click_date": "",
        },
    }
    out = normalize_contacts([record], set())
    row = out.entities[0]
    assert row["first_conversion_at"] == datetime(2024, 1, 1, 10, tzinfo=UTC)
    assert (row["first_conversion"], row["recent_conversion"]) == ("Guide download", "Demo request")
    assert row["recent_conversion_at"] == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert row["email_first_click_at"] is None and row["email_last_click_at"] is None
    assert [i.field for i in out.issues] == ["hs_email_first_click_date"]


def test_deal_associations_are_deduplicated_and_stated():
    record = deal("9", dealname="x")
    record["associations"] = {
        "contacts": {
            "results": [
                {"id": "1", "type": "deal_to_contact"},
                {"id": "1", "type": "deal_to_contact_unlabeled"},
            ]
        }
    }
    out = normalize_deals([record])
    assert out.associations == [{"deal_id": "9", "to_type": "contact", "to_id": "1"}]
    assert out.association_owner_ids == ["9"]
    assert normalize_deals([deal("10")]).association_owner_ids == []


def test_pipeline_stages_become_numbers_and_flags():
    out = normalize_pipelines(
        [
            {
                "id": "default",
                "label": "Sales",
                "displayOrder": 0,
                "stages": [
                    {
                        "id": "won",
                        "label": "Won",
                        "displayOrder": 5,
                        "metadata": {"isClosed": "true", "probability": "1.0"},
                    },
                    {
                        "id": "lost",
                        "label": "Lost",
                        "displayOrder": 6,
                        "metadata": {"isClosed": "true", "probability": "0.0"},
                    },
                    {
                        "id": "x",
                        "label": "Pct",
                        "displayOrder": 1,
                        "metadata": {"isClosed": "false", "probability": "20"},
                    },
                    {"label": "no id"},
                ],
            }
        ]
    )
    stages = {c["stage_id"]: (c["probability"], c["is_closed"], c["is_won"]) for c in out.children}
    assert stages == {"won": (1.0, True, True), "lost": (0.0, True, False), "x": (0.2, False, False)}
    assert [i.reason for i in out.issues] == ["stage without id"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(st.lists(json_values, max_size=5))
def test_parsers_never_raise_on_arbitrary_json(records):
    for parse in PARSERS.values():
        out = parse(records)
        # Every input is either one entity or one rejected record.
        assert len(out.entities) + out.rejected == len(records)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "createdate",
                "amount",
                "closedate",
                "hs_is_closed",
                "dealstage",
                "hs_v2_date_entered_x",
                "amount_in_home_currency",
            ]
        ),
        json_values,
        max_size=7,
    )
)
def test_deal_fields_of_any_type_never_raise(props):
    out = normalize_deals([{"id": "1", "properties": props}])
    assert len(out.entities) == 1


def test_property_history_becomes_transitions_and_first_entries():
    def entry(value, ts, source="CRM_UI"):
        return {"value": value, "timestamp": ts, "sourceType": source}

    record = {
        "id": "9",
        "properties": {"lifecyclestage": "lead"},
        # Newest first, as HubSpot answers; a repeat, a duplicate and a broken entry among them.
        "propertiesWithHistory": {
            "lifecyclestage": [
                entry("lead", "2024-04-01T00:00:00Z"),
                entry("customer", "2024-03-01T00:00:00Z"),
                entry("customer", "2024-03-01T00:00:00Z"),
                "garbage",
                entry("lead", "not a date"),
                entry("lead", "2024-02-01T00:00:00Z", "FORM"),
                entry("lead", "2024-01-01T00:00:00Z", "FORM"),
            ]
        },
    }
    out = normalize_contacts([record], {"lead", "customer"})
    steps = [(t["from_stage"], t["to_stage"], t["at"].month, t["source_type"]) for t in out.transitions]
    assert steps == [
        (None, "lead", 1, "FORM"),
        ("lead", "customer", 3, "CRM_UI"),
        ("customer", "lead", 4, "CRM_UI"),
    ]
    firsts = {r["stage"]: r["entered_at"].month for r in out.history_stage_dates}
    assert firsts == {"lead": 1, "customer": 3} and out.history_owner_ids == ["9"]
    assert {(i.field, i.reason) for i in out.issues} == {
        ("propertiesWithHistory.lifecyclestage", "history entry is not an object"),
        ("propertiesWithHistory.lifecyclestage", "unparseable date"),
    }
    # Without a history block a record states nothing about its history.
    assert normalize_contacts([{"id": "9", "properties": {}}], set()).history_owner_ids == []


@pytest.mark.parametrize("block", [{"results": None}, {"results": "1,2"}, {"results": {"id": "1"}}])
@pytest.mark.parametrize("stream", ["contacts", "deals"])
def test_an_unreadable_associations_block_is_flagged_and_says_nothing(stream, block):
    """Found by bench/reliability.py's fuzzer: `"results": null` used to raise."""
    record = deal("9", dealname="x") if stream == "deals" else deal("9", lifecyclestage="lead")
    record["associations"] = {"companies": block}
    out = PARSERS[stream]([record], stated=("companies",))
    assert [e["id"] for e in out.entities] == ["9"]
    assert out.association_owner_ids == []  # stored associations are left as they are
    assert any(i.field == "associations.companies" for i in out.issues)
