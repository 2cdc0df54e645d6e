"""HubSpot's OAuth token endpoint: a public app's refresh token exchanged for an access token."""

from __future__ import annotations

import urllib.parse
import uuid
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.hubspot.gate import Gate
from sandbox.hubspot.http import JSONResponse, error

# The token endpoint's versions: v1 (deprecated 2027-02-16), v3 and the date versions.
VERSIONS = ("v1", "v3", "2026-03", "2026-09")
# RFC 6749 error codes of the sandbox's refusals (v3 and dated answers carry them).
_RFC_ERRORS = {
    "BAD_GRANT_TYPE": "unsupported_grant_type",
    "BAD_CLIENT_ID": "invalid_client",
    "BAD_CLIENT_SECRET": "invalid_client",
    "BAD_REFRESH_TOKEN": "invalid_grant",
}


def _refused(status: str, message: str, version: str) -> Response:
    body = {"status": status, "message": message, "correlationId": str(uuid.uuid4())}
    if version != "v1":
        body.update(error=_RFC_ERRORS[status], error_description=message)
    return JSONResponse(body, status_code=400)


class OAuthRoutes:
    """`POST /oauth/{v1,v3,<date>}/token` (form body), counted and faulted like the API."""

    def __init__(self, gate: Gate) -> None:
        self.gate = gate

    def routes(self) -> list[Route]:
        return [Route("/oauth/{version}/token", self.token, methods=["POST"])]

    async def token(self, request: Request) -> Response:
        state = self.gate.state
        state.counts["oauth:token"] += 1
        _, replaced = await self.gate.injected_fault(request)
        if replaced is not None:
            return replaced
        version = request.path_params["version"]
        if version not in VERSIONS:
            return error(404, f"Resource not found: POST {request.url.path}", "OBJECT_NOT_FOUND")
        body = (await request.body()).decode("utf-8", "replace")
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(body).items()}
        options = state.options
        if form.get("grant_type") != "refresh_token":
            return _refused("BAD_GRANT_TYPE", "grant_type must be refresh_token in the sandbox", version)
        if form.get("client_id") != options.oauth_client_id:
            return _refused("BAD_CLIENT_ID", "missing or unknown client id", version)
        if form.get("client_secret") != options.oauth_client_secret:
            return _refused("BAD_CLIENT_SECRET", "missing or invalid client secret", version)
        refresh = form.get("refresh_token")
        if refresh not in options.oauth_refresh_tokens:
            return _refused("BAD_REFRESH_TOKEN", "missing or unknown refresh token", version)
        access = f"sandbox-oauth-{uuid.uuid4().hex}"
        with state.lock:
            state.oauth_tokens[access] = state.store.clock.now() + timedelta(
                seconds=options.oauth_token_lifetime
            )
        state.counts["oauth:issued"] += 1
        return JSONResponse(
            {
                "token_type": "bearer",
                "token_use": "access_token",
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": options.oauth_token_lifetime,
                "hub_id": 1234567,
                "scopes": list(options.oauth_scopes),
            }
        )
