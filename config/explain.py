"""Configuration errors in one line each, naming the setting and where it came from (an
environment variable, the TOML file, the `.env` file), with the closest known key for a typo."""

from __future__ import annotations

import difflib
import json
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

ENV_PREFIX = "FUNNELSYNC_"
# Environment variables of funnelsync's that are not settings fields.
NOT_FIELDS = {"CONFIG"}


def model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The settings model a location points into (its last part is a key of that model)."""
    current: Any = model
    for part in loc[:-1]:
        fields = getattr(current, "model_fields", None)
        if fields is None:
            return None
        if part not in fields:
            # A mapping of named sections (connections.<name>): step over the name.
            continue
        current = _model_of(fields[part].annotation)
        if current is None:
            return None
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel inside `X | None`, `dict[str, X]` and the like."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def suggestion(word: str, known: Iterable[str]) -> str:
    """` (did you mean X?)` for the closest known key, or nothing."""
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def source_of(loc: Sequence[Any], toml_path: Path | None) -> str:
    """Where a setting was most likely given: its environment variable, else the TOML file."""
    env = ENV_PREFIX + "__".join(str(p) for p in loc).upper()
    if env in os.environ:
        return f"environment variable {env}"
    if toml_path is not None:
        table = ".".join(str(p) for p in loc[:-1])
        where = f"[{table}] " if table else ""
        return f"{toml_path}, {where}{loc[-1]}" if loc else str(toml_path)
    return "settings"


def describe(errors: Iterable[Mapping[str, Any]], model: type[BaseModel], toml_path: Path | None) -> str:
    """pydantic's validation errors as one line: each setting, its source and what is wrong."""
    problems = []
    for err in errors:
        loc = [p for p in err.get("loc", ()) if not isinstance(p, int)]
        name = ".".join(str(p) for p in loc) or "settings"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden" and loc:
            parent = model_at(model, loc)
            hint = suggestion(str(loc[-1]), parent.model_fields) if parent is not None else ""
            message = f"unknown setting{hint}"
        problems.append(f"{name}: {message} ({source_of(loc, toml_path)})")
    return "Invalid configuration: " + "; ".join(problems)


def unknown_environment(fields: Iterable[str], environ: dict[str, str] | None = None) -> list[str]:
    """`FUNNELSYNC_*` variables that name no setting (a typo such as FUNNELSYNC_HUBSPT__TOKEN
    would otherwise be ignored), each with the closest known name."""
    known = {f.upper() for f in fields}
    out = []
    for name in sorted(environ if environ is not None else os.environ):
        if not name.startswith(ENV_PREFIX):
            continue
        top = name[len(ENV_PREFIX) :].split("__", 1)[0]
        if top in known or top in NOT_FIELDS:
            continue
        close = difflib.get_close_matches(top, sorted(known), n=1, cutoff=0.6)
        hint = f" (did you mean {ENV_PREFIX}{close[0]}?)" if close else ""
        out.append(f"environment variable {name}: unknown setting{hint}")
    return out


def bad_json_environment(environ: dict[str, str] | None = None) -> list[str]:
    """`FUNNELSYNC_*` values meant as JSON (a list or a table) that do not parse, each named."""
    out = []
    for name, value in sorted((environ if environ is not None else os.environ).items()):
        text = value.strip()
        if not name.startswith(ENV_PREFIX) or not text.startswith(("[", "{")):
            continue
        try:
            json.loads(text)
        except ValueError as exc:
            out.append(f"environment variable {name}: not valid JSON ({exc})")
    return out


def environment(dotenv: Path = Path(".env")) -> dict[str, str]:
    """The variables settings are read from: the `.env` file's, overridden by the process's."""
    from dotenv import dotenv_values

    found = {k: v for k, v in dotenv_values(dotenv).items() if v is not None} if dotenv.is_file() else {}
    return {**found, **os.environ}


def unknown_toml_keys(fields: Iterable[str], path: Path | None) -> list[str]:
    """Top-level keys of the TOML file that name no setting (sections check their own keys)."""
    if path is None:
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return []  # reported when the settings read it
    known = list(fields)
    return [f"{key}: unknown setting{suggestion(key, known)} ({path})" for key in data if key not in known]
