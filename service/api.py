"""The service's HTTP API (FastAPI): admin resync and runs, read-only KPIs and export files,
Prometheus metrics, health checks and the status page. Built per process by `create_app`.

Auth: admin routes need `Authorization: Bearer <service.admin_token>` (401 without a token,
403 with a wrong one, 403 when none is configured: disabled, never open). The read API takes
the API token or the admin token; tokens are compared in constant time.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import orjson
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, SecretStr, create_model
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from config import ConfigurationError, Settings
from connector.sources import SOURCES
from kpi.headline import Headline, headline
from service.exports import COLUMNS
from service.jobs import AlreadyRunning, Jobs
from service.metrics import metrics_text
from service.scheduler import Scheduler
from service.status import render_status
from storage.kpis import kpi_rows, latest_kpi_run
from storage.models import KpiRun, SyncRun
from storage.runs import ACTIVE, get_run, last_success, latest_runs, recent_runs, request_cancel
from storage.schema import schema_status

bearer = HTTPBearer(auto_error=False, description="service.admin_token (admin) or service.api_token (read)")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


@dataclass
class ServiceContext:
    """What the routes work with, built once by `funnelsync serve` (or a test)."""

    settings: Settings
    jobs: Jobs
    scheduler: Scheduler | None
    started_at: datetime

    @property
    def engine(self) -> Engine:
        return self.jobs.engine


# -- request and response shapes ------------------------------------------------------------


class ResyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection: str | None = Field(default=None, description="Named connection (default: the only one).")
    streams: list[str] | None = Field(
        default=None,
        max_length=20,
        description="Only these streams (default: every stream with credentials).",
    )
    full: bool = Field(
        default=False, description="Re-read everything instead of changes since the last sync."
    )


class RunOut(BaseModel):
    id: int
    connection: str
    source: str
    stream: str
    mode: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    seconds: float | None
    pages: int
    records_read: int
    records_written: int
    records_rejected: int
    fields_quarantined: int
    requests: int
    retries: int
    rate_limited: int
    error: str | None

    @classmethod
    def of(cls, run: SyncRun, now: datetime) -> RunOut:
        assert run.id is not None
        end = run.finished_at or (now if run.status in ("running", "cancelling") else None)
        return cls(
            **run.model_dump(exclude={"holder"}),
            seconds=round((end - run.started_at).total_seconds(), 3) if end else None,
        )


class ResyncAccepted(BaseModel):
    run_id: int = Field(description="The first queued run (one run per stream).")
    job_id: str
    connection: str
    runs: list[RunOut]


class Conflict(BaseModel):
    detail: str
    connection: str
    stream: str
    run_id: int


class Problem(BaseModel):
    detail: str


class Check(BaseModel):
    name: str
    ok: bool
    detail: str


class Readiness(BaseModel):
    ready: bool
    checks: list[Check]


class KpiRowOut(BaseModel):
    kpi: str
    family: str
    stage: str
    period_start: str | None
    period_end: str
    dimension: str
    dimension_value: str
    value: float | None
    numerator: float | None
    denominator: float | None
    unit: str
    reason: str | None
    basis: str
    run_id: int
    computed_at: str


class KpiPage(BaseModel):
    connection: str
    run_id: int
    as_of: datetime
    computed_at: datetime
    currency: str
    timezone: str
    period: str
    values: list[KpiRowOut]


# -- helpers ----------------------------------------------------------------------------------


def _matches(given: str, secret: SecretStr | None) -> bool:
    return secret is not None and hmac.compare_digest(given.encode(), secret.get_secret_value().encode())


def _problem(status: int, detail: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(status_code=status, detail=detail, headers=headers)


def _check_token(
    creds: HTTPAuthorizationCredentials | None, accepted: list[SecretStr | None], what: str
) -> None:
    configured = [s for s in accepted if s is not None and s.get_secret_value()]
    if not configured:
        raise _problem(403, f"{what} disabled: no token is configured")
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise _problem(401, "missing bearer token", {"WWW-Authenticate": "Bearer"})
    # Every configured token is compared, so the time taken says nothing about which matched.
    results = [_matches(creds.credentials, s) for s in configured]
    if not any(results):
        raise _problem(403, "wrong token")


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC).replace(microsecond=0), usegmt=True)


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    """Whether the client's copy is current (If-None-Match wins over If-Modified-Since)."""
    match = request.headers.get("if-none-match")
    if match is not None:
        return etag in [tag.strip() for tag in match.split(",")] or match.strip() == "*"
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _cached(request: Request, etag: str, modified: datetime, build: Callable[[], Response]) -> Response:
    headers = {"ETag": etag, "Last-Modified": _http_date(modified), "Cache-Control": "no-cache"}
    if _not_modified(request, etag, modified):
        return Response(status_code=304, headers=headers)
    response = build()
    response.headers.update(headers)
    return response


# Run ids are INTEGER columns (PostgreSQL: 4 bytes); larger values cannot name a run.
MAX_ID = 2**31 - 1

RunId = Annotated[int, PathParam(ge=1, le=MAX_ID)]
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem},
    403: {"model": Problem},
    422: {"model": Problem},
}

_EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


def create_app(ctx: ServiceContext) -> FastAPI:
    """The FastAPI application of one service process."""
    settings = ctx.settings
    service = settings.service
    app = FastAPI(
        title="funnelsync",
        version="1",
        summary="Admin resync, runs, KPIs, exports and metrics of a funnelsync service.",
        docs_url="/docs",
        redoc_url=None,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        # One readable sentence per problem, as every other error of this API gives.
        problems = [
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}"
            for err in exc.errors()
        ]
        return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)

    def admin(creds: Credentials) -> None:
        _check_token(creds, [service.admin_token], "admin routes")

    def reader(creds: Credentials) -> None:
        _check_token(creds, [service.api_token, service.admin_token], "the read API")

    Admin = Depends(admin)
    # Open routes carry no auth dependency, so the OpenAPI document says they need none.
    readers = [] if service.read_open else [Depends(reader)]
    metrics_readers = readers if not service.metrics_open else []

    # The document names the configured connections and the streams they can sync, so a
    # client (and schemathesis) knows the valid values before asking.
    names = tuple(settings.connection_names())
    configured = [settings.for_connection(n) for n in names]
    sources = [s for s in SOURCES if any(c.has_source(s) for c in configured)] or ["hubspot"]
    connection_type: Any = Literal[names]
    stream_type: Any = Literal[tuple(name for s in sources for name in SOURCES[s].stream_names())]
    resync_body = create_model(
        "ResyncRequest",
        __base__=ResyncRequest,
        connection=(
            connection_type | None,
            Field(default=None, description="Named connection (default: the only one)."),
        ),
        streams=(
            list[stream_type] | None,
            Field(default=None, max_length=20, description="Only these streams (default: every one)."),
        ),
    )

    def typed(**annotations: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Give a route's parameters the types built above (this module's annotations are
        strings, resolved at import time, which cannot name per-app types)."""

        def apply(route: Callable[..., Any]) -> Callable[..., Any]:
            route.__annotations__.update(annotations)
            return route

        return apply

    def one_connection(name: str | None) -> Settings:
        try:
            return settings.for_connection(name)
        except ConfigurationError as exc:
            raise _problem(422, str(exc)) from None

    # -- health --------------------------------------------------------------------------

    @app.get("/healthz", tags=["health"], summary="The process answers.")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Database reachable, schema current, no stream failing for too long.",
        response_model=Readiness,
        responses={503: {"model": Readiness}},
    )
    def readyz() -> JSONResponse:
        checks = _readiness(ctx)
        ready = all(c.ok for c in checks)
        body = Readiness(ready=ready, checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    # -- admin -----------------------------------------------------------------------------

    @app.post(
        "/admin/resync",
        tags=["admin"],
        status_code=202,
        dependencies=[Admin],
        response_model=ResyncAccepted,
        responses={
            400: {"model": Problem, "description": "The body is not JSON"},
            401: {"model": Problem},
            403: {"model": Problem},
            409: {"model": Conflict},
            422: {"model": Problem},
            503: {"model": Problem},
        },
        summary="Queue a sync of one connection; it runs in the scheduler, not in the request.",
    )
    @typed(body=resync_body)
    def resync(body: ResyncRequest) -> Any:
        scheduler = ctx.scheduler
        if scheduler is None or not scheduler.scheduler.running or ctx.jobs.shutdown.check() is not None:
            raise _problem(503, "the service is not taking jobs (starting or shutting down)")
        chosen = one_connection(body.connection)
        try:
            queued = ctx.jobs.queue(chosen.connection, body.streams, full=body.full, trigger="admin")
        except ConfigurationError as exc:
            raise _problem(422, str(exc)) from None
        except AlreadyRunning as busy:
            return JSONResponse(
                Conflict(
                    detail=str(busy), connection=busy.connection, stream=busy.stream, run_id=busy.run_id
                ).model_dump(),
                status_code=409,
            )
        job_id = scheduler.submit(chosen.connection, queued, full=body.full, trigger="admin")
        now = datetime.now(UTC)
        runs = [RunOut.of(run, now) for i in queued.values() if (run := get_run(ctx.engine, i)) is not None]
        return ResyncAccepted(
            run_id=min(queued.values()), job_id=job_id, connection=chosen.connection, runs=runs
        )

    @app.get(
        "/admin/runs",
        tags=["admin"],
        dependencies=[Admin],
        response_model=list[RunOut],
        responses=ADMIN_ERRORS,
        summary="Sync runs, newest first.",
    )
    def list_runs(
        connection: str | None = Query(default=None, max_length=100),
        status: str | None = Query(default=None, max_length=20),
        stream: str | None = Query(default=None, max_length=60),
        before: int | None = Query(
            default=None, ge=1, le=MAX_ID, description="Only runs with a smaller id (paging)."
        ),
        limit: int = Query(default=50, ge=1, le=500),
    ) -> list[RunOut]:
        now = datetime.now(UTC)
        found = recent_runs(
            ctx.engine, limit=limit, connection=connection, status=status, stream=stream, before=before
        )
        return [RunOut.of(r, now) for r in found]

    def stored_run(run_id: int) -> SyncRun:
        run = get_run(ctx.engine, run_id)
        if run is None:
            raise _problem(404, f"no run {run_id}")
        return run

    @app.get(
        "/admin/runs/{run_id}",
        tags=["admin"],
        dependencies=[Admin],
        response_model=RunOut,
        responses={**ADMIN_ERRORS, 404: {"model": Problem}},
        summary="One run: status, counts so far, error.",
    )
    def one_run(run_id: RunId) -> RunOut:
        return RunOut.of(stored_run(run_id), datetime.now(UTC))

    @app.post(
        "/admin/runs/{run_id}/cancel",
        tags=["admin"],
        status_code=202,
        dependencies=[Admin],
        response_model=RunOut,
        responses={**ADMIN_ERRORS, 404: {"model": Problem}, 409: {"model": Problem}},
        summary="Cancel a queued run, or stop a running one after the pages in flight commit.",
    )
    def cancel(run_id: RunId) -> RunOut:
        run = stored_run(run_id)
        if run.status not in ACTIVE:
            raise _problem(409, f"run {run_id} already ended ({run.status})")
        now = datetime.now(UTC)
        after = request_cancel(ctx.engine, run_id=run_id, now=now)
        assert after is not None
        return RunOut.of(after, now)

    # -- read API ------------------------------------------------------------------------

    def _latest(connection: str | None) -> tuple[Settings, KpiRun]:
        chosen = one_connection(connection)
        run = latest_kpi_run(ctx.engine, connection=chosen.connection)
        if run is None or run.id is None:
            raise _problem(404, f"no KPIs computed yet for connection {chosen.connection!r}")
        return chosen, run

    def _respond(
        request: Request,
        chosen: Settings,
        run: KpiRun,
        fmt: str,
        tag: str,
        load: Callable[[], list[dict[str, Any]]],
    ) -> Response:
        """The page of one computation's values; a client holding it gets a 304 before any row
        is read (the ETag is the computation plus the query)."""
        etag = f'W/"kpis-{run.id}-{hashlib.sha256(tag.encode()).hexdigest()[:16]}"'

        def build() -> Response:
            values = _export_rows(load(), ZoneInfo(run.timezone))
            if fmt == "csv":
                buffer = io.StringIO()
                writer = csv.DictWriter(
                    buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n"
                )
                writer.writeheader()
                writer.writerows(values)
                return PlainTextResponse(buffer.getvalue(), media_type="text/csv; charset=utf-8")
            page = {
                "connection": chosen.connection,
                "run_id": run.id,
                "as_of": run.as_of.isoformat(),
                "computed_at": run.computed_at.isoformat(),
                "currency": run.currency,
                "timezone": run.timezone,
                "period": run.period,
                "values": values,
            }
            return Response(orjson.dumps(page), media_type="application/json")

        return _cached(request, etag, run.computed_at, build)

    read_responses: dict[int | str, dict[str, Any]] = {
        200: {"content": {"text/csv": {}}},
        304: {"description": "Not modified"},
        401: {"model": Problem},
        403: {"model": Problem},
        404: {"model": Problem},
        422: {"model": Problem},
    }

    @app.get(
        "/api/kpis",
        tags=["read"],
        dependencies=readers,
        response_model=KpiPage,
        responses=read_responses,
        summary="KPI values of the latest computation, filtered (JSON, or CSV with format=csv).",
    )
    @typed(connection=connection_type | None)
    def api_kpis(
        request: Request,
        kpi: str | None = Query(default=None, max_length=60),
        period: Literal["week", "month", "quarter", "year"] | None = Query(
            default=None, description="Only if the latest computation used this period grid (else 404)."
        ),
        first: date | None = Query(
            default=None, alias="from", description="Periods starting on or after (YYYY-MM-DD)."
        ),
        last: date | None = Query(
            default=None, alias="to", description="Periods starting on or before (YYYY-MM-DD)."
        ),
        dimension: str | None = Query(default=None, max_length=20),
        dimension_value: str | None = Query(default=None, max_length=200),
        connection: str | None = Query(default=None, max_length=100),
        format: Literal["json", "csv"] = Query(default="json"),
    ) -> Response:
        chosen, run = _latest(connection)
        if period is not None and period != run.period:
            raise _problem(
                404, f"the latest computation is on a {run.period} grid, not {period} (kpi.period)"
            )
        tz = ZoneInfo(run.timezone)

        def load() -> list[dict[str, Any]]:
            return kpi_rows(
                ctx.engine,
                run_id=run.id or 0,
                kpi=kpi,
                dimension=dimension,
                dimension_value=dimension_value,
                start_from=datetime.combine(first, time(), tz) if first else None,
                start_before=datetime.combine(last + timedelta(days=1), time(), tz) if last else None,
            )

        return _respond(request, chosen, run, format, str(sorted(request.query_params.items())), load)

    @app.get(
        "/api/kpis/latest",
        tags=["read"],
        dependencies=readers,
        response_model=KpiPage,
        responses=read_responses,
        summary="Each KPI's newest value: the current period's, and the snapshot values.",
    )
    @typed(connection=connection_type | None)
    def api_latest(
        request: Request,
        connection: str | None = Query(default=None, max_length=100),
        format: Literal["json", "csv"] = Query(default="json"),
    ) -> Response:
        chosen, run = _latest(connection)

        def load() -> list[dict[str, Any]]:
            newest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
            for row in kpi_rows(ctx.engine, run_id=run.id or 0):
                key = (row["kpi"], row["stage"], row["dimension"], row["dimension_value"])
                held = newest.get(key)
                if held is None or (
                    row["period_start"]
                    and held["period_start"]
                    and row["period_start"] > held["period_start"]
                ):
                    newest[key] = row
            return list(newest.values())

        return _respond(request, chosen, run, format, f"latest-{format}", load)

    @app.get(
        "/api/exports/{name}",
        tags=["read"],
        dependencies=readers,
        responses={200: {"content": {"application/octet-stream": {}}}, **read_responses},
        summary="One export file of a connection (kpis.csv, kpis.json, manifest.json, …).",
    )
    @typed(connection=connection_type | None)
    def api_export(
        request: Request,
        name: Annotated[str, PathParam(max_length=121)],
        connection: str | None = Query(default=None, max_length=100),
    ) -> Response:
        chosen = one_connection(connection)
        if not _EXPORT_NAME.match(name) or ".." in name or name.endswith(".tmp"):
            raise _problem(404, "no such export file")
        folder = chosen.exports_path.resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            raise _problem(404, "no such export file")
        return _file(request, path)

    # -- metrics and status page ---------------------------------------------------------

    @app.get(
        "/metrics",
        tags=["metrics"],
        dependencies=metrics_readers,
        response_class=PlainTextResponse,
        summary="Prometheus metrics: sync counters per stream, headline KPIs per connection.",
    )
    def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics_text(settings, ctx.engine), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, tags=["status"], summary="Status page.")
    def status_page() -> HTMLResponse:
        if not service.status_page:
            raise _problem(404, "the status page is off (service.status_page)")
        summaries: list[tuple[str, Headline | None, str, datetime | None]] = []
        for name in settings.connection_names():
            run = latest_kpi_run(ctx.engine, connection=name)
            if run is None or run.id is None:
                summaries.append((name, None, "", None))
                continue
            rows = kpi_rows(ctx.engine, run_id=run.id)
            summaries.append((name, headline(rows, settings.kpi.funnel_stages), run.currency, run.as_of))
        page = render_status(
            runs=latest_runs(ctx.engine),
            next_runs=ctx.scheduler.next_runs() if ctx.scheduler is not None else {},
            kpis=summaries,
            connections=settings.connection_names(),
            admin_enabled=service.admin_token is not None,
        )
        return HTMLResponse(page)

    return app


def _export_rows(rows: list[dict[str, Any]], tz: ZoneInfo) -> list[dict[str, Any]]:
    """Stored values as export rows (docs/exports.md): period times in the reporting zone."""
    out = []
    for r in rows:
        start = r["period_start"]
        end = r["period_end"]
        out.append(
            {
                **{k: r[k] for k in COLUMNS if k not in ("period_start", "period_end", "computed_at")},
                "period_start": start.astimezone(tz).isoformat() if start is not None else None,
                "period_end": end.astimezone(tz).isoformat() if start is not None else end.isoformat(),
                "computed_at": r["computed_at"].isoformat(),
            }
        )
    return out


def _file(request: Request, path: Path) -> Response:
    stat = path.stat()
    modified = datetime.fromtimestamp(stat.st_mtime, UTC)
    etag = f'"{hashlib.sha256(f"{stat.st_mtime_ns}-{stat.st_size}-{path.name}".encode()).hexdigest()[:24]}"'
    media = {".csv": "text/csv; charset=utf-8", ".json": "application/json"}.get(
        path.suffix, "application/octet-stream"
    )
    return _cached(request, etag, modified, lambda: Response(path.read_bytes(), media_type=media))


def _readiness(ctx: ServiceContext) -> list[Check]:
    checks: list[Check] = []
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        return [Check(name="database", ok=False, detail=f"unreachable ({type(exc).__name__})")]
    checks.append(Check(name="database", ok=True, detail="answers"))
    state = schema_status(ctx.engine)
    checks.append(
        Check(
            name="schema",
            ok=state.up_to_date,
            detail=f"revision {state.current}"
            if state.up_to_date
            else f"revision {state.current}, needed {state.head}",
        )
    )
    limit = timedelta(minutes=ctx.settings.service.ready_failed_minutes)
    now = datetime.now(UTC)
    succeeded = last_success(ctx.engine)
    failing = []
    for run in latest_runs(ctx.engine):
        if run.status != "failed" or run.source == "scheduler":
            continue
        since = succeeded.get((run.connection, run.source, run.stream)) or ctx.started_at
        if now - max(since, ctx.started_at) > limit:
            failing.append(f"{run.connection}/{run.source}/{run.stream} (run {run.id})")
    checks.append(
        Check(
            name="syncs",
            ok=not failing,
            detail=f"no stream failing for longer than {ctx.settings.service.ready_failed_minutes} min"
            if not failing
            else "failing: " + ", ".join(failing),
        )
    )
    return checks
