"""Helpers of the tests that run `funnelsync` as real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import loopback_client

REPO = Path(__file__).resolve().parents[2]


def funnelsync(env: dict[str, str], *args: str, output: Any = subprocess.PIPE) -> subprocess.Popen[str]:
    """`funnelsync <args>` as a child process (its output piped, or to `output`)."""
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("funnelsync")), *args],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )


def run_funnelsync(
    env: dict[str, str], *args: str, timeout: float = 120, **options: Any
) -> subprocess.CompletedProcess[str]:
    """`funnelsync <args>` to its end, output captured (`options`: more subprocess.run arguments)."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("funnelsync")), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
        **options,
    )


def process_env(tmp_path: Path, db_url: str, sandbox: Any, **settings: str) -> dict[str, str]:
    """This environment without FUNNELSYNC_* variables, plus the database, the sandbox and
    `settings` (FUNNELSYNC_<NAME>=value)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNNELSYNC_")}
    env.update(
        FUNNELSYNC_DATABASE_URL=db_url,
        FUNNELSYNC_DATA_DIR=str(tmp_path / "data"),
        FUNNELSYNC_HUBSPOT__BASE_URL=sandbox.url,
        FUNNELSYNC_HUBSPOT__TOKEN=sandbox.token,
        # One window of web analytics (see make_settings in tests/conftest.py).
        FUNNELSYNC_HUBSPOT__ANALYTICS_DAYS="90",
        COLUMNS="200",
    )
    env.update({f"FUNNELSYNC_{name.upper()}": value for name, value in settings.items()})
    return env


def wait_until_serving(url: str, process: subprocess.Popen[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with loopback_client(url, timeout=1) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                out = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"funnelsync serve exited with {process.returncode}: {out}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"funnelsync serve did not answer on {url}")
