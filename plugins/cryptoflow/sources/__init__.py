"""Sources: ``cryptoflow.sources.<source>`` modules each expose ``DATASETS``, a dict of name -> Dataset."""

from __future__ import annotations

import importlib

from cryptoflow.ingest import Dataset


def get_dataset(source: str, name: str) -> Dataset:
    module = importlib.import_module(f"cryptoflow.sources.{source}")
    datasets = getattr(module, "DATASETS", {})
    if name not in datasets:
        raise KeyError(f"source {source!r} has no dataset {name!r} (known: {sorted(datasets)})")
    return datasets[name]
