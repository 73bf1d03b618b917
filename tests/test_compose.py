"""The scale-out deployment: docker-compose.yaml, the Dockerfile and the warehouse init script.

No Docker engine runs here, so the compose file is checked statically (with compose's own variable
interpolation reimplemented below), the postgres init script is run against the session's throwaway cluster,
and `docker compose config -q` runs only where the compose plugin exists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
INIT_DIR = ROOT / "include" / "docker" / "postgres-init"
INIT_SCRIPT = INIT_DIR / "01-warehouse.sh"

AIRFLOW_VERSION = "3.3.2"
COMMON_IMAGE = "${AIRFLOW_IMAGE_NAME:-cryptoflow-airflow:latest}"
REQUIRED_SERVICES = {
    "postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
    "airflow-worker", "airflow-triggerer", "trade-stream",
}
LONG_RUNNING = {
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker", "airflow-triggerer",
    "trade-stream",
}
MOUNTS = {"dags", "plugins", "include", "logs", "config"}
# A value for every variable the file requires (`${VAR:?...}`), so it can be rendered.
REQUIRED_VARS = {"AIRFLOW__API_AUTH__JWT_SECRET": "test-jwt-secret"}
# Every variable compose may read from the shell or .env; each must be documented in the file's header.
DOCUMENTED_VARS = {
    "AIRFLOW_IMAGE_NAME", "AIRFLOW_UID", "AIRFLOW_PROJ_DIR", "ENV_FILE_PATH", "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__FERNET_KEY", "WAREHOUSE_DB_PASSWORD", "DEFILLAMA_API_KEY", "ARTEMIS_API_KEY", "HELIUS_API_KEY",
    "BIRDEYE_API_KEY", "PUMPPORTAL_API_KEY",
}
# Secrets whose default may be non-empty: the warehouse role of the bundled, unpublished postgres service only.
DEV_CREDENTIAL_DEFAULTS = {"WAREHOUSE_DB_PASSWORD": "warehouse"}
SECRET_NAME = re.compile(r"KEY|SECRET|TOKEN|PASSWORD")

# DESIGN.md's connection table for the sources and the warehouse: conn_type, host, API key variable, extras.
SOURCE_CONNECTIONS = {
    "defillama": ("http", "https://api.llama.fi", "DEFILLAMA_API_KEY", {
        "stablecoins_url": "https://stablecoins.llama.fi", "yields_url": "https://yields.llama.fi",
        "coins_url": "https://coins.llama.fi", "pro_url": "https://pro-api.llama.fi"}),
    "artemis": ("http", "https://data-svc.artemisxyz.com", "ARTEMIS_API_KEY", {}),
    "helius": ("http", "https://api-mainnet.helius-rpc.com", "HELIUS_API_KEY",
               {"rpc_url": "https://mainnet.helius-rpc.com"}),
    "birdeye": ("http", "https://public-api.birdeye.so", "BIRDEYE_API_KEY", {"chain": "solana"}),
    "pumpportal": ("generic", "wss://pumpportal.fun/api/data", "PUMPPORTAL_API_KEY", {}),
}


# -- compose variable interpolation (https://docs.docker.com/reference/compose-file/interpolation/) ---------------
_TOKEN = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingRequiredVariable(ValueError):
    pass


def referenced_variables(value: str) -> list[tuple[str, str | None, str | None]]:
    """(name, operator, argument) of every variable compose would interpolate in ``value``."""
    return [(m["braced"] or m["bare"], m["op"], m["arg"]) for m in _TOKEN.finditer(value) if not m["escaped"]]


def interpolate(value, env: dict[str, str]):
    """Render ``value`` (any YAML node) the way compose does, with ``env`` as the only variables set."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def render(m: re.Match) -> str:
        if m["escaped"]:
            return "$"
        name, op, arg = m["braced"] or m["bare"], m["op"], m["arg"]
        current = env.get(name)
        unset_or_empty = not current
        if op == ":-":
            return arg if unset_or_empty else current
        if op == "-":
            return arg if current is None else current
        if op in (":?", "?"):
            if (op == ":?" and unset_or_empty) or (op == "?" and current is None):
                raise MissingRequiredVariable(f"{name}: {arg}")
            return current
        if op in (":+", "+"):
            return arg if (current if op == ":+" else current is not None) else ""
        return current or ""

    return _TOKEN.sub(render, value)


def walk_strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from walk_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_strings(v)
    elif isinstance(node, str):
        yield node


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def raw() -> dict:
    """The compose file as written (merge keys resolved by YAML, variables not interpolated)."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw) -> dict:
    """The compose file as docker compose renders it with only the required variables set."""
    return interpolate(raw, dict(REQUIRED_VARS))


@pytest.fixture(scope="module")
def airflow_services(raw) -> dict[str, dict]:
    return {name: svc for name, svc in raw["services"].items() if svc.get("image") == COMMON_IMAGE}


def env_of(service: dict) -> dict:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "use the mapping form of `environment`"
    return env


# -- services ------------------------------------------------------------------------------------------------------
def test_required_services_exist(raw):
    missing = REQUIRED_SERVICES - set(raw["services"])
    assert not missing, f"services missing from docker-compose.yaml: {sorted(missing)}"


def test_airflow_services_share_the_common_image_build_and_mounts(raw, airflow_services):
    common = raw["x-airflow-common"]
    assert common["image"] == COMMON_IMAGE
    assert common["build"] in (".", {"context": "."})
    expected = REQUIRED_SERVICES - {"postgres", "redis"}
    assert expected <= set(airflow_services), f"not on the common image: {sorted(expected - set(airflow_services))}"
    for name, svc in airflow_services.items():
        assert svc.get("build") == common["build"], f"{name}: not built from the Dockerfile"
        assert svc.get("user") in ("${AIRFLOW_UID:-50000}:0", "0:0"), f"{name}: unexpected user {svc.get('user')}"
        targets = {v.split(":")[1]: v.split(":")[0] for v in interpolate(svc["volumes"], {})}
        for folder in MOUNTS:
            assert targets.get(f"/opt/airflow/{folder}") == f"./{folder}", (
                f"{name}: ./{folder} is not mounted on /opt/airflow/{folder}")
        env = env_of(svc)
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["CRYPTOFLOW_HOME"] == "/opt/airflow", name
        env_files = svc.get("env_file")
        assert env_files == [{"path": "${ENV_FILE_PATH:-.env}", "required": False}], f"{name}: env_file {env_files}"
    for folder in ("dags", "plugins", "include"):
        assert (ROOT / folder).is_dir(), f"./{folder} is mounted but does not exist"


def test_common_environment(raw, compose):
    env = env_of(compose["x-airflow-common"])
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith(".SimpleAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "true"
    assert env["AIRFLOW__SCHEDULER__CREATE_CRON_DATA_INTERVALS"] == "true"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == REQUIRED_VARS["AIRFLOW__API_AUTH__JWT_SECRET"]
    services = raw["services"]
    # every URL points at a service of this file, on the port that service listens on
    meta = urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    assert (meta.scheme, meta.hostname, meta.path) == ("postgresql+psycopg2", "postgres", "/airflow")
    assert urlsplit(env["AIRFLOW__CELERY__RESULT_BACKEND"]).hostname == "postgres"
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)
    execution_api = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert execution_api.hostname in services and execution_api.hostname == "airflow-apiserver"
    assert (execution_api.port, execution_api.path) == (8080, "/execution/")


def test_environment_values_are_strings(raw):
    """Compose rejects booleans in `environment` ("contains true, which is an invalid type")."""
    for name, svc in {"x-airflow-common": raw["x-airflow-common"], **raw["services"]}.items():
        for key, value in env_of(svc).items():
            assert isinstance(value, str), f"{name}: {key} must be a quoted string, not {value!r}"


def test_service_specifics(raw):
    services = raw["services"]
    assert "8080:8080" in services["airflow-apiserver"]["ports"]
    assert "/api/v2/monitor/health" in " ".join(services["airflow-apiserver"]["healthcheck"]["test"])
    assert services["airflow-apiserver"]["command"] == "api-server"
    assert "http://localhost:8974/health" in services["airflow-scheduler"]["healthcheck"]["test"]
    assert services["airflow-dag-processor"]["command"] == "dag-processor"
    assert "DagProcessorJob" in " ".join(services["airflow-dag-processor"]["healthcheck"]["test"])
    assert services["airflow-worker"]["command"] == "celery worker"
    assert env_of(services["airflow-worker"])["DUMB_INIT_SETSID"] == "0"
    assert services["airflow-triggerer"]["command"] == "triggerer"
    assert services["trade-stream"]["command"] == "python -m cryptoflow.stream"
    assert services["trade-stream"]["restart"] == "unless-stopped"
    assert services["flower"]["profiles"] == ["flower"]
    assert services["postgres"]["image"] == "postgres:16"
    assert services["postgres"]["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
    assert services["redis"]["image"] == "redis:7.2-bookworm"
    for name in LONG_RUNNING:
        deps = services[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
        assert services[name].get("restart") in ("always", "unless-stopped"), name


def test_airflow_init_migrates_metadata_then_warehouse(compose):
    init = compose["services"]["airflow-init"]
    assert init["entrypoint"] == "/bin/bash"
    assert init["command"][0] == "-c"
    script = init["command"][1]
    db_migrate = script.index("airflow db migrate")
    assert db_migrate < script.index("python -m cryptoflow.migrate")
    assert (ROOT / "plugins" / "cryptoflow" / "migrate.py").is_file()
    result = subprocess.run(["bash", "-n", "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, f"airflow-init script does not parse: {result.stderr}"


# -- variables and secrets -----------------------------------------------------------------------------------------
def test_every_variable_is_documented(raw):
    text = COMPOSE_FILE.read_text()
    header = text.split("\n---", 1)[0]
    names = {name for s in walk_strings(raw) for name, _, _ in referenced_variables(s)}
    assert names == DOCUMENTED_VARS, (
        f"undocumented: {sorted(names - DOCUMENTED_VARS)}, unused: {sorted(DOCUMENTED_VARS - names)} "
        "(a shell variable in a command must be written $$VAR)")
    undocumented = [n for n in names if n not in header]
    assert not undocumented, f"not described in the header comment: {undocumented}"


def test_renders_without_any_optional_variable(raw):
    interpolate(raw, dict(REQUIRED_VARS))
    with pytest.raises(MissingRequiredVariable, match="AIRFLOW__API_AUTH__JWT_SECRET"):
        interpolate(raw, {})


def test_no_secret_has_a_default(raw):
    offenders = []
    for s in walk_strings(raw):
        for name, op, arg in referenced_variables(s):
            if not SECRET_NAME.search(name):
                continue
            if op in (":?", "?"):
                continue
            if op in (":-", "-") and arg and DEV_CREDENTIAL_DEFAULTS.get(name) != arg:
                offenders.append(f"${{{name}{op}{arg}}}")
    assert not offenders, f"secrets with a hard-coded default: {offenders}"
    env = env_of(raw["x-airflow-common"])
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW__API_AUTH__JWT_SECRET:?")


def test_no_secret_literal_in_the_deployment_files():
    key_like = re.compile(r"(?<![\w$-])(?=[\w-]*\d)(?=[\w-]*[A-Za-z])[\w-]{24,}(?![\w-])")
    known_secret_shapes = re.compile(r"hooks\.slack\.com/services/|xox[abpr]-|api[-_]?key=[^$\s&\"']", re.I)
    for path in (COMPOSE_FILE, DOCKERFILE, INIT_SCRIPT):
        text = path.read_text()
        assert not known_secret_shapes.search(text), f"{path.name} contains what looks like a secret"
        assert not key_like.findall(text), f"{path.name} contains key-like literals: {key_like.findall(text)}"


# -- connections ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("conn_id", sorted(SOURCE_CONNECTIONS))
def test_source_connection(raw, airflow_services, conn_id):
    from airflow.models.connection import Connection

    conn_type, host, key_var, extras = SOURCE_CONNECTIONS[conn_id]
    var = f"AIRFLOW_CONN_{conn_id.upper()}"
    template = env_of(raw["x-airflow-common"]).get(var)
    assert template, f"{var} is not set in x-airflow-common"
    for name, svc in airflow_services.items():
        assert env_of(svc).get(var) == template, f"{name}: {var} differs from x-airflow-common"

    # no key set: the documented defaults, and no secret
    rendered = json.loads(interpolate(template, {}))
    assert rendered["conn_type"] == conn_type
    assert rendered["host"] == host
    assert rendered.get("password", "") == ""
    assert rendered.get("extra", {}) == extras
    assert f'"password":"${{{key_var}:-}}"' in template.replace(" ", ""), f"{var}: password must be ${{{key_var}:-}}"

    # a key from .env lands in the password, and Airflow parses the result
    conn = Connection.from_json(interpolate(template, {key_var: "k3y-from-env"}), conn_id=conn_id)
    assert (conn.conn_type, conn.host, conn.password) == (conn_type, host, "k3y-from-env")
    assert conn.extra_dejson == extras


def test_warehouse_connection_matches_the_init_script(raw, compose):
    from airflow.models.connection import Connection

    template = env_of(raw["x-airflow-common"])["AIRFLOW_CONN_WAREHOUSE"]
    conn = Connection.from_json(interpolate(template, {}), conn_id="warehouse")
    assert (conn.conn_type, conn.host, conn.port, conn.login, conn.schema) == (
        "postgres", "postgres", 5432, "warehouse", "warehouse")
    assert conn.host in compose["services"]
    # the password the connection uses is the one the postgres service hands to the init script
    postgres_env = env_of(raw["services"]["postgres"])
    assert postgres_env["WAREHOUSE_DB_PASSWORD"] == "${WAREHOUSE_DB_PASSWORD:-warehouse}"
    assert conn.password == "warehouse"
    assert '"password":"${WAREHOUSE_DB_PASSWORD:-warehouse}"' in template
    assert 'WAREHOUSE_DB_PASSWORD="${WAREHOUSE_DB_PASSWORD:-warehouse}"' in INIT_SCRIPT.read_text()
    rotated = Connection.from_json(interpolate(template, {"WAREHOUSE_DB_PASSWORD": "rotated"}), conn_id="warehouse")
    assert rotated.password == "rotated"
    # a separate database from Airflow's metadata database
    assert urlsplit(env_of(raw["x-airflow-common"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).path != "/warehouse"


def test_alert_connections_are_left_to_the_env_file(raw):
    env = env_of(raw["x-airflow-common"])
    for conn_id in ("ALERTS_SLACK", "ALERTS_WEBHOOK", "SMTP_DEFAULT"):
        assert f"AIRFLOW_CONN_{conn_id}" not in env, "optional alert connections must not be defined with a value"
        assert f"AIRFLOW_CONN_{conn_id}" in COMPOSE_FILE.read_text(), f"document AIRFLOW_CONN_{conn_id}"


# -- postgres init -------------------------------------------------------------------------------------------------
def test_postgres_mounts_the_init_script(raw):
    volumes = raw["services"]["postgres"]["volumes"]
    assert "${AIRFLOW_PROJ_DIR:-.}/include/docker/postgres-init:/docker-entrypoint-initdb.d:ro" in volumes
    assert INIT_SCRIPT.is_file()
    assert os.access(INIT_SCRIPT, os.X_OK), "the postgres entrypoint sources non-executable scripts"
    assert INIT_SCRIPT.read_text().startswith("#!/usr/bin/env bash\n")


@pytest.mark.skipif(shutil.which("psql") is None, reason="psql client not installed")
def test_postgres_init_script_creates_the_warehouse(pg_cluster):
    from cryptoflow.migrate import apply_migrations

    suffix = uuid.uuid4().hex[:8]
    db, role = f"wh_init_{suffix}", f"wh_init_{suffix}"
    env = {
        **os.environ, "PGHOST": "127.0.0.1", "PGPORT": str(pg_cluster.port), "POSTGRES_USER": pg_cluster.user,
        "POSTGRES_DB": "postgres", "WAREHOUSE_DB_NAME": db, "WAREHOUSE_DB_USER": role,
        "WAREHOUSE_DB_PASSWORD": "pa'ss\"word $x",
    }
    try:
        for _ in range(2):  # idempotent: a second run against the same server is a no-op
            result = subprocess.run(["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, result.stderr
        with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as admin:
            owner = admin.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (db,)).fetchone()
            assert owner == (role,)
            login, has_password = admin.execute(
                "SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
            assert login and has_password
        # the role owns enough to run the warehouse migrations, as airflow-init does
        with psycopg.connect(f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/{db}") as conn:
            assert apply_migrations(conn)
            assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] > 0
    finally:
        with psycopg.connect(pg_cluster.dsn("postgres"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


# -- Dockerfile ----------------------------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln else "") for ln in lines]


def test_dockerfile_extends_the_official_image_and_installs_with_the_lock():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", f"apache/airflow:{AIRFLOW_VERSION}-python3.11")
    copies = [args for op, args in instructions if op == "COPY"]
    runs = [(i, args) for i, (op, args) in enumerate(instructions) if op == "RUN"]
    pip = [(i, args) for i, args in runs if "pip install" in args]
    assert len(pip) == 1, "one pip install step"
    index, command = pip[0]
    assert "--no-cache-dir" in command
    assert re.search(r"(-r|--requirement)\s+\S*requirements\.txt\b", command)
    assert re.search(r"(-c|--constraint)\s+\S*requirements\.lock\b", command), "the lock must be the constraint"
    first_copy_of = {}
    for i, (op, args) in enumerate(instructions):
        if op == "COPY":
            for src in args.split()[:-1]:
                first_copy_of.setdefault(src.rstrip("/"), i)
    assert first_copy_of["requirements.txt"] < index and first_copy_of["requirements.lock"] < index
    for folder in ("plugins", "include", "dags"):
        assert any(re.search(rf"(^|\s){folder}/?\s+/opt/airflow/{folder}/?$", c) for c in copies), folder
        assert first_copy_of[folder] > index, f"copy {folder}/ after installing, so code changes keep the pip layer"
    env = " ".join(args for op, args in instructions if op == "ENV")
    assert re.search(r"CRYPTOFLOW_HOME=/opt/airflow(\s|$)", env)
    assert re.search(r"PYTHONPATH=\S*/opt/airflow/plugins", env)
    assert not any(op == "USER" and args.strip() in ("root", "0") for op, args in instructions[-3:])


def test_dockerfile_build_context_files():
    """What the Dockerfile copies exists, and the lock can serve as a pip constraint file."""
    requirements, lock = ROOT / "requirements.txt", ROOT / "requirements.lock"
    assert requirements.is_file() and lock.is_file(), "requirements.txt and requirements.lock must be at the root"
    assert re.search(rf"^apache-airflow=={re.escape(AIRFLOW_VERSION)}\s*$", requirements.read_text(), re.M), (
        "requirements.txt must pin the Airflow version of the base image")
    lock_lines = [ln.strip() for ln in lock.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    assert f"apache-airflow=={AIRFLOW_VERSION}" in lock_lines
    # pip refuses editable, unnamed or URL requirements in a constraints file
    bad = [ln for ln in lock_lines if ln.startswith(("-e", "--editable", ".", "/")) or " @ " in ln]
    assert not bad, f"not usable as constraints: {bad}"


# -- docker compose itself -----------------------------------------------------------------------------------------
def test_docker_compose_config():
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker CLI not installed; the compose file was checked statically only")
    version = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=60)
    if version.returncode != 0:
        pytest.skip("the docker compose plugin is not installed (`docker compose version`: "
                    f"{(version.stderr or version.stdout).strip()}); the compose file was checked statically only")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "COMPOSE_"))}
    # --env-file: a developer's own .env must not decide the outcome
    base = [docker, "compose", "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", os.devnull]
    ok = subprocess.run([*base, "config", "-q"], env={**env, **REQUIRED_VARS}, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run([*base, "config", "-q"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode != 0 and "AIRFLOW__API_AUTH__JWT_SECRET" in missing.stderr
