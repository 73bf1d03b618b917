"""Where the project's files are, whether run from a clone, `airflow standalone` or the docker image."""

import os
from pathlib import Path

PROJECT_ROOT = Path(os.environ.get("CRYPTOFLOW_HOME") or Path(__file__).resolve().parents[2])
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"
MIGRATIONS_DIR = SQL_DIR / "migrations"
CONFIG_DIR = INCLUDE_DIR / "config"


def read_sql(relative: str) -> str:
    """The text of ``include/sql/<relative>``."""
    return (SQL_DIR / relative).read_text()
