"""The sandbox portal's website as the analytics see it: its pages (entrances, views, forms and
how well they convert), how often a session becomes a contact per source, and the fixed
pseudo-random numbers the modelled traffic is drawn with."""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any

# Sessions that became a contact, per original source (offline sources have no sessions).
SESSION_TO_CONTACT = {
    "ORGANIC_SEARCH": 0.018,
    "PAID_SEARCH": 0.030,
    "EMAIL_MARKETING": 0.045,
    "SOCIAL_MEDIA": 0.012,
    "PAID_SOCIAL": 0.015,
    "REFERRALS": 0.028,
    "DIRECT_TRAFFIC": 0.020,
    "OTHER_CAMPAIGNS": 0.025,
    "AI_REFERRALS": 0.030,
}


@dataclass(frozen=True)
class SitePage:
    """A page of the sandbox website: where sessions enter, and how often its form converts."""

    id: int
    kind: str  # landing-pages | standard-pages | blog-posts
    url: str
    weight: float  # share of the site's entrances
    views_per_entrance: float
    form_rate: float | None  # submissions / views of its form; None: no form


SITE: tuple[SitePage, ...] = (
    SitePage(5100000001, "landing-pages", "/lp/ebook-b2b-marketing-kpis", 0.004, 1.3, 0.48),
    SitePage(5100000002, "landing-pages", "/lp/checklist-lead-scoring", 0.003, 1.2, 0.42),
    SitePage(5100000003, "landing-pages", "/lp/book-a-demo", 0.02, 1.4, 0.12),
    SitePage(5100000004, "landing-pages", "/lp/webinar-pipeline-velocity", 0.003, 1.2, 0.35),
    SitePage(5100000005, "landing-pages", "/lp/guide-sales-and-marketing-alignment", 0.002, 1.3, 0.55),
    SitePage(5100000006, "landing-pages", "/lp/price-list", 0.006, 1.5, 0.22),
    SitePage(5100000007, "landing-pages", "/lp/spring-campaign-teaser", 0.004, 1.1, None),
    SitePage(5200000001, "standard-pages", "/", 0.30, 2.6, None),
    SitePage(5200000002, "standard-pages", "/pricing", 0.07, 1.8, None),
    SitePage(5200000003, "standard-pages", "/product", 0.08, 2.1, None),
    SitePage(5200000004, "standard-pages", "/contact", 0.03, 1.3, 0.09),
    SitePage(5200000005, "standard-pages", "/about", 0.03, 1.4, None),
    SitePage(5200000006, "standard-pages", "/integrations", 0.03, 1.6, None),
    SitePage(5300000001, "blog-posts", "/blog/what-is-an-mql", 0.09, 1.5, None),
    SitePage(5300000002, "blog-posts", "/blog/pipeline-velocity-formula", 0.07, 1.4, None),
    SitePage(5300000003, "blog-posts", "/blog/cac-vs-clv", 0.06, 1.4, None),
    SitePage(5300000004, "blog-posts", "/blog/lead-to-customer-conversion", 0.04, 1.3, None),
    SitePage(5300000005, "blog-posts", "/blog/organic-traffic-checklist", 0.03, 1.2, None),
    SitePage(5300000006, "blog-posts", "/blog/linkedin-for-b2b", 0.03, 1.2, None),
)
FORM_PAGES = tuple(p for p in SITE if p.form_rate)


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def unit(*keys: Any) -> float:
    """A fixed pseudo-random number in [0, 1) for these keys."""
    digest = hashlib.blake2b("|".join(map(str, keys)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def split(total: int, weights: dict[str, float]) -> dict[str, int]:
    """`total` shared out in proportion to `weights`, whole numbers that add up (largest remainder)."""
    mass = sum(weights.values())
    if total <= 0 or mass <= 0:
        return dict.fromkeys(weights, 0)
    exact = {k: total * w / mass for k, w in weights.items()}
    out = {k: math.floor(v) for k, v in exact.items()}
    rest = total - sum(out.values())
    for k in sorted(exact, key=lambda k: (out[k] - exact[k], k))[:rest]:
        out[k] += 1
    return out


def pick(pages: tuple[SitePage, ...], weights: list[float], unit: float) -> SitePage:
    """A fixed weighted pick (`unit` in [0, 1)): the form a contact converted on, or the page its
    first session entered on."""
    pick = unit * sum(weights)
    for page, weight in zip(pages, weights, strict=True):
        pick -= weight
        if pick < 0:
            return page
    return pages[-1]
