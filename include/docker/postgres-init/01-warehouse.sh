#!/usr/bin/env bash
# Creates cryptoflow's warehouse next to Airflow's metadata database in the compose `postgres` service:
# a login role `warehouse` (password from WAREHOUSE_DB_PASSWORD, default `warehouse`) owning a database
# `warehouse`. The official postgres image runs this once, when its data volume is empty; it is idempotent, so it
# can also be run by hand against an existing server:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/01-warehouse.sh
# The tables are created by the warehouse migrations (`python -m cryptoflow.migrate`, run by airflow-init).
set -euo pipefail

WAREHOUSE_DB_NAME="${WAREHOUSE_DB_NAME:-warehouse}"
WAREHOUSE_DB_USER="${WAREHOUSE_DB_USER:-warehouse}"
WAREHOUSE_DB_PASSWORD="${WAREHOUSE_DB_PASSWORD:-warehouse}"

psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v wh_db="${WAREHOUSE_DB_NAME}" -v wh_user="${WAREHOUSE_DB_USER}" -v wh_password="${WAREHOUSE_DB_PASSWORD}" <<'EOSQL'
SELECT format('CREATE ROLE %I LOGIN', :'wh_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'wh_user')
\gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'wh_user', :'wh_password')
\gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'wh_db', :'wh_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'wh_db')
\gexec
EOSQL

echo "warehouse: database '${WAREHOUSE_DB_NAME}' owned by role '${WAREHOUSE_DB_USER}' is ready"
