"""The sections of funnelsync's settings: how to reach each vendor, the retry policy, how KPIs are
computed, how the service runs, and the error every bad setting raises."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)


class ConfigurationError(Exception):
    """A setting is missing or invalid; the message says which variable to set."""


class Section(BaseModel):
    """A settings section: a key it does not have is an error (a typo such as `tokn` must not be
    silently ignored), reported with the closest key it does have."""

    model_config = ConfigDict(extra="forbid")


def _printable(value: SecretStr) -> SecretStr:
    """A secret with a control character (a newline pasted with a token) can never be sent in a
    header: refused as configuration, not retried as a connection error."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value.get_secret_value()):
        raise ValueError("contains a control character (a newline or tab pasted with it?)")
    return value


Secret = Annotated[SecretStr, AfterValidator(_printable)]


class RetrySettings(Section):
    """The one retry policy every connector shares."""

    max_attempts: int = Field(default=6, ge=1, le=20)
    initial_wait_seconds: float = Field(default=0.5, gt=0)
    max_wait_seconds: float = Field(default=60.0, gt=0)
    jitter_seconds: float = Field(default=0.5, ge=0)


class MailchimpSettings(Section):
    """Where and how to reach one Mailchimp account."""

    # An API key (`<key>-<data centre>`, e.g. `…-us6`), or an OAuth access token (whose data
    # centre the metadata endpoint tells).
    api_key: Secret | None = None
    access_token: Secret | None = None
    # Overrides https://<dc>.api.mailchimp.com/3.0 (the sandbox's URL in trials).
    base_url: str | None = None
    metadata_url: str = "https://login.mailchimp.com/oauth2/metadata"
    timeout_seconds: float = Field(default=120.0, gt=0)
    # Mailchimp allows 10 simultaneous requests per user; all streams share these.
    max_connections: int = Field(default=10, ge=1, le=10)
    page_size: int = Field(default=1000, ge=1, le=1000)
    # Reports have no change filter: those of campaigns sent in the last `report_window_days` are
    # read on every sync, older ones at most every `older_reports_days`.
    report_window_days: int = Field(default=30, ge=0)
    older_reports_days: int = Field(default=7, ge=0)
    # Who clicked each campaign, and when (per-member email activity: touches of the attribution
    # models) is read for campaigns sent in the last `click_activity_days`, each again only when
    # its report's last click is newer than the last read; 0 switches the stream off.
    click_activity_days: int = Field(default=365, ge=0)


def check_api_version(value: str) -> str:
    """A HubSpot API family: a date version (a March or September release from 2026-03 on), or
    `legacy`. ValueError otherwise."""
    value = value.strip()
    if value == "legacy" or (re.fullmatch(r"20\d\d-(03|09)", value) and value >= "2026-03"):
        return value
    raise ValueError(
        "must be a HubSpot date version such as 2026-09 (a March or September release), or 'legacy'"
    )


class HubSpotSettings(Section):
    """Where and how to reach one HubSpot portal."""

    # A static access token: a Service Key (HubSpot's credential for new integrations since
    # 2026-09) or a legacy private-app token; or OAuth 2.0 (an app): client id, secret and refresh token.
    token: Secret | None = None
    client_id: str | None = None
    client_secret: Secret | None = None
    refresh_token: Secret | None = None
    # Where refresh tokens are exchanged, on the API host; unset: the API family's own
    # (/oauth/2026-03/token for date versions, /oauth/v1/token for `legacy`, retired 2027-02-16).
    token_path: str | None = None
    base_url: str = "https://api.hubapi.com"
    # The API family every request uses: a HubSpot date version (`2026-09`: /crm/objects/2026-09/…)
    # or `legacy` (the v3/v4 paths, unsupported from 2027-03-30 for v4 and September 2027 for v3).
    # Endpoints without a dated equivalent (analytics v2 reports) keep their legacy path.
    api_version: str = "2026-09"
    # Requests per rolling 10 s window: 100 (Free/Starter), 190 (Professional/Enterprise), 250 (limit pack).
    rate_limit_per_10s: int = Field(default=190, ge=1)
    search_rate_per_second: int = Field(default=5, ge=1)
    page_size: int = Field(default=100, ge=1, le=100)
    search_page_size: int = Field(default=200, ge=1, le=200)
    timeout_seconds: float = Field(default=30.0, gt=0)
    # Incremental windows re-read this far behind the watermark: HubSpot's search index lags writes.
    overlap_seconds: int = Field(default=300, ge=0)
    # Archived (deleted) records are invisible to search and the archived listing cannot filter by
    # time, so incremental syncs list them at most this often (full syncs always do; 0 = every sync).
    archived_check_minutes: int = Field(default=60, ge=0)
    # Read every change of lifecycle stage (contacts) and deal stage (deals) with
    # `propertiesWithHistory`: halves list pages to 50 records and adds batch reads after searches.
    stage_history: bool = True
    # A first full read of contacts, companies or deals through HubSpot's CRM exports (scope
    # `crm.export`, 30 a day, one at a time): a few requests instead of one per 100 records, but
    # no property history (docs/sync.md "Backfill by export"). `auto`: when the read is fresh and
    # the object has at least `export_min_records` records; `always`; `off`. Without the scope or
    # quota the read pages the list endpoint as usual.
    export_backfill: Literal["auto", "always", "off"] = "auto"
    export_min_records: int = Field(default=200_000, ge=0)
    # How long to wait for HubSpot to finish an export before paging the list endpoint instead.
    export_max_wait_minutes: int = Field(default=180, ge=1)
    # Incremental syncs read the property catalogue, owners and pipelines again at most this often
    # (full syncs always do; 0 = every sync).
    catalogue_minutes: int = Field(default=60, ge=0)
    # Companies, contacts, deals and marketing emails sync side by side, this many at a time,
    # sharing the rate limiter (1: one after another).
    parallel_streams: int = Field(default=4, ge=1, le=8)
    # Marketing-email statistics keep changing after a send but do not change `updatedAt`, so they
    # are read again: on incremental syncs at most this often, for emails sent in the last days.
    email_stats_minutes: int = Field(default=60, ge=0)
    email_stats_days: int = Field(default=30, ge=0)
    # Marketing campaigns (scope `marketing.campaigns.read`, Marketing Hub Professional): listed
    # with their budget, spend and metrics, which change without a change filter to follow, so
    # incremental syncs read them all again at most this often (0 = every sync).
    campaigns_minutes: int = Field(default=60, ge=0)
    # Sales engagements (meetings and calls, read with `crm.objects.contacts.read`): the sales
    # touchpoints of the attribution models. False leaves both streams empty.
    engagements: bool = True
    # Page views of known contacts (the event analytics API, Enterprise only; elsewhere the
    # stream is unavailable): the last `web_events_days` on a full sync, then what is new.
    web_events: bool = True
    web_events_days: int = Field(default=90, ge=1, le=3650)
    # Web analytics (Reporting API v2, scope `business-intelligence`): daily rows from
    # `analytics_days` back on a full sync; incremental syncs read again from the last day read
    # minus `analytics_lookback_days` (HubSpot revises the newest days), at most every
    # `analytics_minutes`.
    web_analytics: bool = True
    analytics_minutes: int = Field(default=60, ge=0)
    analytics_days: int = Field(default=730, ge=1, le=3650)
    analytics_lookback_days: int = Field(default=3, ge=0, le=60)
    # Longest comma-joined `properties` value per list request; longer lists are split (HubSpot answers 414).
    max_properties_chars: int = Field(default=3000, ge=200)
    extra_contact_properties: list[str] = Field(default_factory=list)
    extra_company_properties: list[str] = Field(default_factory=list)
    extra_deal_properties: list[str] = Field(default_factory=list)
    # Lifecycle stages beyond HubSpot's defaults; the properties API adds the portal's own at sync time.
    custom_lifecycle_stages: list[str] = Field(default_factory=list)

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        return check_api_version(value)


DEFAULT_FUNNEL_STAGES = (
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
)


class SpendEntry(Section):
    """Marketing spend for one interval (dates inclusive), optionally for one channel/source."""

    period_start: date
    period_end: date
    channel: str = "all"
    amount: float = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)

    @model_validator(mode="after")
    def _ordered(self) -> SpendEntry:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        self.currency = self.currency.upper()
        return self


# The objects a custom dimension's property may belong to (`kpi.dimensions`).
DIMENSION_OBJECTS = ("contacts", "companies", "deals")
_DIMENSION_ENTRY = re.compile(rf"(?:(?:{'|'.join(DIMENSION_OBJECTS)})\.)?[a-z0-9_]{{1,100}}")

# The breakdowns KPIs have without configuration (docs/exports.md): a custom dimension may not
# take one of their names.
BUILT_IN_DIMENSIONS = frozenset(
    {
        "all", "source", "latest_source", "pipeline", "owner", "persona", "platform", "email_type",
        "email", "audience", "entry_page", "landing_page", "social_network", "search_engine",
        "paid_social_network", "touch_type", "campaign", "component", "method", "reason",
    }
)  # fmt: skip


class KpiSettings(Section):
    """How KPIs are computed; defaults follow docs/kpis.md."""

    # Funnel stage order (internal lifecycle-stage values); custom stages allowed.
    funnel_stages: list[str] = Field(default_factory=lambda: list(DEFAULT_FUNNEL_STAGES), min_length=2)
    # reached_or_passed: reaching Y or any later stage converts; strict: Y's own entry date is needed.
    conversion_mode: Literal["reached_or_passed", "strict"] = "reached_or_passed"
    # The period grid computed after every sync: `periods_back` periods of `period`, up to as_of.
    period: Literal["week", "month", "quarter", "year"] = "month"
    periods_back: int = Field(default=12, ge=1, le=520)
    # The portal's home currency (ISO 4217). Unset: inferred from deals whose amount needs no conversion.
    home_currency: str | None = None
    # Pipeline velocity's opportunity count: deals created in the period, or deals open at as_of.
    velocity_opportunities: Literal["created", "open"] = "created"
    # CLV = average order value × orders per year × years retained. Unset values are measured from
    # closed-won deals per company; years retained cannot be observed in a snapshot, so it has a default.
    clv_average_order_value: float | None = Field(default=None, gt=0)
    clv_orders_per_year: float | None = Field(default=None, gt=0)
    clv_years_retained: float = Field(default=3.0, gt=0)
    gross_margin: float | None = Field(default=None, gt=0, le=1)
    # Spend given in configuration (in addition to `funnelsync spend import`).
    spend: list[SpendEntry] = Field(default_factory=list)
    # KPI computations kept in the history table (oldest pruned first); 0 keeps all.
    history_keep: int = Field(default=500, ge=0)
    # Mailchimp opens: `proxy_excluded` leaves out Apple MPP machine opens where Mailchimp reports
    # them (sends from 2024-06-22), `raw` counts every open. HubSpot's are always bot-filtered.
    email_open_basis: Literal["proxy_excluded", "raw"] = "proxy_excluded"
    # Personas (`hs_persona` values) the marketing team targets first; their share of new
    # contacts is a KPI. Empty: the share is not computed.
    priority_personas: list[str] = Field(default_factory=list)
    # Landing pages with fewer views in a period are left out of its best and worst page.
    landing_page_min_views: int = Field(default=50, ge=0)
    # Attribution (docs/kpis.md): touches older than this before the event get no credit, and
    # the time-decay model halves a touch's weight every `attribution_half_life_days`.
    attribution_lookback_days: int = Field(default=365, ge=1, le=3650)
    attribution_half_life_days: float = Field(default=7.0, gt=0, le=365)
    # Meetings and calls held with a deal or its contacts are touches (channel SALES); false
    # credits marketing touches alone.
    attribution_sales_touches: bool = True
    # HubSpot marketing campaigns (docs/kpis.md, "Campaigns"): the model that credits each
    # campaign with won revenue (its ROI and ROAS), and whether the campaigns' spend items count
    # in the spend family's totals (turn off when `funnelsync spend import` already holds them).
    campaign_attribution_model: Literal[
        "first_touch", "last_touch", "linear", "u_shaped", "w_shaped", "time_decay", "full_path"
    ] = "first_touch"
    campaign_spend: bool = True
    # Forecast (docs/kpis.md): the current period and `forecast_periods` more (0: no forecast),
    # each beside its error over the last `forecast_backtest_periods` complete periods; every
    # cut-off learns from the `forecast_history_days` before it.
    forecast_periods: int = Field(default=3, ge=0, le=12)
    forecast_backtest_periods: int = Field(default=6, ge=0, le=36)
    forecast_history_days: int = Field(default=365, ge=30, le=3650)
    # How open deals are forecast: `history` (the chance that deals from the same stage, open as
    # long, were won, and when) or `stage_probability` (amount × the stage's probability in
    # HubSpot, timed by the won deals' days to close). Both are backtested side by side.
    forecast_method: Literal["history", "stage_probability"] = "history"
    # Deals and contacts not created yet come from a run rate over past cut-offs; with this
    # half-life (days) recent cut-offs weigh more, so growth shows up sooner (0: all the same).
    forecast_recency_days: float = Field(default=0.0, ge=0, le=3650)
    # Custom dimensions (docs/kpis.md): contact, company or deal properties (`name`, or
    # `contacts.name` for one object) read, stored typed, and used as KPI breakdowns.
    dimensions: list[str] = Field(default_factory=list, max_length=20)
    # A contact property holding the answer to "how did you hear about us?": its answers are
    # cross-tabulated with the tracked original source (`reported_vs_tracked_contacts`); it is a
    # custom contact dimension too.
    self_reported_source: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,100}$")

    @field_validator("dimensions")
    @classmethod
    def _dimension_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if name.rpartition(".")[2] in BUILT_IN_DIMENSIONS:
                raise ValueError(f"kpi.dimensions entry {name!r} is a built-in breakdown already")
            if not _DIMENSION_ENTRY.fullmatch(name):
                raise ValueError(
                    f"kpi.dimensions entry {name!r} is not a property name "
                    "(lowercase, digits, _; optionally after contacts., companies. or deals.)"
                )
        return list(dict.fromkeys(names))

    @model_validator(mode="after")
    def _self_reported_is_a_dimension(self) -> KpiSettings:
        name = self.self_reported_source
        if name and name not in self.dimensions and f"contacts.{name}" not in self.dimensions:
            self.dimensions = [*self.dimensions, f"contacts.{name}"]
        return self

    @property
    def dimension_candidates(self) -> list[tuple[str, str]]:
        """(object type, property) pairs the configured dimensions may mean: `contacts.name` its
        one object, a bare `name` every object (the portal's catalogue says which has it)."""
        pairs: list[tuple[str, str]] = []
        for entry in self.dimensions:
            object_type, _, name = entry.rpartition(".")
            pairs.extend(
                (candidate, name) for candidate in ((object_type,) if object_type else DIMENSION_OBJECTS)
            )
        return pairs

    @property
    def dimension_names(self) -> list[str]:
        """The configured dimensions' property names (without their object prefix)."""
        return list(dict.fromkeys(name.rpartition(".")[2] for name in self.dimensions))

    @field_validator("funnel_stages")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("funnel_stages must not repeat a stage")
        return value

    @field_validator("home_currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else None


def _valid_cron(value: str | None) -> str | None:
    """A five-field crontab expression (minute hour day month weekday), checked by APScheduler."""
    if value is None or not value.strip():
        return None
    from apscheduler.triggers.cron import CronTrigger

    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a crontab expression: {exc}") from None
    return value.strip()


class ServiceSettings(Section):
    """`funnelsync serve`: the scheduler, the admin and read APIs, metrics, the status page."""

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    # Bearer token of the admin routes (/admin/*); unset: they answer 403, they are never open.
    admin_token: Secret | None = None
    # Bearer token of the read API (/api/*), which the admin token opens too; with neither
    # set it answers 403. `read_open` opens it (and /metrics) without a token.
    api_token: Secret | None = None
    read_open: bool = False
    # /metrics without a token (Prometheus scrapes usually carry none); false: the read API's rule.
    metrics_open: bool = True
    # The status page at / (run states and headline KPIs, no record data).
    status_page: bool = True
    # How often the open status page reloads itself (seconds; 0: never).
    status_refresh_seconds: int = Field(default=60, ge=0, le=86_400)
    # Where `funnelsync resync` finds the running service (default http://<host>:<port>).
    url: str | None = None
    # Incremental sync of every connection: every `sync_interval_minutes`, or on `sync_cron`
    # (crontab, UTC) when set; each start shifted by up to `jitter_seconds`. 0 and no cron: none.
    sync_interval_minutes: int = Field(default=30, ge=0)
    sync_cron: str | None = None
    jitter_seconds: int = Field(default=60, ge=0)
    sync_on_start: bool = True
    # The full reconcile (everything listed again; records gone from the vendor are marked
    # deleted), crontab in UTC; default Sundays 03:00. Empty: none.
    reconcile_cron: str | None = "0 3 * * 0"
    # A scheduled run later than this (the process was busy or down) is recorded as missed.
    misfire_grace_seconds: int = Field(default=900, ge=1)
    # A sync still going after this long is stopped (its pages so far are kept; the next resumes).
    sync_timeout_minutes: int = Field(default=240, ge=1)
    # /readyz answers 503 when a stream's last run failed and it has not succeeded for this long.
    ready_failed_minutes: int = Field(default=180, ge=1)
    # On SIGTERM/SIGINT: how long the page in flight may take to commit before the process exits.
    shutdown_seconds: float = Field(default=8.0, gt=0, le=60)
    # Swagger UI at /docs (it loads its scripts from a CDN); /openapi.json is always served.
    api_docs: bool = False
    # Request bodies larger than this are refused (413) before they are read.
    max_body_bytes: int = Field(default=65_536, ge=1_024, le=16 * 1024 * 1024)
    # The read API, /metrics and the status page: this many at a time, `read_queue` more waiting
    # up to `read_wait_seconds`; beyond, 503 with Retry-After. /healthz never waits behind them.
    max_concurrent_reads: int = Field(default=8, ge=1, le=256)
    read_queue: int = Field(default=64, ge=0, le=10_000)
    read_wait_seconds: float = Field(default=10.0, gt=0, le=300)

    @field_validator("sync_cron", "reconcile_cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        return _valid_cron(value)

    def service_url(self) -> str:
        """The URL a client on this host reaches the service at."""
        if self.url:
            return self.url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"


class ConnectionSettings(Section):
    """One named connection: a HubSpot portal and/or a Mailchimp account synced side by side
    into the same database, keyed by the connection's name (see docs/configuration.md)."""

    hubspot: HubSpotSettings | None = None
    mailchimp: MailchimpSettings | None = None
