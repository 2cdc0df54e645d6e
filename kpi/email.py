"""Email KPIs (HubSpot marketing emails and Mailchimp campaigns) and the audience: list growth
and how subscribers move through the funnel."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from kpi.grid import dim, grid_keys
from kpi.inputs import EmailFact, KpiInputs
from kpi.model import ALL, Dim, KpiValue, Where, count, ratio
from kpi.periods import Bucketer


@dataclass
class _EmailSums:
    sends: int = 0
    sent: int = 0
    delivered: int = 0
    bounces: int = 0
    opens: int = 0
    clicks: int = 0
    openers_who_clicked: int = 0
    unsubscribes: int = 0
    spam_reports: int = 0
    open_bases: set[str] = field(default_factory=set)

    def add(self, email: EmailFact) -> None:
        delivered = email.delivered if email.delivered is not None else max(0, email.sent - email.bounces)
        self.sends += 1
        self.sent += email.sent
        self.delivered += delivered
        self.bounces += email.bounces
        self.opens += email.unique_opens
        self.clicks += email.unique_clicks
        # A click counts as an open on both platforms; clamped so click-to-open stays <= 1.
        self.openers_who_clicked += min(email.unique_clicks, email.unique_opens)
        self.unsubscribes += email.unsubscribes
        self.spam_reports += email.spam_reports
        self.open_bases.add(email.open_basis)

    @property
    def open_basis(self) -> str:
        """What the opens count, recorded with every value built on them."""
        return "+".join(sorted(self.open_bases))


def email_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """Email performance per period of the send time: overall, per platform, per email type and
    per send (dimension `email`, `<platform>:<id>`).

    Rates over several emails are sums over sums (never averages of rates): opens, clicks,
    unsubscribes and spam reports per delivered email, bounces and deliveries per sent email,
    click-to-open = unique clickers / unique openers.
    """
    bucket = Bucketer(inputs.periods)
    sums: dict[tuple[int, Dim], _EmailSums] = defaultdict(_EmailSums)
    for email in inputs.emails:
        p = bucket.index(email.sent_at)
        if p is None or email.sent <= 0 or email.sent_at > inputs.as_of:
            continue
        for d in (
            ALL,
            dim("platform", email.platform),
            dim("email_type", email.email_type),
            Dim("email", f"{email.platform}:{email.email_id}"),
        ):
            sums[p, d].add(email)
    out: list[KpiValue] = []
    for p, d in grid_keys(inputs, sums):
        s = sums.get((p, d)) or _EmailSums()
        where: Where = {"period": inputs.periods[p], "dim": d}
        out.append(count("emails_sent", s.sends, **where))
        out.append(count("email_sent", s.sent, **where))
        out.append(count("email_delivered", s.delivered, **where))
        out.append(ratio("email_delivery_rate", s.delivered, s.sent, **where))
        out.append(ratio("email_bounce_rate", s.bounces, s.sent, **where))
        opened = {"basis": s.open_basis}
        out.append(ratio("email_open_rate", s.opens, s.delivered, **where, **opened))
        out.append(ratio("email_click_rate", s.clicks, s.delivered, **where))
        out.append(ratio("email_click_to_open_rate", s.openers_who_clicked, s.opens, **where, **opened))
        out.append(ratio("email_unsubscribe_rate", s.unsubscribes, s.delivered, **where))
        out.append(ratio("email_spam_rate", s.spam_reports, s.delivered, **where))
    return out


def audience_kpis(inputs: KpiInputs) -> list[KpiValue]:
    """List growth per period (overall and per audience) and the link between the audience and
    the funnel (a snapshot at as_of).

    A member joins in the period of its opt-in (`timestamp_opt`; pending members have not opted
    in); an unsubscribed or cleaned member leaves in the period of its last change, Mailchimp's
    only time for it (other edits move it too, so leaving is dated at the latest change). Both
    are bucketed into periods by the read (kpi.read_email.read_member_moves).
    """
    moves: dict[tuple[int, Dim], list[int]] = defaultdict(lambda: [0, 0, 0])  # joined, left, cleaned
    for cell in inputs.members:
        for d in (ALL, dim("audience", cell.audience)):
            if cell.joined is not None:
                moves[cell.joined, d][0] += cell.members
            if cell.left is not None:
                moves[cell.left, d][1 if cell.status == "unsubscribed" else 2] += cell.members
    out: list[KpiValue] = []
    if inputs.members:
        for p, d in grid_keys(inputs, moves):
            joined, left, cleaned = moves.get((p, d), [0, 0, 0])
            where: Where = {"period": inputs.periods[p], "dim": d}
            out.append(count("list_new_subscribers", joined, **where))
            out.append(count("list_unsubscribes", left, **where))
            out.append(count("list_cleaned", cleaned, **where))
            out.append(count("list_net_growth", joined - left - cleaned, **where))
    link = inputs.audience_link
    if link is not None and (link.subscribed or link.not_subscribed):
        out.append(count("contacts_in_audience", link.subscribed))
        out.append(ratio("mql_share_subscribed", link.subscribed_mql, link.subscribed))
        out.append(ratio("mql_share_not_subscribed", link.not_subscribed_mql, link.not_subscribed))
        out.append(ratio("mql_share_engaged", link.engaged_mql, link.engaged))
        not_engaged = link.subscribed + link.not_subscribed - link.engaged
        not_engaged_mql = link.subscribed_mql + link.not_subscribed_mql - link.engaged_mql
        out.append(ratio("mql_share_not_engaged", not_engaged_mql, not_engaged))
    return out


# -- spend: CAC, cost per lead / MQL, ROI, ROAS, pipe-to-spend -------------------------------------
