"""The offline demo: one replay server answering for every source, with each source's recorded sample data."""

from __future__ import annotations

import importlib
import logging

from cryptoflow.replay.server import ReplayServer

log = logging.getLogger(__name__)

DEMO_SOURCES = ("defillama", "artemis", "helius", "birdeye")


def register_all(server: ReplayServer) -> list[str]:
    """Add every source's demo routes; returns the sources registered."""
    registered = []
    for source in DEMO_SOURCES:
        try:
            module = importlib.import_module(f"cryptoflow.sources.{source}.demo")
        except ModuleNotFoundError:
            log.warning("no demo data for %s", source)
            continue
        module.register_demo(server)
        registered.append(source)
    return registered
