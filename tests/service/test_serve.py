"""`funnelsync serve` as a real process against the sandbox: scheduled syncs, admin resyncs over
HTTP, 409 on a double resync, SIGTERM mid-sync then a restart that resumes, metrics and KPIs
that match the database, auth failures; and two replicas on one PostgreSQL."""

from __future__ import annotations

import itertools
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from sandbox.server import free_port
from storage.db import table_of
from storage.kpis import latest_kpi_run
from storage.models import HubSpotContact, SyncLease, SyncRun
from storage.runs import FINISHED
from tests.conftest import fresh_database, loopback_client
from tests.service.procs import funnelsync, process_env, run_funnelsync, wait_until_serving

# Real processes or many syncs: left out of the quick tier (`pytest -m "not slow"`).
pytestmark = pytest.mark.slow

ADMIN = "serve-admin-token-42"


class Service:
    """One `funnelsync serve` process and an admin client for it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("a")
        self.process = funnelsync(
            {**env, "FUNNELSYNC_SERVICE__PORT": str(self.port)}, "serve", output=self._out
        )
        wait_until_serving(self.url, self.process)
        self.http = loopback_client(self.url, headers={"Authorization": f"Bearer {ADMIN}"})

    def runs(self, **params: Any) -> list[dict[str, Any]]:
        response = self.http.get("/admin/runs", params={"limit": 200, **params})
        response.raise_for_status()
        return list(response.json())

    def wait(self, predicate: Any, timeout: float = 120, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = predicate()
            if found:
                return found
            assert self.process.poll() is None, f"serve exited: {self.log.read_text()}"
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: {self.log.read_text()[-3000:]}")

    def stop(self) -> int:
        """The exit code of the process, once a signal sent to it ended it."""
        code = self.process.wait(timeout=60)
        self.http.close()
        self._out.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.http.close()
        self._out.close()


def serve_env(tmp_path: Path, db_url: str, sandbox: Any, **extra: str) -> dict[str, str]:
    return process_env(
        tmp_path,
        db_url,
        sandbox,
        service__admin_token=ADMIN,
        service__sync_interval_minutes="600",
        service__jitter_seconds="0",
        service__reconcile_cron="",
        log_json="true",
        **extra,
    )


def succeeded(service: Service, stream: str, trigger: str) -> list[dict[str, Any]]:
    return [r for r in service.runs(stream=stream) if r["status"] == "succeeded" and r["trigger"] == trigger]


CONTACTS = "/crm/objects/2026-09/contacts"


def hold_contacts_after(sandbox: Any, requests: int) -> None:
    """The contacts listing's request after `requests` more of them waits until released."""
    sandbox.faults({"kind": "hold", "skip": requests, "path_prefix": CONTACTS, "method": "GET"})


def held(sandbox: Any) -> bool:
    return bool(sandbox.stats().get("fault:hold"))


def stopped_in_time(log: Path) -> bool:
    """Whether the process stopped within `service.shutdown_seconds` (else it says which runs it
    closed itself)."""
    return "did not stop in time" not in log.read_text()


def test_serve_syncs_takes_resyncs_stops_on_sigterm_and_resumes(make_sandbox, engine, db_url, tmp_path):
    contacts = 600
    sandbox = make_sandbox(contacts=contacts)
    env = serve_env(tmp_path, db_url, sandbox)
    log = tmp_path / "serve.log"
    service = Service(env, log)
    try:
        # The scheduled sync at start.
        service.wait(lambda: succeeded(service, "contacts", "schedule"), what="the scheduled sync")
        kpi_run = service.wait(lambda: latest_kpi_run(engine, connection="default"), what="the KPIs")
        # Auth failures.
        with loopback_client(service.url, timeout=10) as anonymous:
            assert anonymous.post("/admin/resync", json={}).status_code == 401
            wrong = {"Authorization": "Bearer not-the-token"}
            assert anonymous.get("/admin/runs", headers=wrong).status_code == 403
        # The read API (admin token) and /metrics say what the database says.
        latest = service.wait(
            lambda: (r := service.http.get("/api/kpis/latest")).status_code == 200 and r.json(), what="KPIs"
        )
        assert latest["run_id"] == kpi_run.id
        runs = table_of(SyncRun)
        with engine.connect() as conn:
            read = conn.execute(
                select(func.sum(runs.c.records_read)).where(runs.c.stream == "contacts")
            ).scalar_one()
        metrics = service.http.get("/metrics").text
        assert f'stream="contacts"}} {float(read)}' in metrics

        # An admin resync, held by the portal after a few pages; the same again while it runs:
        # 409 naming the running run.
        hold_contacts_after(sandbox, 4)
        accepted = service.http.post("/admin/resync", json={"streams": ["contacts"], "full": True})
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        again = service.http.post("/admin/resync", json={"streams": ["contacts"]})
        assert again.status_code == 409 and again.json()["run_id"] == run_id
        service.wait(lambda: held(sandbox), what="the held request")
        service.wait(lambda: service.http.get(f"/admin/runs/{run_id}").json()["pages"] >= 3, what="pages")

        # SIGTERM mid-sync: the request in flight is answered, the pages commit, the run is
        # closed and the process exits, within its shutdown time.
        service.process.send_signal(signal.SIGTERM)
        service.wait(lambda: "SIGTERM received" in log.read_text(), what="the stop")
        sandbox.admin("POST", "/_sandbox/release")
        assert service.stop() == 0 and stopped_in_time(log), log.read_text()[-2000:]
        with engine.connect() as conn:
            run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
            stored = conn.execute(select(func.count()).select_from(table_of(HubSpotContact))).scalar_one()
        assert run.status == "interrupted" and run.finished_at is not None
        assert 0 < run.records_read < contacts
        assert stored == contacts  # the first sync's rows, untouched by the stop
        lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
        assert any(line.get("run_id") == run_id for line in lines) and ADMIN not in log.read_text()
        assert sandbox.token not in log.read_text()

        # A restart resumes the half-done full sync from its checkpoint.
        service = Service(env, log)
        resumed = service.wait(
            lambda: [r for r in succeeded(service, "contacts", "schedule") if r["id"] > run_id],
            what="the resumed sync",
        )
        assert resumed[0]["mode"] == "full" and resumed[0]["records_read"] == contacts - run.records_read
        # An admin resync over HTTP runs to its end and is listed with the runs.
        again = service.http.post("/admin/resync", json={"streams": ["owners", "deals"]})
        assert again.status_code == 202, again.text
        ids = sorted(r["id"] for r in again.json()["runs"])

        def ended() -> list[dict[str, Any]]:
            mine = [r for r in service.runs() if r["id"] in ids]
            return mine if all(r["status"] in FINISHED for r in mine) else []

        done = service.wait(ended, what="the admin resync")
        assert sorted((r["id"], r["status"], r["trigger"]) for r in done) == [
            (i, "succeeded", "admin") for i in ids
        ]
        service.process.send_signal(signal.SIGINT)
        assert service.stop() == 0 and stopped_in_time(log)
    finally:
        service.kill()


def test_serve_closes_the_runs_of_syncs_that_do_not_stop_in_time(make_sandbox, engine, db_url, tmp_path):
    """A sync stuck on a request when the shutdown time is up: the process closes its runs as
    interrupted, frees its leases and exits 0."""
    sandbox = make_sandbox(contacts=300)
    env = serve_env(
        tmp_path, db_url, sandbox, service__shutdown_seconds="0.5", service__sync_on_start="false"
    )
    log = tmp_path / "serve.log"
    service = Service(env, log)
    try:
        hold_contacts_after(sandbox, 0)
        accepted = service.http.post("/admin/resync", json={"streams": ["contacts"]})
        assert accepted.status_code == 202, accepted.text
        run_id = accepted.json()["run_id"]
        service.wait(lambda: held(sandbox), what="the held request")
        service.process.send_signal(signal.SIGTERM)
        assert service.stop() == 0
    finally:
        sandbox.admin("POST", "/_sandbox/release")
        service.kill()
    assert "1 run(s) did not stop in time and were closed as interrupted" in log.read_text()
    runs, leases = table_of(SyncRun), table_of(SyncLease)
    with engine.connect() as conn:
        run = conn.execute(select(runs).where(runs.c.id == run_id)).one()
        held_leases = conn.execute(select(func.count()).select_from(leases)).scalar_one()
    assert run.status == "interrupted" and "shut down before the sync finished" in run.error
    assert run.finished_at is not None and held_leases == 0


@pytest.mark.postgres
def test_two_serve_processes_never_sync_the_same_stream_at_once(make_sandbox, request, tmp_path):
    sandbox = make_sandbox(contacts=600)
    with fresh_database(request, "postgres", tmp_path) as db_url:
        migrate = run_funnelsync(process_env(tmp_path, db_url, sandbox), "migrate")
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        env = serve_env(tmp_path, db_url, sandbox)
        # The first process's scheduled sync is held on its contacts until the second has
        # started and found them busy.
        hold_contacts_after(sandbox, 1)
        first = Service(env, tmp_path / "first.log")
        first.wait(lambda: held(sandbox), what="the held request")
        second = Service(env, tmp_path / "second.log")
        try:
            first.wait(lambda: [r for r in first.runs() if r["status"] == "skipped"], what="a skipped stream")
            sandbox.admin("POST", "/_sandbox/release")

            def settled() -> list[dict[str, Any]]:
                rows = first.runs()
                contacts = [r for r in rows if r["stream"] == "contacts"]
                done = len(contacts) >= 2 and all(r["status"] in FINISHED for r in rows)
                return rows if done else []

            rows = first.wait(settled, what="both processes' first round")
            by_stream: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                by_stream.setdefault(row["stream"], []).append(row)
            skipped = [r for r in rows if r["status"] == "skipped"]
            assert skipped, "the second process never found a stream busy"
            assert all("already running" in r["error"] for r in skipped)
            for stream, runs in by_stream.items():
                worked = sorted((r for r in runs if r["status"] != "skipped"), key=lambda r: r["started_at"])
                for before, after in itertools.pairwise(worked):
                    assert before["finished_at"] <= after["started_at"], f"{stream} synced twice at once"
            # Both processes live on and take the next jobs.
            assert first.http.get("/healthz").status_code == second.http.get("/healthz").status_code == 200
            with loopback_client(second.url, timeout=10) as plain:
                assert plain.get("/readyz").status_code == 200
        finally:
            first.kill()
            second.kill()


@pytest.mark.parametrize("dialect", ["sqlite"], indirect=True)
def test_serve_exits_7_in_one_line_when_its_port_is_taken(make_sandbox, db_url, tmp_path):
    """A busy port is not "deferred by the daily limit" (3): its own exit code, one error line."""
    import socket

    from tests.service.procs import run_funnelsync

    sandbox = make_sandbox(contacts=50)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = serve_env(tmp_path, db_url, sandbox, service__port=str(taken.getsockname()[1]))
        assert run_funnelsync(env, "migrate").returncode == 0
        done = run_funnelsync(env, "serve", timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode == 7 and "could not listen on 127.0.0.1" in output and "Traceback" not in output
