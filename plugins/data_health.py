"""Airflow plugin: the "Data health" page in the Airflow UI's navigation bar.

Airflow's API server mounts the page's FastAPI app at /data-health; the external view shows it inside the UI (an
iframe at /plugin/data-health). The page itself lives in plugins/cryptoflow/health/.
"""

from functools import cache

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/data-health"


@cache
def _data_health_app():
    from cryptoflow.health.app import create_app

    return create_app()


class DataHealthPlugin(AirflowPlugin):
    name = "cryptoflow_data_health"
    external_views = [{
        "name": "Data health",
        "href": "data-health/",            # relative to the UI's base URL (no leading slash: works behind a proxy)
        "icon": "data-health/icon.svg",
        "url_route": "data-health",
        "destination": "nav",
        "nav_top_level": True,
    }]

    @property
    def fastapi_apps(self) -> list[dict]:
        # built when first asked for (by the API server): every task process loads the plugins too, and should not
        # pay for importing the page
        return [{"app": _data_health_app(), "url_prefix": URL_PREFIX, "name": "cryptoflow data health"}]
