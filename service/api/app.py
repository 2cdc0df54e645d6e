"""The service's HTTP API (FastAPI), built per process by `create_app`: health, admin resync and
runs, the read API (KPIs, export files), Prometheus metrics and the status page, one router each."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.api.admin import AdminRoutes
from service.api.deps import Access, ApiTypes, ServiceContext
from service.api.health import HealthRoutes
from service.api.pages import PageRoutes
from service.api.read import ReadRoutes


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """One readable sentence per problem, as every other error of this API gives."""
    assert isinstance(exc, RequestValidationError)
    problems = [
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}" for err in exc.errors()
    ]
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=422)


def create_app(ctx: ServiceContext) -> FastAPI:
    """The FastAPI application of one service process."""
    app = FastAPI(
        title="funnelsync",
        version="1",
        summary="Admin resync, runs, KPIs, exports and metrics of a funnelsync service.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_exception_handler(RequestValidationError, _invalid)
    access, types = Access.of(ctx.settings), ApiTypes.of(ctx.settings)
    pages = PageRoutes(ctx)
    app.include_router(HealthRoutes(ctx).router())
    app.include_router(AdminRoutes(ctx, types).router(access.admin))
    app.include_router(ReadRoutes(ctx, types).router(access.read))
    app.include_router(pages.metrics_router(access.metrics))
    app.include_router(pages.status_router())
    return app
