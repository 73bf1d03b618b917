"""The Airflow Asset that says "trades changed". Producers: the live trade stream (through the REST API, by this
name) and any DAG task that writes ``trades`` (``outlets=[TRADES]``); consumer: the ``candles`` DAG."""

from airflow.sdk import Asset

TRADES_ASSET_NAME = "trades"
TRADES = Asset(name=TRADES_ASSET_NAME)
