"""Prometheus metrics and the status page."""

from __future__ import annotations

from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from service.api.deps import NO_CONTROL, ServiceContext, problem
from service.dashboard import PAGE_DIMENSIONS, PAGE_KPIS, build_dashboard
from service.exports import export_rows
from service.metrics import metrics_text
from service.status import Section, render_status
from storage.kpis import kpi_rows, latest_kpi_run
from storage.runs import latest_runs

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


class PageRoutes:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def metrics_router(self, dependencies: list[Any]) -> APIRouter:
        router = APIRouter(tags=["metrics"], dependencies=dependencies)
        router.add_api_route(
            "/metrics",
            self.metrics,
            methods=["GET"],
            response_class=PlainTextResponse,
            summary="Prometheus metrics: sync counters per stream, headline KPIs per connection.",
        )
        return router

    def status_router(self) -> APIRouter:
        router = APIRouter(tags=["status"])
        router.add_api_route(
            "/",
            self.status_page,
            methods=["GET"],
            response_class=HTMLResponse,
            # Errors answer in JSON (problem details), the page in HTML.
            responses={
                status: {"content": {"application/json": {"schema": PROBLEM_REF}}} for status in (404, 422)
            },
            summary="Status page: headline KPIs of one period, funnel, sources, emails, sync runs.",
        )
        return router

    def metrics(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics_text(self.ctx.settings, self.ctx.engine), media_type=CONTENT_TYPE_LATEST)

    def status_page(
        self,
        grain: Literal["week", "month", "quarter", "year"] | None = Query(
            default=None, description="Period type shown; the KPI grid or a coarser one it nests in."
        ),
        period: str | None = Query(
            default=None,
            max_length=10,
            pattern=NO_CONTROL,
            description="Which period (2026-11, 2026-Q4, 2026-W48, 2026); default the latest complete.",
        ),
    ) -> HTMLResponse:
        ctx, settings = self.ctx, self.ctx.settings
        if not settings.service.status_page:
            raise problem(404, "the status page is off (service.status_page)")
        sections = []
        for name in settings.connection_names():
            run = latest_kpi_run(ctx.engine, connection=name)
            if run is None or run.id is None:
                sections.append(Section(name, None, None))
                continue
            tz = ZoneInfo(run.timezone)
            rows = export_rows(
                kpi_rows(ctx.engine, run_id=run.id, kpis=PAGE_KPIS, dimensions=PAGE_DIMENSIONS),
                tz,
                period_kind=run.period,
                as_of=run.as_of,
            )
            board = build_dashboard(
                rows,
                connection=name,
                currency=run.currency,
                tz=tz,
                grid=run.period,
                stages=ctx.connection(name).kpi.funnel_stages,
                grain=grain,
                period=period or None,
            )
            sections.append(Section(name, board, run.as_of))
        page = render_status(
            sections=sections,
            runs=latest_runs(ctx.engine),
            next_runs=ctx.scheduler.next_runs() if ctx.scheduler is not None else {},
            connections=settings.connection_names(),
            admin_enabled=settings.service.admin_token is not None,
            refresh_seconds=settings.service.status_refresh_seconds,
            now=ctx.jobs.clock.now(),
        )
        return HTMLResponse(page)
