"""The "Data health" page of the Airflow UI: freshness, throughput, API errors and latency per source, recent rejected
records and the latest candles of a token, read from the warehouse's monitoring views (migration 0009).

``app.create_app()`` is the FastAPI app that plugins/data_health.py registers with Airflow; ``queries`` reads the
warehouse, ``page`` and ``svg`` render HTML and charts on the server.
"""
