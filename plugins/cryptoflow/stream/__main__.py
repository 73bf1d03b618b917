"""``python -m cryptoflow.stream``: run the live trade stream in the foreground until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from cryptoflow.secrets import RedactingFilter
from cryptoflow.stream import config as stream_config
from cryptoflow.stream.service import TradeStream


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cryptoflow.stream", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    logging.basicConfig(level=args.log_level, handlers=[handler],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = stream_config.load()
    except stream_config.StreamConfigError as exc:
        logging.getLogger("cryptoflow.stream").error("configuration error: %s", exc)
        return 2
    stream = TradeStream(config)

    async def run() -> None:
        stream.install_signal_handlers()
        await stream.run()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
