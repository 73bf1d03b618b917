"""Birdeye: OHLCV candles (1m, 5m, 15m, 1h by default) of the watchlist tokens into ``candles``."""

from cryptoflow.sources.birdeye.ohlcv import OhlcvDataset

DATASETS = {"ohlcv": OhlcvDataset()}
