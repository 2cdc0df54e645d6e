"""A deterministic generator of realistic B2B HubSpot portals.

The same seed and `now` always give the same portal. Contacts walk a plausible funnel: most
stay leads, some convert stage by stage, some skip stages, a few move backwards, some offline
imports arrive as customers; deals follow the contacts that reached opportunity, in two
pipelines, with amounts (a few missing) in several currencies.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from sandbox.hubspot.answers import add_answers
from sandbox.hubspot.campaigns import add_campaigns
from sandbox.hubspot.conversions import add_conversions
from sandbox.hubspot.data import (
    CURRENCIES,
    DEFAULT_PIPELINE,
    DEFAULT_STAGES,
    FIRST,
    FUNNEL,
    INDUSTRIES,
    LAST,
    PERSONAS,
    RENEWAL_PIPELINE,
    RENEWAL_STAGES,
    SOURCES,
    GeneratorOptions,
    PortalData,
    Record,
    build_owners,
    build_pipelines,
    iso,
    new_record,
)
from sandbox.hubspot.emails import marketing_emails
from sandbox.hubspot.engagements import add_engagements


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
        add_answers(self.data, o.seed)
        add_conversions(self.data, o.seed)
        add_campaigns(
            self.data, seed=o.seed, now=self.now, history_days=o.history_days, currency=o.home_currency
        )
        add_engagements(self.data, seed=o.seed, now=self.now)
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
            companies.append(new_record(next_id, props, self.now, self.now))
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
            # The latest session is the one of the contact's last lifecycle move (no draw: the
            # portal a seed generates stays the same).
            props["hs_latest_source_timestamp"] = iso(min(max(t for _, t in path), self.now))
            self._apply_path(props, path)
            if len(path) > 1 or path[-1][0] not in ("lead", "subscriber"):
                props["hubspot_owner_id"] = str(rng.choice(self.active_owners))
            updated = max(t for _, t in path) + timedelta(minutes=rng.randint(1, 300))
            updated = min(max(updated, created), self.now)
            props["lastmodifieddate"] = iso(updated)
            record = new_record(next_id, props, created, updated)
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
        self._renewals(customers, drafts, target)
        self._new_business(later or [(c, c["createdAt"]) for c, _ in contact_paths], drafts, target)
        if len(drafts) > target:
            drafts = sorted(rng.sample(drafts, target), key=lambda d: d["createdAt"])
        drafts.sort(key=lambda d: d["createdAt"])
        # A few deals imported with a close date before their creation date.
        for draft in drafts:
            if draft["properties"]["hs_is_closed"] == "true" and rng.random() < 0.005:
                back = draft["createdAt"] - timedelta(days=rng.randint(5, 60))
                draft["properties"]["closedate"] = iso(back)
        self._store_deals(drafts)

    def _renewals(self, customers: list[tuple[Record, datetime]], drafts: list[Record], target: int) -> None:
        rng = self.rng
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

    def _new_business(self, pool: list[tuple[Record, datetime]], drafts: list[Record], target: int) -> None:
        rng = self.rng
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

    def _store_deals(self, drafts: list[Record]) -> None:
        """Deals get ids in creation order, with their links to the contact and its company."""
        next_id = 10_000_000_001
        for draft in drafts:
            next_id += self.rng.randint(1, 25)
            record = new_record(next_id, draft["properties"], draft["createdAt"], draft["updatedAt"])
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
            ("createdate", "31/12/2025"),
            ("lastmodifieddate", "1727000000000"),
            ("lifecyclestage", "zombie_stage"),
            ("hs_v2_date_entered_lead", "next tuesday"),
        ]
        bad_deal = [
            ("amount", "12,5k"),
            ("closedate", "Q3 2026"),
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
