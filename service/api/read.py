"""The read API: KPI values of the latest computation (filtered, or each KPI's newest), as JSON
or CSV, and the export files; every answer conditional (ETag, Last-Modified)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse

from config import Settings
from service.api.deps import NO_CONTROL, ApiTypes, ServiceContext, cached, file_response, problem, retyped
from service.api.models import KpiPage, Problem
from service.exports import csv_text, export_rows
from storage.kpis import kpi_rows, latest_kpi_run
from storage.models import KpiRun

READ_ERRORS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}},
    304: {"description": "Not modified"},
    401: {"model": Problem},
    403: {"model": Problem},
    404: {"model": Problem},
    422: {"model": Problem},
    503: {"model": Problem, "description": "Too many reads in progress (Retry-After)"},
}
_EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,120}$")


class ReadRoutes:
    def __init__(self, ctx: ServiceContext, types: ApiTypes) -> None:
        self.ctx = ctx
        self.types = types

    def router(self, dependencies: list[Any]) -> APIRouter:
        router = APIRouter(tags=["read"], dependencies=dependencies)
        connection = self.types.connection | None
        router.add_api_route(
            "/api/kpis",
            retyped(self.api_kpis, connection=connection),
            methods=["GET"],
            response_model=KpiPage,
            responses=READ_ERRORS,
            summary="KPI values of the latest computation, filtered (JSON, or CSV with format=csv).",
        )
        router.add_api_route(
            "/api/kpis/latest",
            retyped(self.api_latest, connection=connection),
            methods=["GET"],
            response_model=KpiPage,
            responses=READ_ERRORS,
            summary="Each KPI's newest value: the current period's, and the snapshot values.",
        )
        router.add_api_route(
            "/api/exports/{name}",
            retyped(self.api_export, connection=connection),
            methods=["GET"],
            responses={200: {"content": {"application/octet-stream": {}}}, **READ_ERRORS},
            summary="One export file of a connection (kpis.csv, kpis.json, manifest.json, …).",
        )
        return router

    def api_kpis(
        self,
        request: Request,
        kpi: str | None = Query(default=None, max_length=60, pattern=NO_CONTROL),
        period: Literal["week", "month", "quarter", "year"] | None = Query(
            default=None, description="Only if the latest computation used this period grid (else 404)."
        ),
        first: date | None = Query(
            default=None, alias="from", description="Periods starting on or after (YYYY-MM-DD)."
        ),
        last: date | None = Query(
            default=None, alias="to", description="Periods starting on or before (YYYY-MM-DD)."
        ),
        dimension: str | None = Query(default=None, max_length=20, pattern=NO_CONTROL),
        dimension_value: str | None = Query(default=None, max_length=200, pattern=NO_CONTROL),
        connection: str | None = Query(default=None, max_length=100),
        format: Literal["json", "csv"] = Query(default="json"),
    ) -> Response:
        chosen, run = self._latest(connection)
        if period is not None and period != run.period:
            raise problem(404, f"the latest computation is on a {run.period} grid, not {period} (kpi.period)")
        tz = ZoneInfo(run.timezone)

        def load() -> list[dict[str, Any]]:
            return kpi_rows(
                self.ctx.engine,
                run_id=run.id or 0,
                kpi=kpi,
                dimension=dimension,
                dimension_value=dimension_value,
                start_from=datetime.combine(first, time(), tz) if first and first > date.min else None,
                # The last day there is has no day after it: no upper bound then.
                start_before=datetime.combine(last + timedelta(days=1), time(), tz)
                if last and last < date.max
                else None,
            )

        return self._respond(request, chosen, run, format, str(sorted(request.query_params.items())), load)

    def api_latest(
        self,
        request: Request,
        connection: str | None = Query(default=None, max_length=100),
        format: Literal["json", "csv"] = Query(default="json"),
    ) -> Response:
        chosen, run = self._latest(connection)

        def load() -> list[dict[str, Any]]:
            newest: dict[tuple[str, str, str, str], dict[str, Any]] = {}
            for row in kpi_rows(self.ctx.engine, run_id=run.id or 0):
                key = (row["kpi"], row["stage"], row["dimension"], row["dimension_value"])
                held = newest.get(key)
                if held is None or (
                    row["period_start"]
                    and held["period_start"]
                    and row["period_start"] > held["period_start"]
                ):
                    newest[key] = row
            return list(newest.values())

        return self._respond(request, chosen, run, format, f"latest-{format}", load)

    def api_export(
        self,
        request: Request,
        name: Annotated[str, PathParam(max_length=121)],
        connection: str | None = Query(default=None, max_length=100),
    ) -> Response:
        chosen = self.ctx.connection(connection)
        if not _EXPORT_NAME.match(name) or ".." in name or name.endswith(".tmp"):
            raise problem(404, "no such export file")
        folder = chosen.exports_path.resolve()
        path = (folder / name).resolve()
        if path.parent != folder or not path.is_file():
            raise problem(404, "no such export file")
        return file_response(request, path)

    def _latest(self, connection: str | None) -> tuple[Settings, KpiRun]:
        chosen = self.ctx.connection(connection)
        run = latest_kpi_run(self.ctx.engine, connection=chosen.connection)
        if run is None or run.id is None:
            raise problem(404, f"no KPIs computed yet for connection {chosen.connection!r}")
        return chosen, run

    def _respond(
        self,
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
            values = export_rows(load(), ZoneInfo(run.timezone), period_kind=run.period, as_of=run.as_of)
            if fmt == "csv":
                return PlainTextResponse(csv_text(values), media_type="text/csv; charset=utf-8")
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

        return cached(request, etag, run.computed_at, build)
