"""A deterministic generator of realistic B2B HubSpot portals, and the fixture loader.

The same seed and `now` always give the same portal. Contacts walk a plausible funnel: most
stay leads, some convert stage by stage, some skip stages, a few move backwards, some offline
imports arrive as customers; deals follow the contacts that reached opportunity, in two
pipelines, with amounts (a few missing) in several currencies.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Record = dict[str, Any]

FUNNEL = ["subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer"]
LIFECYCLE_OPTIONS = [*FUNNEL, "evangelist", "other"]
LIFECYCLE_LABELS = {
    "subscriber": "Subscriber",
    "lead": "Lead",
    "marketingqualifiedlead": "Marketing Qualified Lead",
    "salesqualifiedlead": "Sales Qualified Lead",
    "opportunity": "Opportunity",
    "customer": "Customer",
    "evangelist": "Evangelist",
    "other": "Other",
}

# (value, share of contacts, conversion quality, drill-down values)
SOURCES: list[tuple[str, float, float, list[str]]] = [
    ("ORGANIC_SEARCH", 0.24, 1.10, ["google", "bing", "duckduckgo"]),
    ("PAID_SEARCH", 0.12, 0.85, ["google ads", "microsoft ads"]),
    ("EMAIL_MARKETING", 0.08, 1.05, ["newsletter", "nurture-q1", "webinar-invite"]),
    ("SOCIAL_MEDIA", 0.08, 0.80, ["LinkedIn", "Facebook", "X", "Instagram"]),
    ("PAID_SOCIAL", 0.07, 0.70, ["LinkedIn", "Facebook"]),
    ("REFERRALS", 0.10, 1.35, ["partner.example.com", "g2.com", "capterra.com"]),
    ("DIRECT_TRAFFIC", 0.14, 1.00, []),
    ("OFFLINE", 0.10, 0.95, ["IMPORT", "CRM_UI", "API"]),
    ("OTHER_CAMPAIGNS", 0.04, 0.90, ["spring-fair", "partner-webinar"]),
    ("AI_REFERRALS", 0.03, 1.20, ["chatgpt.com", "perplexity.ai"]),
]

DEFAULT_PIPELINE = "default"
RENEWAL_PIPELINE = "75894301"
DEFAULT_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", "0.2", "false"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", "false"),
    ("presentationscheduled", "Presentation Scheduled", "0.6", "false"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", "false"),
    ("contractsent", "Contract Sent", "0.9", "false"),
    ("closedwon", "Closed Won", "1.0", "true"),
    ("closedlost", "Closed Lost", "0.0", "true"),
]
RENEWAL_STAGES = [
    ("130845001", "Renewal Due", "0.5", "false"),
    ("130845002", "Negotiation", "0.75", "false"),
    ("130845003", "Renewed", "1.0", "true"),
    ("130845004", "Churned", "0.0", "true"),
]
CURRENCIES = [("SEK", 0.80, 1.0), ("EUR", 0.12, 11.5), ("NOK", 0.08, 0.98)]
INDUSTRIES = [
    "MANUFACTURING",
    "COMPUTER_SOFTWARE",
    "LOGISTICS",
    "CONSTRUCTION",
    "RETAIL",
    "FINANCIAL_SERVICES",
]
FIRST = ["Anna", "Erik", "Maria", "Lars", "Karin", "Johan", "Sofia", "Nils", "Ingrid", "Ola", "Kari", "Mats"]
LAST = ["Andersson", "Johansson", "Karlsson", "Nilsson", "Hansen", "Olsen", "Larsen", "Berg", "Lindqvist"]
PERSONAS = ["persona_1", "persona_2", "persona_3"]
PERSONA_LABELS = {"persona_1": "Operations Olivia", "persona_2": "Technical Tom", "persona_3": "CFO Carl"}


def iso(value: datetime) -> str:
    """HubSpot's datetime format: UTC, milliseconds, `Z` (every rendered record needs several)."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(timespec="milliseconds")[:23] + "Z"


@dataclass
class GeneratorOptions:
    contacts: int = 1000
    deals: int | None = None
    companies: int | None = None
    seed: int = 1
    now: datetime | None = None
    history_days: int = 730
    legacy_stage_properties: bool = False
    custom_stages: list[tuple[str, str]] = field(default_factory=list)
    home_currency: str = "SEK"
    malformed: int = 0


@dataclass
class PortalData:
    """Everything a sandbox portal starts with, in HubSpot's record shape."""

    contacts: list[Record] = field(default_factory=list)
    companies: list[Record] = field(default_factory=list)
    deals: list[Record] = field(default_factory=list)
    pipelines: list[Record] = field(default_factory=list)
    owners: list[Record] = field(default_factory=list)
    # (from_type, from_id, to_type, to_id)
    associations: list[tuple[str, int, str, int]] = field(default_factory=list)
    lifecycle_options: list[tuple[str, str]] = field(
        default_factory=lambda: [(s, LIFECYCLE_LABELS[s]) for s in LIFECYCLE_OPTIONS]
    )
    legacy_stage_properties: bool = False
    # Marketing emails in the shape of GET /marketing/v3/emails?includeStats=true.
    marketing_emails: list[dict[str, Any]] = field(default_factory=list)


def _record(record_id: int, props: dict[str, Any], created: datetime, updated: datetime) -> Record:
    clean = {k: v for k, v in props.items() if v is not None}
    clean["hs_object_id"] = str(record_id)
    return {
        "id": record_id,
        "properties": clean,
        "createdAt": created,
        "updatedAt": updated,
        "archived": False,
    }


def build_pipelines() -> list[Record]:
    def stages(spec: list[tuple[str, str, str, str]], rng: random.Random) -> list[Record]:
        items = [
            {
                "id": sid,
                "label": label,
                "displayOrder": order,
                "metadata": {"isClosed": closed, "probability": prob},
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                "archived": False,
                "createdAt": "1970-01-01T00:00:00Z",
                "updatedAt": "1970-01-01T00:00:00Z",
            }
            for order, (sid, label, prob, closed) in enumerate(spec)
        ]
        rng.shuffle(items)  # HubSpot does not promise displayOrder order
        return items

    rng = random.Random(7)
    return [
        {
            "id": DEFAULT_PIPELINE,
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "archived": False,
            "createdAt": "1970-01-01T00:00:00Z",
            "updatedAt": "1970-01-01T00:00:00Z",
            "stages": stages(DEFAULT_STAGES, rng),
        },
        {
            "id": RENEWAL_PIPELINE,
            "label": "Renewals",
            "displayOrder": 1,
            "archived": False,
            "createdAt": "2023-03-01T09:12:44.120Z",
            "updatedAt": "2024-01-15T13:02:10.004Z",
            "stages": stages(RENEWAL_STAGES, rng),
        },
    ]


def build_owners(now: datetime) -> list[Record]:
    owners = []
    for i in range(8):
        created = now - timedelta(days=900 - i * 40)
        owners.append(
            {
                "id": str(40_000_001 + i * 7),
                "email": f"{FIRST[i].lower()}.{LAST[i].lower()}@sandbox-portal.example",
                "firstName": FIRST[i],
                "lastName": LAST[i],
                "type": "PERSON",
                "userId": 9_100_000 + i,
                "userIdIncludingInactive": 9_100_000 + i,
                "createdAt": iso(created),
                "updatedAt": iso(created + timedelta(days=30)),
                "archived": i == 7,
                "teams": [{"id": "178588", "name": "Nordic Sales", "primary": True}],
            }
        )
    return owners


class _Generator:
    def __init__(self, options: GeneratorOptions) -> None:
        self.o = options
        self.rng = random.Random(options.seed)
        self.now = (options.now or datetime.now(UTC)).astimezone(UTC)
        self.data = PortalData(legacy_stage_properties=options.legacy_stage_properties)
        for value, label in options.custom_stages:
            self.data.lifecycle_options.insert(3, (value, label))
        self.funnel = list(FUNNEL)
        if options.custom_stages:
            # Custom stages sit between MQL and SQL, as portals usually add them (e.g. "PQL").
            self.funnel[3:3] = [value for value, _ in options.custom_stages]

    def _weighted(self, items: list[Any], weights: list[float]) -> Any:
        return self.rng.choices(items, weights=weights, k=1)[0]

    def _days(self, mean: float) -> timedelta:
        return timedelta(days=self.rng.expovariate(1 / mean), seconds=self.rng.randint(0, 3600))

    def run(self) -> PortalData:
        o = self.o
        n_companies = o.companies if o.companies is not None else max(1, o.contacts // 4)
        n_deals = o.deals if o.deals is not None else o.contacts // 5
        self.data.pipelines = build_pipelines()
        self.data.owners = build_owners(self.now)
        self.active_owners = [int(w["id"]) for w in self.data.owners if not w["archived"]]
        created_times = sorted(
            self.now
            - timedelta(
                days=o.history_days * (1 - math.sqrt(self.rng.random())), seconds=self.rng.randint(0, 86399)
            )
            for _ in range(o.contacts)
        )
        companies = self._companies(n_companies)
        contact_paths = self._contacts(created_times, companies)
        self._finish_companies(companies)
        self._deals(contact_paths, n_deals)
        self._malformed(o.malformed)
        self.data.marketing_emails = marketing_emails(
            created_times, now=self.now, history_days=o.history_days, seed=o.seed
        )
        return self.data

    # -- companies -----------------------------------------------------------------------------

    def _companies(self, count: int) -> list[Record]:
        companies = []
        next_id = 5_000_000_101
        for i in range(count):
            next_id += self.rng.randint(1, 40)
            suffix = self.rng.choice(["AB", "AS", "Group", "Industri", "Tech", "Logistik"])
            name = f"{self.rng.choice(LAST)} {suffix} {i}"
            domain = name.lower().replace(" ", "-") + ".example"
            props = {
                "name": name,
                "domain": domain,
                "industry": self.rng.choice(INDUSTRIES),
                "numberofemployees": str(self.rng.choice([8, 25, 60, 140, 400, 1200])),
                "annualrevenue": str(self.rng.choice([4_000_000, 25_000_000, 90_000_000, 400_000_000])),
                "country": self.rng.choice(["Sweden", "Norway", "Denmark", "Finland"]),
                "hubspot_owner_id": str(self.rng.choice(self.active_owners)),
            }
            companies.append(_record(next_id, props, self.now, self.now))
        self.data.companies = companies
        return companies

    def _finish_companies(self, companies: list[Record]) -> None:
        rank = {stage: i for i, stage in enumerate(self.funnel)}
        members: dict[int, list[Record]] = {}
        for contact in self.data.contacts:
            company_id = contact["properties"].get("associatedcompanyid")
            if company_id:
                members.setdefault(int(company_id), []).append(contact)
        for company in companies:
            people = members.get(company["id"], [])
            if people:
                first = min(people, key=lambda c: c["createdAt"])
                created = first["createdAt"] - timedelta(minutes=self.rng.randint(1, 600))
                stages = [p["properties"].get("lifecyclestage", "lead") for p in people]
                best = max(stages, key=lambda s: rank.get(s, -1))
                company["properties"]["lifecyclestage"] = best
                for name in (
                    "hs_analytics_source",
                    "hs_analytics_source_data_1",
                    "hs_analytics_source_data_2",
                ):
                    if name in first["properties"]:
                        company["properties"][name] = first["properties"][name]
                updated = max(p["updatedAt"] for p in people)
            else:
                created = self.now - timedelta(days=self.rng.uniform(1, self.o.history_days))
                updated = created + timedelta(hours=2)
            created = min(created, self.now)
            updated = min(max(updated, created), self.now)
            company["createdAt"], company["updatedAt"] = created, updated
            company["properties"]["createdate"] = iso(created)
            company["properties"]["hs_lastmodifieddate"] = iso(updated)

    # -- contacts ------------------------------------------------------------------------------

    def _walk(self, created: datetime, quality: float, offline: bool) -> list[tuple[str, datetime]]:
        """The stage path of one contact: (stage, time entered), in time order."""
        rng = self.rng
        if offline and rng.random() < 0.25:
            return [("customer", created)]  # imported customer: only a customer date
        t = created
        path: list[tuple[str, datetime]] = []
        if rng.random() < 0.12:
            path.append(("subscriber", t))
            if rng.random() < 0.5:
                return path
            t += self._days(20)
            if t > self.now:
                return path
        path.append(("lead", t))
        advance = {
            "lead": 0.30,
            "marketingqualifiedlead": 0.50,
            "salesqualifiedlead": 0.62,
            "opportunity": 0.36,
        }
        delay = {"lead": 12.0, "marketingqualifiedlead": 9.0, "salesqualifiedlead": 10.0, "opportunity": 35.0}
        custom = [s for s in self.funnel if s not in FUNNEL]
        current = "lead"
        while current != "customer":
            base = advance.get(current, 0.6)
            p = min(
                0.95,
                base * (quality if current in ("lead", "marketingqualifiedlead", "opportunity") else 1.0),
            )
            if rng.random() >= p:
                break
            target = FUNNEL[FUNNEL.index(current) + 1] if current in FUNNEL else "salesqualifiedlead"
            if current == "lead":
                roll = rng.random()
                if roll < 0.03:
                    target = "customer"  # closed straight from a lead: sales skipped the funnel
                elif roll < 0.10:
                    target = "salesqualifiedlead"
            if current == "marketingqualifiedlead" and custom and rng.random() < 0.3:
                target = custom[0]
            t = t + self._days(delay.get(current, 7.0))
            if t > self.now:
                break
            path.append((target, t))
            current = target
        if current in ("salesqualifiedlead", "opportunity") and rng.random() < 0.06:
            back = t + self._days(25)
            if back < self.now:
                path.append(("lead", back))  # disqualified and recycled to nurture
        elif current == "customer" and rng.random() < 0.05:
            later = t + self._days(120)
            if later < self.now:
                path.append(("evangelist", later))
        return path

    def _contacts(
        self, created_times: list[datetime], companies: list[Record]
    ) -> list[tuple[Record, list[tuple[str, datetime]]]]:
        rng = self.rng
        names = [s[0] for s in SOURCES]
        weights = [s[1] for s in SOURCES]
        info = {s[0]: s for s in SOURCES}
        next_id = 101
        out = []
        for i, created in enumerate(created_times):
            next_id += rng.randint(1, 3)
            source = self._weighted(names, weights)
            _, _, quality, drill = info[source]
            path = self._walk(created, quality, source == "OFFLINE")
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = companies[rng.randrange(len(companies))] if companies and rng.random() < 0.92 else None
            domain = company["properties"]["domain"] if company else "mail.example"
            props: dict[str, Any] = {
                "email": f"{first.lower()}.{last.lower()}.{i}@{domain}",
                "firstname": first,
                "lastname": last,
                "createdate": iso(created),
                "hs_analytics_source": source,
                "hs_analytics_source_data_1": rng.choice(drill) if drill else None,
                "hs_analytics_source_data_2": f"{source.lower()}-{rng.randint(1, 30)}" if drill else None,
                "hs_persona": self._weighted([*PERSONAS, None], [0.25, 0.2, 0.1, 0.45]),
                "associatedcompanyid": str(company["id"]) if company else None,
            }
            if rng.random() < 0.4:
                latest = self._weighted(names, weights)
                props["hs_latest_source"] = latest
                props["hs_latest_source_data_1"] = rng.choice(info[latest][3]) if info[latest][3] else None
            else:
                props["hs_latest_source"] = source
            self._apply_path(props, path)
            if len(path) > 1 or path[-1][0] not in ("lead", "subscriber"):
                props["hubspot_owner_id"] = str(rng.choice(self.active_owners))
            updated = max(t for _, t in path) + timedelta(minutes=rng.randint(1, 300))
            updated = min(max(updated, created), self.now)
            props["lastmodifieddate"] = iso(updated)
            record = _record(next_id, props, created, updated)
            self.data.contacts.append(record)
            if company is not None:
                self.data.associations.append(("contacts", next_id, "companies", company["id"]))
            out.append((record, path))
        return out

    def _apply_path(self, props: dict[str, Any], path: list[tuple[str, datetime]]) -> None:
        """lifecyclestage plus its stage-date properties (v2 = latest entry, legacy = first entry)."""
        props["lifecyclestage"] = path[-1][0]
        first_entry: dict[str, datetime] = {}
        for i, (stage, t) in enumerate(path):
            first_entry.setdefault(stage, t)
            props[f"hs_v2_date_entered_{stage}"] = iso(t)
            if i + 1 < len(path):
                props[f"hs_v2_date_exited_{stage}"] = iso(path[i + 1][1])
            else:
                props.pop(f"hs_v2_date_exited_{stage}", None)
        if self.o.legacy_stage_properties:
            for stage, t in first_entry.items():
                props[f"hs_lifecyclestage_{stage}_date"] = iso(t)
        if "customer" in first_entry:
            props["closedate"] = iso(first_entry["customer"])

    # -- deals ---------------------------------------------------------------------------------

    def _amount(self) -> tuple[str | None, str | None, str]:
        if self.rng.random() < 0.03:
            return None, None, self.o.home_currency  # missing amount
        code, _, rate = self._weighted(CURRENCIES, [c[1] for c in CURRENCIES])
        amount = round(math.exp(self.rng.gauss(math.log(120_000), 0.8)) / rate, -2)
        amount = max(amount, 1000.0)
        return f"{amount:.0f}", f"{amount * rate:.2f}", code

    def _deal(
        self,
        contact: Record,
        created: datetime,
        pipeline: str,
        outcome: str,
        closed_at: datetime | None,
    ) -> Record:
        rng = self.rng
        stages = RENEWAL_STAGES if pipeline == RENEWAL_PIPELINE else DEFAULT_STAGES
        open_ids = [s[0] for s in stages if s[3] == "false"]
        won_id = next(s[0] for s in stages if s[3] == "true" and s[2] == "1.0")
        lost_id = next(s[0] for s in stages if s[3] == "true" and s[2] == "0.0")
        cprops = contact["properties"]
        amount, home, currency = self._amount()
        props: dict[str, Any] = {
            "dealname": f"{cprops.get('lastname', 'Deal')} – "
            + ("renewal" if pipeline == RENEWAL_PIPELINE else "new business"),
            "pipeline": pipeline,
            "amount": amount,
            "amount_in_home_currency": home,
            "deal_currency_code": currency,
            "createdate": iso(created),
            "hubspot_owner_id": cprops.get("hubspot_owner_id") or str(rng.choice(self.active_owners)),
        }
        for name in ("hs_analytics_source", "hs_analytics_source_data_1", "hs_analytics_source_data_2"):
            props[name] = cprops.get(name)
        props["hs_analytics_latest_source"] = cprops.get("hs_latest_source")
        # Walk the open stages, then close if the outcome says so.
        end = closed_at or self.now
        reached = rng.randint(1, len(open_ids)) if outcome == "open" else len(open_ids)
        if outcome == "lost":
            reached = rng.randint(1, len(open_ids))
        span = max((end - created).total_seconds(), 60.0)
        times = sorted(created + timedelta(seconds=rng.uniform(0, span * 0.9)) for _ in range(reached - 1))
        path = [(open_ids[0], created), *zip(open_ids[1:reached], times, strict=False)]
        if outcome in ("won", "lost") and closed_at is not None:
            path.append((won_id if outcome == "won" else lost_id, closed_at))
        for stage, t in path:
            props[f"hs_v2_date_entered_{stage}"] = iso(t)
        props["dealstage"] = path[-1][0]
        closed = outcome in ("won", "lost")
        props["hs_is_closed"] = "true" if closed else "false"
        props["hs_is_closed_won"] = "true" if outcome == "won" else "false"
        if closed and closed_at is not None:
            props["closedate"] = iso(closed_at)
        else:
            # HubSpot gives new deals an expected close date; it is forecast, not fact.
            props["closedate"] = iso(created + timedelta(days=rng.randint(20, 90)))
        updated = min(max(t for _, t in path) + timedelta(minutes=rng.randint(1, 120)), self.now)
        updated = max(updated, created)
        props["hs_lastmodifieddate"] = iso(updated)
        return {"properties": props, "createdAt": created, "updatedAt": updated, "contact": contact}

    def _deals(self, contact_paths: list[tuple[Record, list[tuple[str, datetime]]]], target: int) -> None:
        rng = self.rng
        drafts: list[Record] = []
        customers: list[tuple[Record, datetime]] = []
        later: list[tuple[Record, datetime]] = []
        for contact, path in contact_paths:
            stages = dict(path)
            opp = stages.get("opportunity")
            won = stages.get("customer")
            if won is not None and len(path) > 1:
                customers.append((contact, won))
                created = opp or (won - self._days(30))
                created = max(created, contact["createdAt"])
                drafts.append(self._deal(contact, min(created, won), DEFAULT_PIPELINE, "won", won))
            elif opp is not None:
                closes = opp + self._days(45)
                if closes < self.now and rng.random() < 0.6:
                    drafts.append(self._deal(contact, opp, DEFAULT_PIPELINE, "lost", closes))
                else:
                    drafts.append(self._deal(contact, opp, DEFAULT_PIPELINE, "open", None))
            elif "salesqualifiedlead" in stages:
                later.append((contact, stages["salesqualifiedlead"]))
        # Renewals for customers a year on, then more new-business deals from SQLs, to reach the target.
        for contact, won in customers:
            if len(drafts) >= target:
                break
            due = won + timedelta(days=rng.randint(300, 380))
            if due < self.now:
                closes = due + self._days(20)
                if closes < self.now:
                    outcome = "won" if rng.random() < 0.8 else "lost"
                    drafts.append(self._deal(contact, due, RENEWAL_PIPELINE, outcome, closes))
                else:
                    drafts.append(self._deal(contact, due, RENEWAL_PIPELINE, "open", None))
        pool = later or [(c, c["createdAt"]) for c, _ in contact_paths]
        while len(drafts) < target and pool:
            contact, since = pool[rng.randrange(len(pool))]
            created = since + self._days(10)
            if created >= self.now:
                created = since
            closes = created + self._days(50)
            if closes < self.now and rng.random() < 0.55:
                drafts.append(self._deal(contact, created, DEFAULT_PIPELINE, "lost", closes))
            else:
                drafts.append(self._deal(contact, created, DEFAULT_PIPELINE, "open", None))
        if len(drafts) > target:
            drafts = sorted(rng.sample(drafts, target), key=lambda d: d["createdAt"])
        drafts.sort(key=lambda d: d["createdAt"])
        # A few deals imported with a close date before their creation date.
        for draft in drafts:
            if draft["properties"]["hs_is_closed"] == "true" and rng.random() < 0.005:
                back = draft["createdAt"] - timedelta(days=rng.randint(5, 60))
                draft["properties"]["closedate"] = iso(back)
        next_id = 10_000_000_001
        for draft in drafts:
            next_id += rng.randint(1, 25)
            record = _record(next_id, draft["properties"], draft["createdAt"], draft["updatedAt"])
            record["properties"]["createdate"] = iso(draft["createdAt"])
            self.data.deals.append(record)
            contact = draft["contact"]
            self.data.associations.append(("deals", next_id, "contacts", contact["id"]))
            company = contact["properties"].get("associatedcompanyid")
            if company:
                self.data.associations.append(("deals", next_id, "companies", int(company)))

    def _malformed(self, count: int) -> None:
        """Plant bad values, as real portals have them, so quarantine has something to catch."""
        bad_contact = [
            ("createdate", ""),
            ("lastmodifieddate", "1727000000000"),
            ("lifecyclestage", "zombie_stage"),
            ("hs_v2_date_entered_lead", "next tuesday"),
        ]
        bad_deal = [
            ("amount", "12,5k"),
            ("closedate", ""),
            ("amount", "n/a"),
            ("createdate", "1727000000000"),
        ]
        for i in range(count):
            if i % 2 == 0 and self.data.contacts:
                record = self.data.contacts[self.rng.randrange(len(self.data.contacts))]
                name, value = bad_contact[(i // 2) % len(bad_contact)]
            elif self.data.deals:
                record = self.data.deals[self.rng.randrange(len(self.data.deals))]
                name, value = bad_deal[(i // 2) % len(bad_deal)]
            else:
                continue
            record["properties"][name] = value


def generate_portal(options: GeneratorOptions) -> PortalData:
    """A whole portal from a seed; identical options give an identical portal."""
    return _Generator(options).run()


def _parse_time(value: Any, fallback: datetime) -> datetime:
    if isinstance(value, str) and value:
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def load_fixture(path: Path, *, now: datetime | None = None) -> PortalData:
    """A portal from a JSON file of records in HubSpot's own API shape (see docs/sandbox.md)."""
    now = now or datetime.now(UTC)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the fixture must be a JSON object with contacts, companies, deals, …")
    data = PortalData(pipelines=raw.get("pipelines") or build_pipelines(), owners=raw.get("owners") or [])
    for object_type in ("contacts", "companies", "deals"):
        for item in raw.get(object_type) or []:
            if not isinstance(item, dict) or not str(item.get("id", "")).isdigit():
                raise ValueError(f"{path}: every {object_type} record needs a numeric string id")
            record_id = int(item["id"])
            props = {k: (None if v is None else str(v)) for k, v in (item.get("properties") or {}).items()}
            created = _parse_time(item.get("createdAt") or props.get("createdate"), now)
            modified_key = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
            updated = _parse_time(item.get("updatedAt") or props.get(modified_key), created)
            props.setdefault("createdate", iso(created))
            props.setdefault(modified_key, iso(updated))
            record = _record(record_id, props, created, updated)
            if item.get("archived"):
                record["archived"] = True
                record["archivedAt"] = _parse_time(item.get("archivedAt"), updated)
            getattr(data, object_type).append(record)
            for to_type, block in (item.get("associations") or {}).items():
                for assoc in (block or {}).get("results", []):
                    data.associations.append((object_type, record_id, to_type, int(assoc["id"])))
    options = raw.get("lifecycle_options")
    if isinstance(options, list):
        data.lifecycle_options = [(str(o["value"]), str(o.get("label", o["value"]))) for o in options]
    return data


def email_statistics(selected: int, rng: random.Random) -> dict[str, Any]:
    """`EmailStatisticsData` for one send to `selected` contacts, with plausible B2B rates
    (bot-filtered opens 15–35 % of delivered, clicks 5–25 % of openers)."""
    notsent = round(selected * rng.uniform(0.0, 0.01))
    sent = selected - notsent
    hard = round(sent * rng.uniform(0.0, 0.01))
    soft = round(sent * rng.uniform(0.0, 0.01))
    delivered = sent - hard - soft
    opened = round(delivered * rng.uniform(0.15, 0.35))
    clicked = round(opened * rng.uniform(0.05, 0.25))
    counters = {
        "selected": selected,
        "sent": sent,
        "notsent": notsent,
        "dropped": notsent,
        "suppressed": 0,
        "pending": 0,
        "delivered": delivered,
        "bounce": hard + soft,
        "hardbounced": hard,
        "softbounced": soft,
        "open": opened,
        "click": clicked,
        "unsubscribed": round(delivered * rng.uniform(0.0, 0.005)),
        "spamreport": round(delivered * rng.uniform(0.0, 0.0005)),
        "contactslost": hard,
    }

    def pct(n: int, d: int) -> float:
        return round(100 * n / d, 3) if d else 0

    ratios = {
        "deliveredratio": pct(delivered, sent),
        "openratio": pct(opened, delivered),
        "clickratio": pct(clicked, delivered),
        "clickthroughratio": pct(clicked, opened),
        "bounceratio": pct(hard + soft, sent),
        "hardbounceratio": pct(hard, sent),
        "softbounceratio": pct(soft, sent),
        "unsubscribedratio": pct(counters["unsubscribed"], delivered),
        "spamreportratio": pct(counters["spamreport"], delivered),
        "notsentratio": pct(notsent, selected),
        "contactslostratio": pct(hard, sent),
        "pendingratio": 0,
    }
    mobile = round(opened * rng.uniform(0.2, 0.5))
    return {
        "counters": counters,
        "deviceBreakdown": {
            "open_device_type": {"computer": opened - mobile, "mobile": mobile, "unknown": 0},
            "click_device_type": {"computer": clicked, "mobile": 0, "unknown": 0},
        },
        "qualifierStats": {},
        "ratios": ratios,
    }


def newsletter(
    email_id: str, sent_at: datetime, *, subject: str, stats: dict[str, Any], created: datetime | None = None
) -> dict[str, Any]:
    """A published batch email (`PublicEmail` fields) sent at `sent_at`, with its statistics."""
    return {
        "id": email_id,
        "name": f"Newsletter {sent_at:%Y-%m-%d %H:%M}",
        "subject": subject,
        "type": "BATCH_EMAIL",
        "subcategory": "batch",
        "state": "PUBLISHED",
        "isPublished": True,
        "isTransactional": False,
        "isAb": False,
        "publishDate": sent_at,
        "createdAt": created or sent_at,
        "updatedAt": sent_at,
        "archived": False,
        "stats": stats,
    }


def marketing_emails(
    created_times: list[datetime], *, now: datetime, history_days: int, seed: int
) -> list[dict[str, Any]]:
    """A weekly newsletter over the portal's history to about 60 % of the contacts that existed
    when it went out, a few automated emails, and two drafts (no statistics, never sent).

    Its own random stream, so adding emails leaves every other generated record as it was."""
    rng = random.Random(seed * 7_919 + 3)
    emails: list[dict[str, Any]] = []
    next_id = 70_000_000_001
    weeks = max(1, history_days // 7)
    for week in range(weeks, 0, -1):
        sent_at = (now - timedelta(days=7 * week)).replace(hour=8, minute=0, second=0, microsecond=0)
        audience = bisect.bisect_right(created_times, sent_at)
        if audience == 0:
            continue
        email = newsletter(
            str(next_id),
            sent_at,
            subject=rng.choice(SUBJECTS),
            stats=email_statistics(max(1, round(audience * rng.uniform(0.55, 0.65))), rng),
            created=sent_at - timedelta(days=rng.randint(2, 6)),
        )
        email["campaign"] = str(1_000 + week % 6)
        emails.append(email)
        next_id += rng.randint(1, 9)
    for n in range(3):
        published = now - timedelta(days=history_days * (n + 1) / 4)
        emails.append(
            {
                "id": str(next_id),
                "name": f"Welcome series {n + 1}",
                "subject": f"Welcome, part {n + 1}",
                "type": "AUTOMATED_EMAIL",
                "subcategory": "automated",
                "state": "AUTOMATED",
                "isPublished": True,
                "isTransactional": False,
                "isAb": False,
                "publishDate": published,
                "createdAt": published - timedelta(days=1),
                "updatedAt": published,
                "archived": False,
                "stats": email_statistics(max(1, len(created_times) // (n + 2)), rng),
            }
        )
        next_id += rng.randint(1, 9)
    for n in range(2):
        emails.append(
            {
                "id": str(next_id),
                "name": f"Draft {n + 1}",
                "subject": "Coming soon",
                "type": "BATCH_EMAIL",
                "subcategory": "batch",
                "state": "DRAFT",
                "isPublished": False,
                "isTransactional": False,
                "isAb": False,
                "createdAt": now - timedelta(days=n + 1),
                "updatedAt": now - timedelta(days=n),
                "archived": False,
            }
        )
        next_id += rng.randint(1, 9)
    return emails


SUBJECTS = [
    "Five ways to shorten your sales cycle",
    "What our customers learned this quarter",
    "Invitation: B2B marketing breakfast",
    "New guide: measuring your funnel",
    "Case study: from lead to customer in 30 days",
    "Product news",
]
