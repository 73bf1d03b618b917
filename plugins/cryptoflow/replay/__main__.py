"""``python -m cryptoflow.replay``: run the replay server in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from cryptoflow.replay.server import ReplayServer

logger = logging.getLogger("cryptoflow.replay")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cryptoflow.replay",
        description="Serve recorded API responses over HTTP (one access-log line per request on stderr; "
        "API-key query values are masked). Control API under /__replay/.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on, 0 for a free one (default: %(default)s)"
    )
    parser.add_argument("--fixtures", type=Path, help="folder with routes.json and the recorded response files")
    parser.add_argument("--demo", action="store_true", help="serve every source's bundled demo data (make demo)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        server = ReplayServer(args.host, args.port, fixtures_dir=args.fixtures, access_log_level=logging.INFO)
    except (OSError, ValueError) as exc:
        logger.error("cannot load fixtures: %s", exc)
        return 2

    if args.demo:
        from cryptoflow.replay.demo import register_all

        logger.info("demo data for: %s", ", ".join(register_all(server)))
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logger.info("received %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server.start()
    except OSError as exc:
        logger.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 2
    logger.info("replay server listening on %s with %d routes", server.url, len(server.routes))
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    logger.info("replay server stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
