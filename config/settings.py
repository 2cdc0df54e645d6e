"""funnelsync settings: one pydantic-settings class, built once at the entry point and passed down.

Sources, highest priority first: explicit keyword arguments, environment variables
(`FUNNELSYNC_*`, nested sections with `__`, e.g. `FUNNELSYNC_HUBSPOT__TOKEN`), a `.env` file,
the TOML file (`--config`, `FUNNELSYNC_CONFIG`, or `./funnelsync.toml`), then defaults.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, PrivateAttr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from config.explain import bad_json_environment, describe, environment, unknown_environment, unknown_toml_keys
from config.sections import (
    ConfigurationError,
    ConnectionSettings,
    HubSpotSettings,
    KpiSettings,
    MailchimpSettings,
    RetrySettings,
    ServiceSettings,
)

_CONNECTION_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class Settings(BaseSettings):
    """All of funnelsync's configuration."""

    model_config = SettingsConfigDict(
        env_prefix="FUNNELSYNC_",
        env_nested_delimiter="__",
        env_file=".env",
        env_ignore_empty=True,
        # Unknown top-level keys are found by `load_settings` (config/explain.py): an `.env` file
        # may hold other programs' variables, which must not count. Sections forbid theirs.
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
    # The export files' permissions, in octal: 600 (owner only) unless a dashboard running as
    # another user must read them (640: the group too). Read and write bits only.
    export_mode: str = "600"
    connection: str = "default"
    # Where a sync commits pages: "auto" uses a writer process for full syncs (see docs/sync.md).
    storage_writer: Literal["auto", "process", "inline"] = "auto"
    # A full read of a large stream that was never loaded writes its records without look-ups
    # (COPY on PostgreSQL; see docs/sync.md "First loads"). Off: every page is upserted.
    storage_bulk_load: bool = True
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

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is not None:
            _check_database_url(value)
        return value

    @field_validator("export_mode")
    @classmethod
    def _export_mode(cls, value: str) -> str:
        text = str(value).strip().removeprefix("0o")
        if not (len(text) == 3 and all(c in "0246" for c in text) and text[0] in "46"):
            raise ValueError(
                "must be octal permissions of read/write bits with the owner reading, e.g. 600 or 640"
            )
        return text

    @property
    def export_file_mode(self) -> int:
        return int(self.export_mode, 8)

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

    def require_hubspot_auth(self) -> Literal["token", "oauth"]:
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
                    "Both a HubSpot access token (Service Key or private app) and OAuth settings are "
                    "configured: keep one."
                )
            return "oauth"
        if not has_token:
            raise ConfigurationError(
                f"No HubSpot credentials configured: set {env}TOKEN "
                f"(or [{section}] token in funnelsync.toml) to a Service Key (or a legacy private-app "
                f"token), or "
                f"{env}CLIENT_ID, __CLIENT_SECRET and __REFRESH_TOKEN for OAuth."
            )
        return "token"

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


# The databases funnelsync runs on, by SQLAlchemy driver name.
DATABASE_DRIVERS = ("sqlite", "sqlite+pysqlite", "postgres", "postgresql", "postgresql+psycopg")


def _check_database_url(url: str) -> None:
    """A URL of a database funnelsync runs on (SQLite or PostgreSQL), else ValueError."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError("not a database URL (sqlite:///path or postgresql://...)") from None
    if parsed.drivername not in DATABASE_DRIVERS:
        raise ValueError(f"{parsed.drivername!r} is not supported; use sqlite:///path or postgresql://...")


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
    """Build the settings once; raises ConfigurationError with one readable line on bad input:
    each setting named with its source, unknown keys with the closest known one."""
    from pydantic import ValidationError
    from pydantic_settings import SettingsError

    path = find_config_file(config_file)
    unknown = unknown_environment(Settings.model_fields, environment()) + unknown_toml_keys(
        Settings.model_fields, path
    )
    # A subclass per call keeps the TOML path out of global state.
    settings_cls = type("Settings", (Settings,), {"_toml_path": path})
    try:
        settings: Settings = settings_cls(**overrides)
    except ValidationError as exc:
        found = describe(exc.errors(), Settings, path).removeprefix("Invalid configuration: ")
        raise ConfigurationError("Invalid configuration: " + "; ".join([*unknown, found])) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"Invalid configuration file {path}: not valid UTF-8 TOML ({exc})") from None
    except SettingsError as exc:
        # A value that must be JSON (a list, a table) but is not, e.g. FUNNELSYNC_KPI__FUNNEL_STAGES='[lead,'.
        named = bad_json_environment()
        if named:
            raise ConfigurationError("Invalid configuration: " + "; ".join(named)) from None
        cause = f" ({exc.__cause__})" if exc.__cause__ else ""
        raise ConfigurationError(f"Invalid configuration: {exc}{cause}") from None
    if unknown:
        raise ConfigurationError("Invalid configuration: " + "; ".join(unknown))
    return settings
