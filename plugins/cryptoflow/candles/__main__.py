"""``python -m cryptoflow.candles``: refresh or rebuild the derived candles by hand (the DAG does it on schedule).

    python -m cryptoflow.candles refresh                                   # the change log, as a DAG run does
    python -m cryptoflow.candles rebuild --from 2026-11-01 --to 2026-11-03 # every bucket of a range (UTC)
    python -m cryptoflow.candles rebuild --all                             # everything, from all trades
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

import psycopg

from cryptoflow.candles import refresh
from cryptoflow.candles.tasks import parse_moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cryptoflow.candles", description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", help="warehouse DSN (default: $WAREHOUSE_DSN, $AIRFLOW_CONN_WAREHOUSE, what "
                                      "`make run` set up, or the Airflow connection 'warehouse')")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("refresh", help="recompute the buckets in the change log")
    rebuild = sub.add_parser("rebuild", help="recompute every bucket of a range")
    rebuild.add_argument("--from", dest="start", help="ISO date or date-time (UTC)")
    rebuild.add_argument("--to", dest="end", help="ISO date or date-time (UTC), exclusive")
    rebuild.add_argument("--all", action="store_true", help="the whole time range of the trades")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from cryptoflow.query import WarehouseError, resolve_dsn

    try:
        dsn = resolve_dsn(args.dsn)
    except WarehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with psycopg.connect(dsn.value) as conn:
        if args.command == "refresh":
            result = refresh.refresh_incremental(conn)
        elif args.all:
            result = refresh.rebuild_all(conn)
        else:
            try:
                start, end = parse_moment(args.start, "--from"), parse_moment(args.end, "--to")
            except ValueError as exc:
                parser.error(str(exc))
            if start is None or end is None:
                parser.error("rebuild needs --from and --to, or --all")
            result = refresh.rebuild_range(conn, start, end)
    print(json.dumps(result.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
