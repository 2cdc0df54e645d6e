"""`funnelsync resync`: ask a running service for a sync over its admin API and follow it."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from config import Settings
from service.exitcodes import EXIT_AUTH, EXIT_BUSY, EXIT_CONFIG, EXIT_DEFERRED, EXIT_FAILED, EXIT_OK
from service.progress import SyncDisplay
from storage.runs import FINISHED


class RemoteError(Exception):
    """The service could not be asked; `exit_code` says why (docs/operations.md)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail if detail is not None else body)


def request_resync(
    settings: Settings,
    *,
    connection: str | None,
    streams: Sequence[str] | None,
    full: bool,
    follow: bool,
    console: Console,
    transport: httpx.BaseTransport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST /admin/resync, then (with `follow`) poll the queued runs until they end; returns
    the exit code the runs' statuses give."""
    service = settings.service
    if service.admin_token is None:
        raise RemoteError(
            "no admin token: set FUNNELSYNC_SERVICE__ADMIN_TOKEN (or [service] admin_token), "
            "or run the sync here with --local",
            EXIT_CONFIG,
        )
    url = service.service_url()
    headers = {"Authorization": f"Bearer {service.admin_token.get_secret_value()}"}
    body: dict[str, Any] = {"connection": connection, "full": full}
    if streams:
        body["streams"] = list(streams)
    with httpx.Client(base_url=url, headers=headers, timeout=10.0, transport=transport) as client:
        try:
            response = client.post("/admin/resync", json=body)
        except httpx.TransportError as exc:
            raise RemoteError(
                f"no service answers at {url} ({type(exc).__name__}); start `funnelsync serve` "
                "or run the sync here with --local",
                EXIT_FAILED,
            ) from None
        if response.status_code in (401, 403):
            raise RemoteError(f"the service refused the admin token: {_detail(response)}", EXIT_AUTH)
        if response.status_code == 409:
            raise RemoteError(_detail(response), EXIT_BUSY)
        if response.status_code == 422:
            raise RemoteError(_detail(response), EXIT_CONFIG)
        if response.status_code != 202:
            raise RemoteError(
                f"the service answered {response.status_code}: {_detail(response)}", EXIT_FAILED
            )
        accepted = response.json()
        ids = [run["id"] for run in accepted["runs"]]
        console.print(
            f"queued on {url}: connection {accepted['connection']}, "
            f"run(s) {', '.join(map(str, ids))} (job {accepted['job_id']})"
        )
        if not follow:
            return EXIT_OK
        runs = _follow(client, ids, console, sleep)
    _print_runs(runs, console)
    return _exit_code([r["status"] for r in runs])


def _follow(
    client: httpx.Client, ids: list[int], console: Console, sleep: Callable[[float], None]
) -> list[dict[str, Any]]:
    """Poll the runs (once a second) until they end, shown as `funnelsync sync` shows its own:
    records against what each expects to read, percent, time left, done marks
    (service/progress.py)."""
    with SyncDisplay(console) as display:
        while True:
            runs = []
            for run_id in ids:
                response = client.get(f"/admin/runs/{run_id}")
                if response.status_code != 200:
                    problem = f"run {run_id}: {response.status_code} {_detail(response)}"
                    raise RemoteError(problem, EXIT_FAILED)
                runs.append(response.json())
            for r in runs:
                _show(display, r)
            if all(r["status"] in FINISHED for r in runs):
                return runs
            sleep(1.0)


def _show(display: SyncDisplay, run: dict[str, Any]) -> None:
    """One polled run row on the display (a queued run appears once it starts)."""
    stream, status, expected = run["stream"], run["status"], run.get("records_expected")
    if status == "queued":
        return
    line = display.lines.get(stream)
    if line is None:
        display.started(stream, run["mode"], expected, elapsed=float(run.get("seconds") or 0.0))
    elif expected and line.expected != expected:
        display.expected(stream, int(expected))
    display.advanced(stream, int(run["records_read"]), int(run["pages"]))
    if status in FINISHED:
        display.finished(stream, status, final=True)


def _print_runs(runs: list[dict[str, Any]], console: Console) -> None:
    table = Table(title="Resync result")
    for column in ("run", "stream", "mode", "status", "read", "written", "error"):
        table.add_column(column)
    for r in runs:
        table.add_row(
            str(r["id"]),
            r["stream"],
            r["mode"],
            r["status"],
            f"{r['records_read']:,}",
            f"{r['records_written']:,}",
            r["error"] or "",
        )
    console.print(table)


def _exit_code(statuses: list[str]) -> int:
    if "failed" in statuses or "interrupted" in statuses or "cancelled" in statuses:
        return EXIT_FAILED
    if "deferred" in statuses:
        return EXIT_DEFERRED
    if "skipped" in statuses:
        return EXIT_BUSY
    return EXIT_OK
