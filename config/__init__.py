"""Settings for funnelsync (pydantic-settings; env `FUNNELSYNC_*`, optional TOML file)."""

from __future__ import annotations

from config.sections import (
    DEFAULT_FUNNEL_STAGES,
    DEFAULT_LIFECYCLE_STAGES,
    ConfigurationError,
    ConnectionSettings,
    HubSpotSettings,
    KpiSettings,
    MailchimpSettings,
    RetrySettings,
    ServiceSettings,
    SpendEntry,
)
from config.settings import Settings, find_config_file, load_settings

__all__ = [
    "DEFAULT_FUNNEL_STAGES",
    "DEFAULT_LIFECYCLE_STAGES",
    "ConfigurationError",
    "ConnectionSettings",
    "HubSpotSettings",
    "KpiSettings",
    "MailchimpSettings",
    "RetrySettings",
    "ServiceSettings",
    "Settings",
    "SpendEntry",
    "find_config_file",
    "load_settings",
]
