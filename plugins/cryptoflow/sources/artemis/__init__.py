"""Artemis: daily asset metrics (price, market cap, fees, users, ...) from the assets x metrics matrix in
``include/config/artemis_config.csv`` into ``metrics`` (source ``artemis``)."""

from cryptoflow.sources.artemis.datasets import ArtemisMetrics

DATASETS = {"metrics": ArtemisMetrics()}
