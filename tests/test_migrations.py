import psycopg
import pytest

from cryptoflow.migrate import MigrationError, apply_migrations, migration_files


def test_reapplying_is_a_no_op(warehouse_dsn):
    with psycopg.connect(warehouse_dsn) as conn:
        assert apply_migrations(conn) == []
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [v for v, _ in migration_files()]


def test_core_tables_exist(warehouse):
    tables = {r[0] for r in warehouse.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"pulls", "raw_responses", "rejected_records", "metrics", "candles", "trades"} <= tables
    assert warehouse.execute("SELECT count(*) FROM v_sync_status").fetchone() == (0,)


def test_edited_migration_is_refused(tmp_path, pg_cluster):
    pg_cluster.create_database("migrate_edit")
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x int);")
    with psycopg.connect(pg_cluster.dsn("migrate_edit")) as conn:
        assert apply_migrations(conn, tmp_path) == ["0001_first.sql"]
        (tmp_path / "0002_second.sql").write_text("CREATE TABLE b (x int);")
        assert apply_migrations(conn, tmp_path) == ["0002_second.sql"]
        (tmp_path / "0001_first.sql").write_text("CREATE TABLE a (x bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            apply_migrations(conn, tmp_path)


def test_failed_migration_applies_nothing(tmp_path, pg_cluster):
    pg_cluster.create_database("migrate_fail")
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE ok (x int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE bad (x nosuchtype);")
    with psycopg.connect(pg_cluster.dsn("migrate_fail")) as conn:
        with pytest.raises(MigrationError, match="0002_bad.sql failed"):
            apply_migrations(conn, tmp_path)
        conn.rollback()
        assert conn.execute("SELECT to_regclass('ok')").fetchone() == (None,)


def test_badly_named_file_is_an_error(tmp_path):
    (tmp_path / "first.sql").write_text("")
    with pytest.raises(MigrationError, match="NNNN_snake_case"):
        migration_files(tmp_path)
