"""Bad local set-up gets a clear message: a malformed .env, a busy port, no PostgreSQL binaries."""

import json
import socket

import pytest

from cryptoflow import local_postgres
from cryptoflow.connections import EnvFileError, build_connections, parse_env_file
from cryptoflow.local_postgres import LocalPostgres, LocalPostgresError


def test_malformed_env_line_names_file_and_line(tmp_path):
    env = tmp_path / ".env"
    env.write_text("# comment\nHELIUS_API_KEY=abc\n\nexport BIRDEYE_API_KEY='x y'\nTHIS IS NOT VALID\n")
    with pytest.raises(EnvFileError, match=r"\.env:5: expected KEY=VALUE"):
        parse_env_file(env)
    env.write_text("HELIUS_API_KEY=abc\nexport BIRDEYE_API_KEY='x y'\n")
    assert parse_env_file(env) == {"HELIUS_API_KEY": "abc", "BIRDEYE_API_KEY": "x y"}


def test_connections_from_env_settings():
    conns = build_connections({"BIRDEYE_API_KEY": "k1", "ALERTS_WEBHOOK_URL": "https://hooks.example.com/x/y"},
                              "postgresql://u@127.0.0.1:5433/warehouse")
    birdeye = json.loads(conns["birdeye"])
    assert birdeye["host"] == "https://public-api.birdeye.so" and birdeye["password"] == "k1"
    assert birdeye["extra"] == {"chain": "solana"}
    assert json.loads(conns["helius"])["password"] == ""                     # no key: the source skips
    assert json.loads(conns["alerts_webhook"])["extra"] == {"endpoint": "/x/y"}
    assert "alerts_slack" not in conns and "smtp_default" not in conns       # only the channels that are set


def test_busy_postgres_port_is_a_clear_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        cluster = LocalPostgres(datadir=tmp_path / "pg", port=busy.getsockname()[1])
        cluster.init()
        with pytest.raises(LocalPostgresError, match="already in use: .* WAREHOUSE_PG_PORT"):
            cluster.start()


def test_missing_postgres_binaries_say_how_to_install(monkeypatch):
    monkeypatch.setattr(local_postgres.shutil, "which", lambda name: None)
    monkeypatch.setattr(local_postgres.glob, "glob", lambda pattern: [])
    with pytest.raises(LocalPostgresError, match="apt-get install postgresql.*docker compose"):
        local_postgres.find_pg_bindir()


def test_airflow_and_cryptoflow_settings_in_env_file_are_exported(tmp_path):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("devenv", Path(__file__).parents[1] / "scripts" / "devenv.py")
    devenv = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(devenv)
    env = tmp_path / ".env"
    env.write_text("HELIUS_API_KEY=abc\nAIRFLOW__CRYPTOFLOW__DEADLINE_BIRDEYE_5MIN=25m\n"
                   "CRYPTOFLOW_RETENTION_PULLS_DAYS=90\nAIRFLOW_PORT=8081\n")
    assert devenv.passthrough_settings(parse_env_file(env)) == {
        "AIRFLOW__CRYPTOFLOW__DEADLINE_BIRDEYE_5MIN": "25m", "CRYPTOFLOW_RETENTION_PULLS_DAYS": "90"}
