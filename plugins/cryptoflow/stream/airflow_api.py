"""Asset events for the ``trades`` Asset through Airflow's REST API, so the ``candles`` DAG runs after a flush.

``POST /auth/token`` (simple auth manager: user + password) gives a bearer token; the asset's id is looked up once by
name (``GET /api/v2/assets``); ``POST /api/v2/assets/events`` records the event. Every failure (Airflow down, wrong
password, asset not registered yet because the DAG was never parsed) is logged and counted, never raised: the stream
keeps writing trades, and the ``candles`` DAG's 5-minute schedule catches up anyway.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import requests

from cryptoflow.secrets import redact_text
from cryptoflow.stream.config import ApiSettings

log = logging.getLogger(__name__)


class AssetEventError(RuntimeError):
    pass


class AirflowAssetClient:
    def __init__(self, settings: ApiSettings, session: requests.Session | None = None):
        self.settings = settings
        self._session = session or requests.Session()
        self._token: str | None = None
        self._asset_id: int | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.settings.url)

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        try:
            return self._session.request(method, f"{self.settings.url}{path}", timeout=self.settings.timeout_s,
                                         **kwargs)
        except requests.RequestException as exc:
            raise AssetEventError(f"Airflow API at {self.settings.url} unreachable: {type(exc).__name__}") from None

    def _login(self) -> str:
        password = self.settings.resolve_password()
        body = {"username": self.settings.user, "password": password or ""}
        response = self._request("POST", "/auth/token", json=body)
        if response.status_code not in (200, 201):
            hint = "" if password else " (no password: set AIRFLOW_API_PASSWORD or AIRFLOW_API_PASSWORD_FILE)"
            raise AssetEventError(f"Airflow login as {self.settings.user!r} refused: HTTP {response.status_code}{hint}")
        try:
            return response.json()["access_token"]
        except (ValueError, KeyError, TypeError):
            raise AssetEventError("Airflow login answered without an access_token") from None

    def _authorized(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        for attempt in range(2):
            if self._token is None:
                self._token = self._login()
            response = self._request(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
            if response.status_code == 401 and attempt == 0:
                self._token = None   # expired: log in again once
                continue
            return response
        raise AssertionError("unreachable")

    def _lookup_asset(self) -> int:
        name = self.settings.asset_name
        response = self._authorized("GET", "/api/v2/assets", params={"name_pattern": name, "limit": 100})
        if response.status_code != 200:
            raise AssetEventError(f"listing assets failed: HTTP {response.status_code}")
        for asset in response.json().get("assets", []):
            if asset.get("name") == name:
                return int(asset["id"])
        raise AssetEventError(f"Airflow has no asset named {name!r} yet (is the candles DAG parsed and unpaused?)")

    def send(self, extra: dict[str, Any]) -> dict:
        """Record one event; raises ``AssetEventError`` (without secrets) when it could not."""
        if not self.enabled:
            raise AssetEventError("asset events are off (AIRFLOW_API_URL=off)")
        started = time.monotonic()
        if self._asset_id is None:
            self._asset_id = self._lookup_asset()
        response = self._authorized("POST", "/api/v2/assets/events", json={"asset_id": self._asset_id, "extra": extra})
        if response.status_code == 404:
            self._asset_id = None   # the asset was removed and re-created: look it up again next time
        if response.status_code not in (200, 201):
            raise AssetEventError(f"creating the asset event failed: HTTP {response.status_code} "
                                  f"{redact_text(response.text[:200])}")
        log.debug("asset event for %r recorded in %.0f ms", self.settings.asset_name,
                  (time.monotonic() - started) * 1000)
        return response.json()
