"""Local environment for `make run`, `make demo` and `make migrate`: .env, the PostgreSQL cluster, Airflow's env.

    python scripts/devenv.py setup [--demo-url URL]   # .env -> cluster up, databases, migrations, .local/airflow.env
    python scripts/devenv.py stop-postgres
    python scripts/devenv.py check-port PORT WHAT
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from cryptoflow.connections import EnvFileError, build_connections, parse_env_file  # noqa: E402
from cryptoflow.local_postgres import LocalPostgres, LocalPostgresError, port_is_free  # noqa: E402

# Overridable so a second stack (the browser test's) can run beside a developer's `make run`.
LOCAL = Path(os.environ.get("CRYPTOFLOW_LOCAL") or ROOT / ".local").resolve()
ENV_FILE = Path(os.environ.get("CRYPTOFLOW_ENV_FILE") or ROOT / ".env")
AIRFLOW_ENV = LOCAL / "airflow.env"


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def load_settings() -> dict[str, str]:
    if not ENV_FILE.exists():
        shutil.copy(ROOT / ".env.example", ENV_FILE)
        print("created .env from .env.example (edit it to add API keys)")
    try:
        return parse_env_file(ENV_FILE)
    except EnvFileError as exc:
        fail(f"{exc}. Fix that line of .env (or delete .env to start again from .env.example).")
    raise AssertionError


def passthrough_settings(settings: dict[str, str]) -> dict[str, str]:
    """Airflow and cryptoflow settings written in .env (``AIRFLOW__SECTION__KEY``, e.g. deadlines and watchdog
    thresholds in ``AIRFLOW__CRYPTOFLOW__*``, and ``CRYPTOFLOW_*``), exported as they are."""
    return {k: v for k, v in settings.items() if k.startswith(("AIRFLOW__", "CRYPTOFLOW_"))}


def cluster(settings: dict[str, str]) -> LocalPostgres:
    try:
        port = int(settings.get("WAREHOUSE_PG_PORT") or 5433)
    except ValueError:
        fail(f"WAREHOUSE_PG_PORT in .env must be a port number, not {settings['WAREHOUSE_PG_PORT']!r}")
    return LocalPostgres(datadir=LOCAL / "pg", port=port)


def setup(demo_url: str | None, demo_ws_url: str | None = None) -> None:
    settings = load_settings()
    if demo_url:
        for key in ("DEFILLAMA_BASE_URL", "ARTEMIS_BASE_URL", "HELIUS_BASE_URL", "BIRDEYE_BASE_URL"):
            settings[key] = demo_url
        for key in ("ARTEMIS_API_KEY", "HELIUS_API_KEY", "BIRDEYE_API_KEY"):
            settings[key] = settings.get(key) or "demo-key"
        settings["PUMPPORTAL_URL"] = demo_ws_url or settings.get("PUMPPORTAL_URL", "")
        settings["PUMPPORTAL_API_KEY"] = settings.get("PUMPPORTAL_API_KEY") or "demo-key"
    pg = cluster(settings)
    try:
        pg.init()
        if not pg.running:
            pg.start()
        pg.wait_ready()
        for db in ("airflow", "warehouse"):
            pg.create_database(db)
    except LocalPostgresError as exc:
        fail(str(exc))

    import psycopg

    from cryptoflow.migrate import MigrationError, apply_migrations

    try:
        with psycopg.connect(pg.dsn("warehouse")) as conn:
            applied = apply_migrations(conn)
    except MigrationError as exc:
        fail(str(exc))
    print(f"warehouse: {len(applied)} migration(s) applied" if applied else "warehouse: up to date")

    airflow_port = settings.get("AIRFLOW_PORT") or "8080"
    env = {
        "CRYPTOFLOW_HOME": str(ROOT),
        "AIRFLOW_HOME": str(LOCAL / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": pg.dsn("airflow").replace("postgresql://", "postgresql+psycopg://"),
        "AIRFLOW__API__PORT": airflow_port,
        "AIRFLOW__API__BASE_URL": f"http://localhost:{airflow_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{airflow_port}/execution/",
        "AIRFLOW_PORT": airflow_port,
        "WAREHOUSE_DSN": pg.dsn("warehouse"),
        "PYTHONPATH": str(ROOT / "plugins"),
    }
    for conn_id, value in build_connections(settings, pg.dsn("warehouse")).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
    # maintenance_weekly's `airflow db clean` (tasks do not get the metadata DB's address from Airflow)
    env["AIRFLOW_CONN_AIRFLOW_METADATA_DB"] = pg.dsn("airflow")
    env.update(passthrough_settings(settings))
    LOCAL.mkdir(exist_ok=True)
    (LOCAL / "airflow").mkdir(exist_ok=True)
    AIRFLOW_ENV.write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items()))
    os.chmod(AIRFLOW_ENV, 0o600)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup")
    p_setup.add_argument("--demo-url")
    p_setup.add_argument("--demo-ws-url")
    sub.add_parser("stop-postgres")
    p_port = sub.add_parser("check-port")
    p_port.add_argument("port", type=int)
    p_port.add_argument("what")
    args = parser.parse_args()
    if args.command == "setup":
        setup(args.demo_url, args.demo_ws_url)
    elif args.command == "stop-postgres":
        pg = cluster(parse_env_file(ENV_FILE) if ENV_FILE.exists() else {})
        pg.stop()
    elif args.command == "check-port":
        if not port_is_free(args.port):
            fail(f"port {args.port} ({args.what}) is already in use: stop what listens there "
                 f"(e.g. a previous 'make run': 'make stop'), or choose another port in .env")


if __name__ == "__main__":
    main()
