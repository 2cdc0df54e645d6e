"""The status page in a real browser: headless Chromium renders it and a screenshot shows the
funnel's bars (Debian's chromium package; .ci/run installs it, CI fails without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from sandbox.server import SandboxServer
from service.api import create_app
from storage.kpis import latest_kpi_run
from tests.conftest import strict

# Real processes or many syncs: left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

FUNNEL_BLUE = (9, 105, 218)  # the first bar (fill #0969da at full opacity)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if found is None:
        if strict():
            pytest.fail("headless Chromium is required in CI (apt-get install chromium)")
        pytest.skip("Chromium is not installed")
    return found


def screenshot(url: str, out: Path, profile: Path) -> Image.Image:
    subprocess.run(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--window-size=1200,1600",
            f"--screenshot={out}",
            url,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return Image.open(out).convert("RGB")


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_the_status_page_renders_the_funnel_in_a_browser(service, engine, tmp_path):
    result = service.jobs.sync("default", trigger="admin")
    assert result.succeeded and latest_kpi_run(engine, connection="default") is not None
    with SandboxServer(create_app(service)) as server:
        image = screenshot(f"{server.url}/", tmp_path / "status.png", tmp_path / "profile")
    assert image.size == (1200, 1600)
    raw = image.tobytes()
    blue = sum(
        1 for i in range(0, len(raw), 3) if all(abs(raw[i + k] - FUNNEL_BLUE[k]) <= 6 for k in range(3))
    )
    # The widest bar alone is about 380 × 34 px; anything near that means the SVG was drawn.
    assert blue > 5_000, f"only {blue} funnel-blue pixels: the funnel did not render"
