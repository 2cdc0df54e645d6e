"""The service's HTTP API: `create_app(ServiceContext)` (service/api/app.py), served behind the
guard (`guarded_app`, service/api/guard.py)."""

from __future__ import annotations

from service.api.app import create_app, guarded_app
from service.api.deps import ServiceContext

__all__ = ["ServiceContext", "create_app", "guarded_app"]
