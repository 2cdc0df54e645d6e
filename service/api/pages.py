"""Prometheus metrics and the status page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, PlainTextResponse

from kpi.headline import Headline, headline
from service.api.deps import ServiceContext, problem
from service.metrics import metrics_text
from service.status import render_status
from storage.kpis import kpi_rows, latest_kpi_run
from storage.runs import latest_runs


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
            "/", self.status_page, methods=["GET"], response_class=HTMLResponse, summary="Status page."
        )
        return router

    def metrics(self) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        return Response(metrics_text(self.ctx.settings, self.ctx.engine), media_type=CONTENT_TYPE_LATEST)

    def status_page(self) -> HTMLResponse:
        ctx, settings = self.ctx, self.ctx.settings
        if not settings.service.status_page:
            raise problem(404, "the status page is off (service.status_page)")
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
            admin_enabled=settings.service.admin_token is not None,
        )
        return HTMLResponse(page)
