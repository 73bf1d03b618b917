"""The live pump.fun trade stream (``python -m cryptoflow.stream``): PumpPortal websocket -> ``trades``.

See ``service.py`` for the behaviour, ``frames.py`` for the feeds' units, ``ws_replay.py`` for the local replay
server used by the tests and the offline demo.
"""
