"""Candles derived from ``trades``: the refresh driver (``refresh``), the Birdeye reconciliation (``reconcile``),
the ``candles`` DAG's tasks (``tasks``, ``dag``) and ``python -m cryptoflow.candles`` for rebuilds by hand."""
