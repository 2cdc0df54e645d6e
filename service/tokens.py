"""Where a refreshed OAuth token survives between runs: a JSON file only its owner can read."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import SecretStr

from connector.auth import OAuthToken


def _fingerprint(value: SecretStr) -> str:
    return hashlib.sha256(value.get_secret_value().encode()).hexdigest()[:16]


class FileTokenStore:
    """One file per connection under the data directory, mode 0600, replaced atomically.

    The file remembers which configured refresh token it grew from (a hash, not the token): when
    the configuration gets a new one (the app was authorised again), the stored token is ignored.
    """

    def __init__(self, path: Path, configured_refresh_token: SecretStr) -> None:
        self.path = path
        self._origin = _fingerprint(configured_refresh_token)

    def load(self) -> OAuthToken | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("origin") != self._origin:
                return None
            return OAuthToken(
                access_token=SecretStr(str(data["access_token"])),
                refresh_token=SecretStr(str(data["refresh_token"])),
                expires_at=datetime.fromisoformat(str(data["expires_at"])),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None  # missing or unreadable: refresh from the configured token

    def save(self, token: OAuthToken) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "origin": self._origin,
            "access_token": token.access_token.get_secret_value(),
            "refresh_token": token.refresh_token.get_secret_value(),
            "expires_at": token.expires_at.isoformat(),
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(payload, handle)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
