"""The layering holds: imports run connector → storage → kpi → service and never back.

The contracts live in pyproject.toml ([tool.importlinter]); docs/architecture.md explains them.
"""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_every_layering_contract_is_kept(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(ROOT)
    # import-linter configures logging with `disable_existing_loggers`, which would silence
    # funnelsync's loggers for every later test in this process: put them back.
    loggers = [lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    disabled = {lg: lg.disabled for lg in loggers}
    try:
        status = lint_imports(no_cache=True, no_logo=True)
    finally:
        for lg, was in disabled.items():
            lg.disabled = was
    report = capsys.readouterr().out
    assert status == 0, report
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in report


def test_the_contracts_cover_every_shipped_package():
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {name.rstrip("*") for name in shipped["include"]}
    assert set(CONFIG["root_packages"]) == packages


def test_every_kpi_module_is_either_pure_or_a_database_read():
    """A new kpi module must be placed on one side of the purity contract, not slip past it."""
    (purity,) = [c for c in CONFIG["contracts"] if c["source_modules"][0].startswith("kpi.")]
    pure = set(purity["source_modules"])
    reads = {m for m in purity["forbidden_modules"] if m.startswith("kpi.")}
    modules = {f"kpi.{p.stem}" for p in (ROOT / "kpi").glob("*.py") if p.stem != "__init__"}
    assert not pure & reads
    assert modules == pure | reads
