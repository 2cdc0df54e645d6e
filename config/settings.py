"""funnelsync settings: one pydantic-settings class, built once at the entry point and passed down.

Sources, highest priority first: explicit keyword arguments, environment variables
(`FUNNELSYNC_*`, nested sections with `__`, e.g. `FUNNELSYNC_HUBSPOT__TOKEN`), a `.env` file,
the TOML file (`--config`, `FUNNELSYNC_CONFIG`, or `./funnelsync.toml`), then defaults.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

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


class RetrySettings(BaseModel):
    """The one retry policy every connector shares."""

    max_attempts: int = Field(default=6, ge=1, le=20)
    initial_wait_seconds: float = Field(default=0.5, gt=0)
    max_wait_seconds: float = Field(default=60.0, gt=0)
    jitter_seconds: float = Field(default=0.5, ge=0)


class MailchimpSettings(BaseModel):
    """Where and how to reach one Mailchimp account."""

    # An API key (`<key>-<data centre>`, e.g. `…-us6`), or an OAuth access token (whose data
    # centre the metadata endpoint tells).
    api_key: SecretStr | None = None
    access_token: SecretStr | None = None
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


class HubSpotSettings(BaseModel):
    """Where and how to reach one HubSpot portal."""

    # A private-app access token; or OAuth 2.0 (a public app): client id, secret and refresh token.
    token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None
    # Where refresh tokens are exchanged, on the API host. HubSpot retires /oauth/v1 on 2027-02-16;
    # its successors (/oauth/v3/token, /oauth/<date>/token) take the same form.
    token_path: str = "/oauth/v1/token"
    base_url: str = "https://api.hubapi.com"
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


DEFAULT_FUNNEL_STAGES = (
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
)


class SpendEntry(BaseModel):
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


class KpiSettings(BaseModel):
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


class ServiceSettings(BaseModel):
    """`funnelsync serve`: the scheduler, the admin and read APIs, metrics, the status page."""

    host: str = "127.0.0.1"
    port: int = Field(default=8400, ge=1, le=65535)
    # Bearer token of the admin routes (/admin/*); unset: they answer 403, they are never open.
    admin_token: SecretStr | None = None
    # Bearer token of the read API (/api/*), which the admin token opens too; with neither
    # set it answers 403. `read_open` opens it (and /metrics) without a token.
    api_token: SecretStr | None = None
    read_open: bool = False
    # /metrics without a token (Prometheus scrapes usually carry none); false: the read API's rule.
    metrics_open: bool = True
    # The status page at / (run states and headline KPIs, no record data).
    status_page: bool = True
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


class ConnectionSettings(BaseModel):
    """One named connection: a HubSpot portal and/or a Mailchimp account synced side by side
    into the same database, keyed by the connection's name (see docs/configuration.md)."""

    hubspot: HubSpotSettings | None = None
    mailchimp: MailchimpSettings | None = None


_CONNECTION_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class Settings(BaseSettings):
    """All of funnelsync's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="FUNNELSYNC_",
        env_nested_delimiter="__",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
    )
    # Set per instance by `load_settings`; a ClassVar so pydantic never treats it as a field.
    _toml_path: ClassVar[Path | None] = None
    # Where this object's HubSpot section comes from (env prefix, TOML table), for error messages;
    # `for_connection` points it at the named connection's.
    _hubspot_names: tuple[str, str] = PrivateAttr(default=("FUNNELSYNC_HUBSPOT__", "hubspot"))

    data_dir: Path = Path("data")
    database_url: str | None = None
    export_dir: Path | None = None
    connection: str = "default"
    # Where a sync commits pages: "auto" uses a writer process for full syncs (see docs/sync.md).
    storage_writer: Literal["auto", "process", "inline"] = "auto"
    # `funnelsync prune` deletes superseded raw payloads whose version ended this many days ago
    # (the typed snapshot history is always kept).
    raw_versions_days: int = Field(default=90, ge=0)
    # A stream being synced is leased for this long and renewed every third of it; a crashed
    # holder elsewhere blocks the stream at most this long (one on this host: not at all).
    lease_seconds: int = Field(default=300, ge=10)
    reporting_timezone: str = "UTC"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = False
    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)
    mailchimp: MailchimpSettings = Field(default_factory=MailchimpSettings)
    # Several portals and accounts: `[connections.<name>.hubspot]`, `[connections.<name>.mailchimp]`.
    # Empty: one connection named `connection`, from the `hubspot` and `mailchimp` sections.
    connections: dict[str, ConnectionSettings] = Field(default_factory=dict)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    kpi: KpiSettings = Field(default_factory=KpiSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)

    @field_validator("reporting_timezone")
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("connections")
    @classmethod
    def _connection_names(cls, value: dict[str, ConnectionSettings]) -> dict[str, ConnectionSettings]:
        import re

        bad = [name for name in value if not re.match(_CONNECTION_NAME, name)]
        if bad:
            raise ValueError(
                f"connection name(s) {', '.join(map(repr, bad))}: "
                "use letters, digits, '_', '.', '-' (at most 100)"
            )
        return value

    def connection_names(self) -> list[str]:
        """Every connection this instance syncs, in configuration order."""
        return list(self.connections) or [self.connection]

    def for_connection(self, name: str | None = None) -> Settings:
        """The settings of one connection (default: the only one): its name, its HubSpot and
        Mailchimp sections, its own export directory when there are several; the rest shared."""
        names = self.connection_names()
        if name is None:
            if len(names) > 1:
                raise ConfigurationError(
                    f"several connections are configured ({', '.join(names)}): choose one with --connection"
                )
            name = names[0]
        if name not in names:
            raise ConfigurationError(f"unknown connection {name!r}; configured: {', '.join(names)}")
        if not self.connections:
            return self
        chosen = self.connections[name]
        one = self.model_copy(
            update={
                "connection": name,
                "hubspot": chosen.hubspot or HubSpotSettings(),
                "mailchimp": chosen.mailchimp or MailchimpSettings(),
                "export_dir": self.exports_path / name,
                "connections": {},
            }
        )
        one._hubspot_names = (
            f"FUNNELSYNC_CONNECTIONS__{name.upper()}__HUBSPOT__",
            f"connections.{name}.hubspot",
        )
        return one

    def has_source(self, source: str) -> bool:
        """Whether this (single-connection) settings object has credentials for `source`."""
        if source == "mailchimp":
            m = self.mailchimp
            return m.api_key is not None or m.access_token is not None
        h = self.hubspot
        return h.token is not None or h.refresh_token is not None

    @model_validator(mode="after")
    def _derive_paths(self) -> Settings:
        if self.database_url is None:
            self.database_url = f"sqlite:///{self.data_dir / 'funnelsync.db'}"
        elif self.database_url.startswith(("postgres://", "postgresql://")):
            # One driver everywhere: psycopg 3.
            self.database_url = "postgresql+psycopg://" + self.database_url.split("://", 1)[1]
        if self.export_dir is None:
            self.export_dir = self.data_dir / "exports"
        return self

    @property
    def db_url(self) -> str:
        assert self.database_url is not None  # set by _derive_paths
        return self.database_url

    @property
    def exports_path(self) -> Path:
        assert self.export_dir is not None  # set by _derive_paths
        return self.export_dir

    def secret_values(self) -> list[str]:
        """Every configured secret (of every connection), for the log filter and error messages."""
        sections: list[HubSpotSettings | MailchimpSettings | None] = [self.hubspot, self.mailchimp]
        for named in self.connections.values():
            sections += [named.hubspot, named.mailchimp]
        values: list[str] = []
        for section in sections:
            if isinstance(section, HubSpotSettings):
                secrets = [section.token, section.client_secret, section.refresh_token]
            elif isinstance(section, MailchimpSettings):
                secrets = [section.api_key, section.access_token]
            else:
                continue
            values += [v.get_secret_value() for v in secrets if v is not None and v.get_secret_value()]
        tokens = [self.service.admin_token, self.service.api_token]
        values += [v.get_secret_value() for v in tokens if v is not None and v.get_secret_value()]
        return values

    def require_hubspot_auth(self) -> Literal["private_app", "oauth"]:
        """Which HubSpot credentials are configured, or a one-line error naming what to set."""
        hub = self.hubspot
        env, section = self._hubspot_names
        oauth = {
            f"{env}CLIENT_ID": hub.client_id,
            f"{env}CLIENT_SECRET": hub.client_secret and hub.client_secret.get_secret_value(),
            f"{env}REFRESH_TOKEN": hub.refresh_token and hub.refresh_token.get_secret_value(),
        }
        has_token = hub.token is not None and bool(hub.token.get_secret_value())
        if any(oauth.values()):
            missing = [name for name, value in oauth.items() if not value]
            if missing:
                raise ConfigurationError(f"Incomplete HubSpot OAuth settings: set {', '.join(missing)}.")
            if has_token:
                raise ConfigurationError(
                    "Both a HubSpot private-app token and OAuth settings are configured: keep one."
                )
            return "oauth"
        if not has_token:
            raise ConfigurationError(
                f"No HubSpot credentials configured: set {env}TOKEN "
                f"(or [{section}] token in funnelsync.toml) to a private-app access token, or "
                f"{env}CLIENT_ID, __CLIENT_SECRET and __REFRESH_TOKEN for OAuth."
            )
        return "private_app"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        if cls._toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path))
        sources.append(file_secret_settings)
        return tuple(sources)


def find_config_file(explicit: Path | None = None) -> Path | None:
    """The TOML file to read: the explicit path, `FUNNELSYNC_CONFIG`, or ./funnelsync.toml if present."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigurationError(f"Config file not found: {explicit}")
        return explicit
    env_path = os.environ.get("FUNNELSYNC_CONFIG")
    if env_path:
        path = Path(env_path)
        if not path.is_file():
            raise ConfigurationError(f"FUNNELSYNC_CONFIG points to a missing file: {path}")
        return path
    default = Path("funnelsync.toml")
    return default if default.is_file() else None


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings once; raises ConfigurationError with a readable message on bad input."""
    from pydantic import ValidationError

    path = find_config_file(config_file)
    # A subclass per call keeps the TOML path out of global state.
    settings_cls = type("Settings", (Settings,), {"_toml_path": path})
    try:
        settings: Settings = settings_cls(**overrides)
        return settings
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigurationError(f"Invalid configuration: {problems}") from None
