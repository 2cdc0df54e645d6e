"""The container's contract without a Docker engine: the wheel the Dockerfile installs, run with
the Dockerfile's exact entrypoint, command and environment against PostgreSQL and the sandbox;
and the Dockerfile and compose file kept in step with it."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sandbox.server import free_port
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parents[1]


def dockerfile() -> dict[str, Any]:
    """The runtime stage's instructions: ENV, ENTRYPOINT, CMD, HEALTHCHECK's command, EXPOSE."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    runtime = text.rsplit("\nFROM ", 1)[1]
    found: dict[str, Any] = {"env": {}}
    for line in runtime.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            found["env"].update(dict(pair.split("=", 1) for pair in shlex.split(rest)))
        elif word in ("ENTRYPOINT", "CMD", "USER", "EXPOSE", "VOLUME", "WORKDIR"):
            found[word.lower()] = json.loads(rest) if rest.startswith("[") else rest
        elif word == "HEALTHCHECK":
            found["healthcheck"] = json.loads(rest.split(" CMD ", 1)[1])
    return found


def test_the_image_serves_on_its_exposed_port_as_a_non_root_user():
    image = dockerfile()
    assert image["entrypoint"] == ["funnelsync"] and image["cmd"] == ["serve"]
    assert image["user"] not in ("root", "0")
    assert image["env"]["FUNNELSYNC_SERVICE__HOST"] == "0.0.0.0"
    assert image["expose"] == image["env"]["FUNNELSYNC_SERVICE__PORT"] == "8400"
    assert image["healthcheck"] == ["funnelsync", "check", "--service"]
    assert image["volume"] == [image["env"]["FUNNELSYNC_DATA_DIR"]] == [image["workdir"]]


def test_compose_runs_the_image_with_postgres_after_migrating():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["migrate"]["command"] == ["migrate"]
    app = services["funnelsync"]
    assert "command" not in app  # the image's CMD: serve
    assert app["environment"]["FUNNELSYNC_DATABASE_URL"].startswith("postgresql://")
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["ports"] == [f"127.0.0.1:{dockerfile()['expose']}:{dockerfile()['expose']}"]
    # Shutdown within the service's own bound (docs/service.md), before Docker's SIGKILL.
    assert int(app["stop_grace_period"].rstrip("s")) > 10


@pytest.mark.postgres
@pytest.mark.slow
def test_the_wheel_runs_the_entrypoint_against_postgres(make_sandbox, request, tmp_path):
    image = dockerfile()
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheels),
            ROOT,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("funnelsync-*.whl")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr
    sandbox = make_sandbox(contacts=400)
    port = free_port()
    with fresh_database(request, "postgres", tmp_path) as db_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELSYNC_")}
        env.update(image["env"])
        env.update(
            # Only what a deployment adds: where the data, the database and the portal are.
            FUNNELSYNC_DATA_DIR=str(tmp_path / "data"),
            FUNNELSYNC_SERVICE__PORT=str(port),
            FUNNELSYNC_DATABASE_URL=db_url,
            FUNNELSYNC_HUBSPOT__BASE_URL=sandbox.url,
            FUNNELSYNC_HUBSPOT__TOKEN=sandbox.token,
            # The installed wheel, not this checkout: its scripts first, its code only.
            PATH=f"{target / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            PYTHONPATH=str(target),
        )
        run = {"env": env, "cwd": tmp_path, "capture_output": True, "text": True, "timeout": 120}
        migrated = subprocess.run([*image["entrypoint"], "migrate"], **run)
        assert migrated.returncode == 0, migrated.stderr
        log = (tmp_path / "serve.log").open("w")
        process = subprocess.Popen(
            [*image["entrypoint"], *image["cmd"]], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            with httpx.Client(base_url=url, timeout=5) as http:
                while True:
                    assert process.poll() is None, (tmp_path / "serve.log").read_text()
                    try:
                        ready = http.get("/readyz")
                        runs = http.get("/metrics").text
                    except httpx.TransportError:
                        ready, runs = None, ""
                    if (
                        ready is not None
                        and ready.status_code == 200
                        and 'status="succeeded",stream="contacts"' in runs
                    ):
                        break
                    assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                    time.sleep(0.2)
            health = subprocess.run(image["healthcheck"], **run)
            assert health.returncode == 0, health.stdout + health.stderr
            lines = (tmp_path / "serve.log").read_text().splitlines()
            assert lines and all(json.loads(line)["level"] for line in lines)  # FUNNELSYNC_LOG_JSON
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    # The entrypoint was the installed wheel's script.
    assert shutil.which("funnelsync", path=env["PATH"]) == str(target / "bin" / "funnelsync")
