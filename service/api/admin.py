"""Admin routes: queue a resync (it runs in the scheduler, not in the request), list and read
sync runs, cancel one."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from config import ConfigurationError
from service.api.deps import (
    ADMIN_ERRORS,
    MAX_ID,
    NO_CONTROL,
    ApiTypes,
    RunId,
    ServiceContext,
    problem,
    retyped,
)
from service.api.models import Conflict, Problem, ResyncAccepted, ResyncRequest, RunOut
from service.jobs import AlreadyRunning
from storage.models import SyncRun
from storage.runs import ACTIVE, get_run, recent_runs, request_cancel

RESYNC_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "The body is not JSON"},
    413: {"model": Problem, "description": "The body is larger than service.max_body_bytes"},
    401: {"model": Problem},
    403: {"model": Problem},
    409: {"model": Conflict},
    422: {"model": Problem},
    503: {"model": Problem},
}


class AdminRoutes:
    def __init__(self, ctx: ServiceContext, types: ApiTypes) -> None:
        self.ctx = ctx
        self.types = types

    def router(self, dependencies: list[Any]) -> APIRouter:
        router = APIRouter(tags=["admin"], dependencies=dependencies)
        router.add_api_route(
            "/admin/resync",
            retyped(self.resync, body=self.types.resync_body),
            methods=["POST"],
            status_code=202,
            response_model=ResyncAccepted,
            responses=RESYNC_ERRORS,
            summary="Queue a sync of one connection; it runs in the scheduler, not in the request.",
        )
        router.add_api_route(
            "/admin/runs",
            self.list_runs,
            methods=["GET"],
            response_model=list[RunOut],
            responses=ADMIN_ERRORS,
            summary="Sync runs, newest first.",
        )
        router.add_api_route(
            "/admin/runs/{run_id}",
            self.one_run,
            methods=["GET"],
            response_model=RunOut,
            responses={**ADMIN_ERRORS, 404: {"model": Problem}},
            summary="One run: status, counts so far, error.",
        )
        router.add_api_route(
            "/admin/runs/{run_id}/cancel",
            self.cancel,
            methods=["POST"],
            status_code=202,
            response_model=RunOut,
            responses={**ADMIN_ERRORS, 404: {"model": Problem}, 409: {"model": Problem}},
            summary="Cancel a queued run, or stop a running one after the pages in flight commit.",
        )
        return router

    def resync(self, body: ResyncRequest) -> Any:
        ctx = self.ctx
        scheduler = ctx.scheduler
        if scheduler is None or not scheduler.scheduler.running or ctx.jobs.shutdown.check() is not None:
            raise problem(503, "the service is not taking jobs (starting or shutting down)")
        chosen = ctx.connection(body.connection)
        try:
            queued = ctx.jobs.queue(chosen.connection, body.streams, full=body.full, trigger="admin")
        except ConfigurationError as exc:
            raise problem(422, str(exc)) from None
        except AlreadyRunning as busy:
            conflict = Conflict(
                detail=str(busy), connection=busy.connection, stream=busy.stream, run_id=busy.run_id
            )
            return JSONResponse(conflict.model_dump(), status_code=409)
        job_id = scheduler.submit(chosen.connection, queued, full=body.full, trigger="admin")
        now = datetime.now(UTC)
        runs = [RunOut.of(run, now) for i in queued.values() if (run := get_run(ctx.engine, i)) is not None]
        return ResyncAccepted(
            run_id=min(queued.values()), job_id=job_id, connection=chosen.connection, runs=runs
        )

    def list_runs(
        self,
        connection: str | None = Query(default=None, max_length=100, pattern=NO_CONTROL),
        status: str | None = Query(default=None, max_length=20, pattern=NO_CONTROL),
        stream: str | None = Query(default=None, max_length=60, pattern=NO_CONTROL),
        before: int | None = Query(
            default=None, ge=1, le=MAX_ID, description="Only runs with a smaller id (paging)."
        ),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> list[RunOut]:
        now = datetime.now(UTC)
        found = recent_runs(
            self.ctx.engine, limit=limit, connection=connection, status=status, stream=stream, before=before
        )
        return [RunOut.of(r, now) for r in found]

    def _stored_run(self, run_id: int) -> SyncRun:
        run = get_run(self.ctx.engine, run_id)
        if run is None:
            raise problem(404, f"no run {run_id}")
        return run

    def one_run(self, run_id: RunId) -> RunOut:
        return RunOut.of(self._stored_run(run_id), datetime.now(UTC))

    def cancel(self, run_id: RunId) -> RunOut:
        run = self._stored_run(run_id)
        if run.status not in ACTIVE:
            raise problem(409, f"run {run_id} already ended ({run.status})")
        now = datetime.now(UTC)
        after = request_cancel(self.ctx.engine, run_id=run_id, now=now)
        assert after is not None
        return RunOut.of(after, now)
