"""A local replay HTTP server of recorded API responses, for the tests and the offline demo.

Run it standalone with ``python -m cryptoflow.replay --fixtures DIR``.
"""

from cryptoflow.replay.server import Fault, RecordedRequest, ReplayServer, Route, redact_query

__all__ = ["Fault", "RecordedRequest", "ReplayServer", "Route", "redact_query"]
