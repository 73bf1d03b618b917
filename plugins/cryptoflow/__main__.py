"""``python -m cryptoflow <command>`` (or ``bin/cryptoflow <command>``): the package's command-line tools.

    query     metrics and candles from the warehouse, as a table or CSV (query --help)
    candles   refresh or rebuild the candles derived from trades (candles --help)
    migrate   apply pending warehouse migrations
"""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "query": "cryptoflow.query",
    "candles": "cryptoflow.candles.__main__",
    "migrate": "cryptoflow.migrate",
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: cryptoflow {{{','.join(COMMANDS)}}} ...\n\n{__doc__.split(chr(10) * 2, 1)[1]}")
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"cryptoflow: error: unknown command {command!r}; choose {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[command]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
