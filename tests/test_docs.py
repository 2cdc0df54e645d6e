"""The docs and the build files stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    setup = text.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", setup, flags=re.S)


def test_readme_opens_with_exactly_two_setup_commands():
    commands = readme_commands()
    assert len(commands) == 2
    assert "funnelsync demo" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci


def test_dockerfile_runs_the_console_script_as_non_root():
    docker = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["funnelsync"]' in docker
    assert re.search(r"^USER (?!root)\w+", docker, flags=re.M)
    assert "HEALTHCHECK" in docker and "VOLUME" in docker
    assert docker.count("FROM ") >= 2  # multi-stage
    for package in ("config", "connector", "storage", "kpi", "service"):
        assert f"COPY {package} ./{package}" in docker


def test_documented_settings_exist():
    from config import Settings

    docs = (ROOT / "docs" / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`{name}" in docs, name


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_file_pins_every_dependency_and_the_builds_use_it():
    """Reproducible builds: requirements/lock.txt pins (==) every dependency pyproject.toml names,
    test extras included; CI installs through it (PIP_CONSTRAINT) and so does the Dockerfile."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    names = {_normalized(re.split(r"[<>=!~\[; ]", spec, maxsplit=1)[0]) for spec in declared}
    pins = {}
    for line in (ROOT / "requirements" / "lock.txt").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.partition("==")
            pins[_normalized(name)] = version
    assert names <= set(pins) and all(pins.values())
    assert 'export PIP_CONSTRAINT="$PWD/requirements/lock.txt"' in (ROOT / ".ci" / "run").read_text()
    docker = (ROOT / "Dockerfile").read_text()
    assert "--constraint requirements/lock.txt" in docker and "ARG PYTHON_IMAGE=" in docker


def test_the_documented_units_are_the_codes():
    """docs/exports.md's unit table lists exactly the KPIs kpi/model.py declares for each unit."""
    from kpi.model import FAMILIES, KPI_UNITS

    text = (ROOT / "docs" / "exports.md").read_text()
    table = text.split("## Units", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            for kpi in re.findall(r"`([a-z0-9_]+)`", cells[2]):
                documented[kpi] = cells[0].strip("`")
    assert documented == KPI_UNITS and set(KPI_UNITS) == set(FAMILIES)
