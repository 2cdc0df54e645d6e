"""Settings: env vars, the TOML file, validation messages, derived paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigurationError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in list(__import__("os").environ):
        if name.startswith("FUNNELSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_derive_sqlite_and_export_paths():
    settings = load_settings()
    assert settings.db_url == "sqlite:///data/funnelsync.db"
    assert settings.exports_path == Path("data/exports")
    assert settings.hubspot.base_url == "https://api.hubapi.com"
    assert settings.hubspot.token is None


def test_environment_variables_with_nested_sections(monkeypatch):
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__TOKEN", "pat-na1-xyz")
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__RATE_LIMIT_PER_10S", "100")
    monkeypatch.setenv("FUNNELSYNC_DATABASE_URL", "postgres://u@db:5432/fs")
    settings = load_settings()
    assert settings.hubspot.token is not None and settings.hubspot.token.get_secret_value() == "pat-na1-xyz"
    assert settings.hubspot.rate_limit_per_10s == 100
    assert settings.db_url == "postgresql+psycopg://u@db:5432/fs"
    assert "pat-na1-xyz" not in repr(settings)


def test_toml_file_and_env_precedence(monkeypatch, tmp_path):
    (tmp_path / "funnelsync.toml").write_text(
        'data_dir = "store"\nreporting_timezone = "Europe/Stockholm"\n[hubspot]\nbase_url = "http://127.0.0.1:9/"\n'
        "rate_limit_per_10s = 250\n"
    )
    monkeypatch.setenv("FUNNELSYNC_HUBSPOT__RATE_LIMIT_PER_10S", "190")
    settings = load_settings()
    assert settings.data_dir == Path("store")
    assert settings.reporting_timezone == "Europe/Stockholm"
    assert settings.hubspot.base_url == "http://127.0.0.1:9"
    assert settings.hubspot.rate_limit_per_10s == 190


def test_the_shipped_example_file_is_valid():
    example = Path(__file__).resolve().parents[2] / "config" / "funnelsync.example.toml"
    settings = load_settings(example)
    assert settings.hubspot.rate_limit_per_10s == 190


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"reporting_timezone": "Mars/Olympus"}, "reporting_timezone"),
        ({"hubspot": {"page_size": 500}}, "hubspot.page_size"),
        ({"retry": {"max_attempts": 0}}, "retry.max_attempts"),
    ],
)
def test_invalid_values_give_one_readable_line(overrides, message):
    with pytest.raises(ConfigurationError) as info:
        load_settings(**overrides)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_missing_token_names_the_variable():
    with pytest.raises(ConfigurationError, match="FUNNELSYNC_HUBSPOT__TOKEN"):
        load_settings().require_hubspot_auth()


def test_missing_config_file_is_reported(monkeypatch):
    monkeypatch.setenv("FUNNELSYNC_CONFIG", "/nowhere/funnelsync.toml")
    with pytest.raises(ConfigurationError, match="FUNNELSYNC_CONFIG"):
        load_settings()


def test_named_connections_split_into_one_settings_each_and_share_the_rest(tmp_path):
    from config import ConfigurationError, load_settings

    settings = load_settings(
        data_dir=tmp_path,
        connections={
            "acme": {"hubspot": {"token": "pat-acme"}, "mailchimp": {"api_key": "k-us6"}},
            "beta": {"hubspot": {"token": "pat-beta", "rate_limit_per_10s": 100}},
        },
        retry={"max_attempts": 3},
    )
    assert settings.connection_names() == ["acme", "beta"]
    beta = settings.for_connection("beta")
    assert (beta.connection, beta.hubspot.rate_limit_per_10s, beta.retry.max_attempts) == ("beta", 100, 3)
    assert beta.exports_path == tmp_path / "exports" / "beta" and beta.db_url == settings.db_url
    assert beta.has_source("hubspot") and not beta.has_source("mailchimp")
    assert settings.for_connection("acme").has_source("mailchimp")
    # Every secret of every connection is known to the log filter.
    assert set(settings.secret_values()) == {"pat-acme", "k-us6", "pat-beta"}
    with pytest.raises(ConfigurationError, match="choose one with --connection"):
        settings.for_connection()
    with pytest.raises(ConfigurationError, match="unknown connection 'gamma'"):
        settings.for_connection("gamma")
    with pytest.raises(ConfigurationError, match="connection name"):
        load_settings(connections={"bad name": {}})
    single = load_settings(data_dir=tmp_path, mailchimp={"access_token": "oauth-secret"})
    assert single.for_connection() is single and "oauth-secret" in single.secret_values()


def test_an_env_file_may_hold_other_programs_variables_but_not_unknown_funnelsync_ones(tmp_path):
    (tmp_path / ".env").write_text("OTHER_TOOL_TOKEN=abc\nFUNNELSYNC_HUBSPOT__TOKEN=pat-1\n")
    assert load_settings().hubspot.token is not None
    (tmp_path / ".env").write_text("FUNNELSYNC_DATA_DRI=x\n")
    with pytest.raises(ConfigurationError, match="FUNNELSYNC_DATA_DRI: unknown setting"):
        load_settings()


def test_every_unknown_key_is_named_at_once_with_its_closest_known_one(tmp_path):
    (tmp_path / "funnelsync.toml").write_text('data_dri = "x"\n[hubspot]\ntokn = "y"\n[service]\nprot = 1\n')
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert "data_dri: unknown setting (did you mean 'data_dir'?)" in message
    assert "hubspot.tokn: unknown setting (did you mean 'token'?)" in message
    assert "service.prot: unknown setting (did you mean 'port'?)" in message and "\n" not in message
