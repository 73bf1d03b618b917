"""The FastAPI app behind the Data health page, mounted by Airflow's API server (see plugins/data_health.py).

Airflow does not authenticate plugin apps: every route here checks the caller's Airflow login itself (the UI's
``_token`` cookie, or a ``Bearer`` token) and the auth manager's permission to use the UI, like Airflow's own views.
"""

from __future__ import annotations

import logging

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from cryptoflow.health import db
from cryptoflow.health.page import render_page, render_unavailable
from cryptoflow.health.queries import PageRequest, load_page_data

log = logging.getLogger(__name__)

ICON_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#017cee" stroke-width="2" '
    'stroke-linecap="round" stroke-linejoin="round"><path d="M3 12h4l3-8 4 16 3-8h4"/></svg>')


async def require_ui_user(request: Request) -> None:
    """The caller must be logged in to Airflow and allowed to use its UI (401 / 403 otherwise)."""
    # imported here: the plugin module is imported by every Airflow process, this only matters in the API server
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPBearer

    credentials = await HTTPBearer(auto_error=False)(request)
    user = await get_user(request, None, credentials)
    if not get_auth_manager().is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status_code=403, detail="Forbidden")


def create_app(conn_id: str = db.WAREHOUSE_CONN_ID) -> FastAPI:
    app = FastAPI(title="cryptoflow data health", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(HTTPException)
    async def _login_page(request: Request, exc: HTTPException) -> Response:
        if exc.status_code in (401, 403):
            message = ("Log in to Airflow first, then open Data health from the Airflow menu."
                       if exc.status_code == 401 else "Your Airflow user may not view the Airflow UI.")
            title = "Not logged in" if exc.status_code == 401 else "Forbidden"
            return HTMLResponse(render_unavailable(message, title), status_code=exc.status_code)
        return HTMLResponse(render_unavailable(str(exc.detail), f"HTTP {exc.status_code}"), status_code=exc.status_code)

    @app.get("/icon.svg", include_in_schema=False)
    def icon() -> Response:
        return Response(ICON_SVG, media_type="image/svg+xml", headers={"Cache-Control": "max-age=86400"})

    @app.get("/", response_class=HTMLResponse, dependencies=[Depends(require_ui_user)])
    def data_health(window: str | None = None, token: str | None = None, source: str | None = None,
                    interval: str | None = None) -> HTMLResponse:
        page_request = PageRequest.parse(window, token, source, interval)
        conninfo = ""
        try:
            conninfo = db.warehouse_conninfo(conn_id)
            with db.connect(conninfo) as conn:
                data = load_page_data(conn, conninfo, page_request)
        except db.WarehouseUnavailable as exc:
            message = str(exc)
        except psycopg.Error as exc:
            message = db.describe_query_error(exc, conninfo)
        else:
            return HTMLResponse(render_page(data), headers={"Cache-Control": "no-store"})
        log.warning("data health: %s", message)
        return HTMLResponse(render_unavailable(message), status_code=503, headers={"Cache-Control": "no-store"})

    return app
