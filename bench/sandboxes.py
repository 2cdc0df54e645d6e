"""Starting a sandbox in its own process for a benchmark, as a real API would run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def start_sandbox(args: list[str], port: int, *, timeout: float = 300) -> subprocess.Popen[bytes]:
    """`funnelsync sandbox <args>` in a child process; returns once its health route answers."""
    command = [
        sys.executable,
        "-c",
        "from service.cli import main; main()",
        "sandbox",
        *args,
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sandbox exited with code {proc.returncode}")
        try:
            with httpx.Client(timeout=1) as probe:
                if probe.get(f"http://127.0.0.1:{port}/_sandbox/health").status_code == 200:
                    return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("sandbox did not start")
