"""`make bench`: every ``bench/bench_*.py`` module's ``run(ctx)`` against one throwaway PostgreSQL, printed and written
to ``.bench/results.json`` as ``{"name": number}``. Figures that matter are ratios against a baseline measured in
the same run, because the machines are shared and noisy."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

from cryptoflow.local_postgres import LocalPostgres, free_port  # noqa: E402
from cryptoflow.migrate import apply_migrations  # noqa: E402


@dataclass
class BenchContext:
    cluster: LocalPostgres
    workdir: Path
    quick: bool

    def fresh_warehouse(self, name: str) -> str:
        """A new, migrated warehouse database; returns its DSN."""
        import psycopg

        self.cluster.create_database(name)
        dsn = self.cluster.dsn(name)
        with psycopg.connect(dsn) as conn:
            apply_migrations(conn)
        return dsn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only bench_<name>")
    parser.add_argument("--quick", action="store_true", help="smaller data sets (smoke-testing the benchmarks)")
    args = parser.parse_args()
    modules = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    if args.only:
        modules = [m for m in modules if m == f"bench_{args.only}"]
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="cryptoflow-bench-") as tmp:
        Path(tmp).chmod(0o755)
        cluster = LocalPostgres(datadir=Path(tmp) / "pg", port=free_port())
        cluster.init()
        cluster.start()   # durable settings, as in production
        cluster.wait_ready()
        ctx = BenchContext(cluster=cluster, workdir=Path(tmp), quick=args.quick)
        try:
            for name in modules:
                started = time.monotonic()
                print(f"== {name}", flush=True)
                figures = importlib.import_module(f"bench.{name}").run(ctx)
                for key, value in figures.items():
                    print(f"   {key:32s} {value:,.3f}" if isinstance(value, float) else f"   {key:32s} {value:,}")
                results.update(figures)
                print(f"   ({time.monotonic() - started:.0f} s)", flush=True)
        finally:
            cluster.destroy()
    out = ROOT / ".bench" / "results.json"
    out.parent.mkdir(exist_ok=True)
    previous = json.loads(out.read_text()) if out.exists() else {}
    out.write_text(json.dumps({**previous, **results}, indent=2, sort_keys=True) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
