"""Health routes: the process answers (`/healthz`); the database answers, its schema is current
and no stream has been failing for too long (`/readyz`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.deps import ServiceContext
from service.api.models import Check, Readiness
from storage.runs import last_success, latest_runs
from storage.schema import schema_status


class HealthRoutes:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def router(self) -> APIRouter:
        router = APIRouter(tags=["health"])
        router.add_api_route("/healthz", self.healthz, methods=["GET"], summary="The process answers.")
        router.add_api_route(
            "/readyz",
            self.readyz,
            methods=["GET"],
            summary="Database reachable, schema current, no stream failing for too long.",
            response_model=Readiness,
            responses={503: {"model": Readiness}},
        )
        return router

    def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    def readyz(self) -> JSONResponse:
        checks = readiness(self.ctx)
        ready = all(c.ok for c in checks)
        body = Readiness(ready=ready, checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


def readiness(ctx: ServiceContext) -> list[Check]:
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return [Check(name="database", ok=False, detail=f"unreachable ({type(exc).__name__})")]
    state = schema_status(ctx.engine)
    detail = (
        f"revision {state.current}" if state.up_to_date else f"revision {state.current}, needed {state.head}"
    )
    return [
        Check(name="database", ok=True, detail="answers"),
        Check(name="schema", ok=state.up_to_date, detail=detail),
        _syncs_check(ctx),
    ]


def _syncs_check(ctx: ServiceContext) -> Check:
    """No stream whose latest run failed and that has not succeeded for `ready_failed_minutes`
    (counted from the later of its last success and this process's start)."""
    minutes = ctx.settings.service.ready_failed_minutes
    limit = timedelta(minutes=minutes)
    now = datetime.now(UTC)
    succeeded = last_success(ctx.engine)
    failing = []
    for run in latest_runs(ctx.engine):
        if run.status != "failed" or run.source == "scheduler":
            continue
        since = succeeded.get((run.connection, run.source, run.stream)) or ctx.started_at
        if now - max(since, ctx.started_at) > limit:
            failing.append(f"{run.connection}/{run.source}/{run.stream} (run {run.id})")
    if failing:
        return Check(name="syncs", ok=False, detail="failing: " + ", ".join(failing))
    return Check(name="syncs", ok=True, detail=f"no stream failing for longer than {minutes} min")
