"""The service's HTTP API (FastAPI), built per process by `create_app`: health, admin resync and
runs, the read API (KPIs, export files), Prometheus metrics and the status page, one router each."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from service.api.admin import AdminRoutes
from service.api.deps import Access, ApiTypes, ServiceContext, admin_refusal
from service.api.guard import Guard
from service.api.health import HealthRoutes
from service.api.pages import PageRoutes
from service.api.read import ReadRoutes


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """One readable sentence per problem, as every other error of this API gives."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    problems = [
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', 'invalid')}" for err in errors
    ]
    # A body that is not JSON at all is a bad request (400); JSON of the wrong shape is 422.
    status = 400 if any(err.get("type") == "json_invalid" for err in errors) else 422
    return JSONResponse({"detail": "; ".join(problems) or "invalid request"}, status_code=status)


def guarded_app(ctx: ServiceContext) -> Guard:
    """The app as `funnelsync serve` serves it: behind the guard (body limit, admin auth before
    the body, /healthz on its own lane, bounded reads)."""
    service = ctx.settings.service
    return Guard(
        create_app(ctx),
        max_body_bytes=service.max_body_bytes,
        max_concurrent_reads=service.max_concurrent_reads,
        read_queue=service.read_queue,
        read_wait_seconds=service.read_wait_seconds,
        admin_check=admin_refusal(ctx.settings),
    )


def create_app(ctx: ServiceContext) -> FastAPI:
    """The FastAPI application of one service process."""
    app = FastAPI(
        title="funnelsync",
        version="1",
        summary="Admin resync, runs, KPIs, exports and metrics of a funnelsync service.",
        # Swagger UI loads its scripts from a CDN: off unless `service.api_docs` asks for it.
        docs_url="/docs" if ctx.settings.service.api_docs else None,
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
