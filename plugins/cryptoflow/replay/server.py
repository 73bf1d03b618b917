"""A local HTTP server that replays recorded API responses, standing in for DefiLlama, Artemis, Helius and Birdeye.

Routes map a method, a path (or a path regex) and a subset of query parameters to a recorded response, or to a
handler that generates one. Faults (error statuses, slow, truncated or cut-off responses) can be injected for a
number of requests, and every request is logged so tests can assert what a client sent. Out-of-process users
(the offline demo) drive faults and the request log through the control API under ``/__replay/``.

Only the standard library is used, so the server runs wherever the package's tests do.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import os
import re
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

from cryptoflow.secrets import MASK, SECRET_PARAM_NAMES, is_secret_param

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__replay"
FAULT_KINDS = ("status", "slow", "truncate", "disconnect")
ResponseBody = bytes | str | dict | list
Handler = Callable[["RecordedRequest"], tuple[int, Mapping[str, str], ResponseBody]]
PathPattern = str | re.Pattern[str]

_MANAGED_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
_ROUTE_KEYS = frozenset(
    {"method", "path", "path_regex", "query", "status", "headers", "file", "json", "body", "comment"}
)
_FAULT_KEYS = frozenset({"path", "path_regex", "kind", "times", "status", "retry_after", "delay", "method"})
_SECRET_IN_TEXT = re.compile(
    r"(?i)(?<![^\s?&;\"'])((?:" + "|".join(re.escape(n) for n in sorted(SECRET_PARAM_NAMES, key=len, reverse=True))
    + r")=)[^&;\s\"'#]*"
)


def redact_query(raw_query: str) -> str:
    """``raw_query`` as received, with the values of key-carrying parameters (``api-key``, ``token``...) masked."""
    if not raw_query:
        return raw_query
    parts = []
    for part in raw_query.split("&"):
        name, sep, _ = part.partition("=")
        parts.append(f"{name}={MASK}" if sep and is_secret_param(unquote_plus(name)) else part)
    return "&".join(parts)


def _redact_text(text: str) -> str:
    return _SECRET_IN_TEXT.sub(lambda m: m.group(1) + MASK, text)


def _display(path: str, raw_query: str) -> str:
    return f"{path}?{redact_query(raw_query)}" if raw_query else path


def _compile(pattern: PathPattern) -> re.Pattern[str]:
    return pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)


def _normalize_method(method: str | None) -> str | None:
    return None if method is None or method == "*" else method.upper()


def _has_header(headers: Mapping[str, str], name: str) -> bool:
    return any(k.lower() == name for k in headers)


def _encode(
    body: Any, headers: Mapping[str, str] | None, *, as_json: bool = False
) -> tuple[bytes, dict[str, str]]:
    """The bytes to send for ``body`` and ``headers`` completed with a content type that fits it.

    dict and list bodies, and any body when ``as_json``, are JSON-encoded; str is UTF-8 text; bytes go as-is.
    """
    out = {str(k): str(v) for k, v in (headers or {}).items() if k.lower() not in _MANAGED_HEADERS}
    if body is None and not as_json:
        return b"", out
    if as_json or isinstance(body, dict | list):
        data, content_type = json.dumps(body).encode(), "application/json"
    elif isinstance(body, str):
        data, content_type = body.encode(), "text/plain; charset=utf-8"
    else:
        data, content_type = bytes(body), "application/octet-stream"
    if not _has_header(out, "content-type"):
        out["Content-Type"] = content_type
    return data, out


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. ``query`` keeps the last value of a repeated parameter."""

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    body: bytes
    received_at: float

    def header(self, name: str, default: str | None = None) -> str | None:
        """A request header by case-insensitive name."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), default)

    def json(self) -> Any:
        return json.loads(self.body)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serializable form (the body decoded as UTF-8, undecodable bytes replaced)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "raw_query": self.raw_query,
            "headers": dict(self.headers),
            "body": self.body.decode("utf-8", errors="replace"),
            "received_at": self.received_at,
        }


@dataclass
class Route:
    """A recorded response, or a ``handler`` that generates one, for the requests it matches.

    ``method`` None matches any method; ``query`` must be a subset of the request's query parameters.
    """

    method: str | None
    path: str | None
    path_regex: re.Pattern[str] | None
    query: dict[str, str] = field(default_factory=dict)
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    handler: Handler | None = None

    def matches(self, method: str, path: str, query: Mapping[str, str]) -> bool:
        return (
            (self.method is None or self.method == method)
            and _path_matches(self.path, self.path_regex, path)
            and all(query.get(k) == v for k, v in self.query.items())
        )


@dataclass
class Fault:
    """A failure served instead of (``status``) or applied to (``slow``, ``truncate``, ``disconnect``) the normal
    response of matching requests, for the first ``times`` of them (None: forever). ``hits`` counts them."""

    kind: str
    method: str | None
    path: str | None
    path_regex: re.Pattern[str] | None
    times: int | None = 1
    status: int | None = None
    retry_after: int | float | str | None = None
    delay: float | None = None
    hits: int = 0

    @property
    def active(self) -> bool:
        return self.times is None or self.hits < self.times

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and _path_matches(self.path, self.path_regex, path)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["path_regex"] = self.path_regex.pattern if self.path_regex is not None else None
        return out


def _path_matches(path: str | None, path_regex: re.Pattern[str] | None, candidate: str) -> bool:
    if path_regex is not None:
        return path_regex.fullmatch(candidate) is not None
    return path == candidate


class _HTTPServer(ThreadingHTTPServer):
    """Threaded HTTP server that knows its ReplayServer and can cut its open (keep-alive) connections on stop."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], replay: ReplayServer) -> None:
        self.replay = replay
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall on machines without DNS
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _HTTPServerV6(_HTTPServer):
    address_family = socket.AF_INET6


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "cryptoflow-replay/1.0"
    timeout = 60
    server: _HTTPServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        try:
            self._dispatch()
        except (BrokenPipeError, ConnectionResetError, TimeoutError) as exc:
            logger.debug("client went away during %s %s: %s", self.command, urlsplit(self.path).path, exc)
            self.close_connection = True

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Replaced by ReplayServer's own access log, which masks API keys."""

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), _redact_text(format % args))

    def _dispatch(self) -> None:
        started = time.perf_counter()
        split = urlsplit(self.path)
        path, raw_query = split.path or "/", split.query
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._send_json(400, {"error": f"unreadable request body: {exc}"})
            return
        replay = self.server.replay
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
            status = self._control(path, body)
            replay._log_access(self.command, path, raw_query, status, None, started)
            return

        request = RecordedRequest(
            method=self.command,
            path=path,
            query=dict(parse_qsl(raw_query, keep_blank_values=True)),
            raw_query=raw_query,
            headers=dict(self.headers.items()),
            body=body,
            received_at=time.time(),
        )
        replay._record(request)
        fault = replay._take_fault(request)
        if fault is not None and fault.kind == "status":
            status, headers, payload = replay._fault_response(fault)
        else:
            status, headers, payload = replay._response_for(request)
        data, headers = _encode(payload, headers)

        if fault is not None and fault.kind == "slow":
            time.sleep(fault.delay or 0)
        if fault is not None and fault.kind == "truncate":
            data = data[: len(data) // 2]
        if fault is not None and fault.kind == "disconnect":
            self._send_cut(status, headers, data)
        else:
            self._send(status, headers, data)
        replay._log_access(self.command, path, raw_query, status, fault, started)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status: int, payload: Any) -> None:
        data, headers = _encode(payload, None, as_json=True)
        self._send(status, headers, data)

    def _send_cut(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        """Announce all of ``data`` but send only its first half, then drop the connection."""
        if data:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _control(self, path: str, body: bytes) -> int:
        replay = self.server.replay
        endpoint = path[len(CONTROL_PREFIX):].rstrip("/")
        method = self.command
        payload: Any
        try:
            if endpoint == "/health" and method == "GET":
                status, payload = 200, {"status": "ok", "routes": len(replay.routes)}
            elif endpoint == "/requests" and method == "GET":
                status, payload = 200, [r.to_dict() for r in replay.requests]
            elif endpoint == "/requests" and method == "DELETE":
                status, payload = 200, {"cleared": replay.clear_log()}
            elif endpoint == "/faults" and method == "GET":
                status, payload = 200, [f.to_dict() for f in replay.faults]
            elif endpoint == "/faults" and method == "POST":
                status, payload = 201, replay.inject_from_dict(json.loads(body or b"null")).to_dict()
            elif endpoint == "/faults" and method == "DELETE":
                status, payload = 200, {"cleared": replay.clear_faults()}
            elif endpoint in ("/health", "/requests", "/faults"):
                status, payload = 405, {"error": f"{method} not allowed on {path}"}
            else:
                status, payload = 404, {"error": f"unknown control endpoint {path}"}
        except (ValueError, TypeError) as exc:
            status, payload = 400, {"error": str(exc)}
        self._send_json(status, payload)
        return status


class ReplayServer:
    """Serves recorded responses over real HTTP on a loopback socket, with fault injection and a request log.

    Usable as a context manager (started on enter, stopped on exit). ``port=0`` picks a free port; read the
    bound one from ``.port`` or ``.url`` after ``start()``. ``access_log_level`` is the ``logging`` level of the
    one-line-per-request log (query values of API-key parameters are masked).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        fixtures_dir: str | os.PathLike[str] | None = None,
        *,
        access_log_level: int = logging.DEBUG,
    ) -> None:
        self.host = host
        self.access_log_level = access_log_level
        self._port = port
        self._lock = threading.Lock()
        self._routes: list[Route] = []
        self._faults: list[Fault] = []
        self._log: list[RecordedRequest] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        if fixtures_dir is not None:
            self.load(fixtures_dir)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<ReplayServer {self.host}:{self._port} {state}, {len(self._routes)} routes>"

    def __enter__(self) -> ReplayServer:
        if not self.running:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if not self._port:
            raise RuntimeError("the server has not been started, so it has no port yet")
        return self._port

    @property
    def url(self) -> str:
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def start(self) -> ReplayServer:
        """Bind and serve from a background daemon thread; returns self."""
        if self._httpd is not None:
            raise RuntimeError("the replay server is already running")
        server_class = _HTTPServerV6 if ":" in self.host else _HTTPServer
        httpd = server_class((self.host, self._port), self)
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"replay-server-{self._port}", daemon=True
        )
        self._httpd = httpd
        self._thread.start()
        logger.debug("replay server listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and cut open connections. Idempotent."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = self._thread = None
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if thread is not None:
            thread.join(timeout=5)

    # routes

    def add(
        self,
        path: str | None = None,
        *,
        path_regex: PathPattern | None = None,
        json: Any = None,
        body: str | bytes | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        method: str | None = "GET",
        query: Mapping[str, Any] | None = None,
        handler: Handler | None = None,
    ) -> Route:
        """Serve ``json`` (encoded), ``body`` (as-is) or what ``handler(request)`` returns to matching requests.

        Give exactly one of ``path`` (exact) and ``path_regex`` (``re.fullmatch``). ``query`` values are compared
        as strings. Among matching routes the one with the most ``query`` keys wins, then the latest added.
        ``method=None`` matches any method.
        """
        if (path is None) == (path_regex is None):
            raise ValueError("give exactly one of path and path_regex")
        if sum(x is not None for x in (json, body, handler)) > 1:
            raise ValueError("give at most one of json, body and handler")
        data, route_headers = _encode(json, headers, as_json=True) if json is not None else _encode(body, headers)
        route = Route(
            method=_normalize_method(method),
            path=path,
            path_regex=_compile(path_regex) if path_regex is not None else None,
            query={str(k): str(v) for k, v in (query or {}).items()},
            status=int(status),
            headers=route_headers,
            body=data,
            handler=handler,
        )
        with self._lock:
            self._routes.append(route)
        return route

    def load(self, fixtures_dir: str | os.PathLike[str]) -> list[Route]:
        """Add the routes listed in ``fixtures_dir/routes.json``.

        Each entry: ``method``, ``path`` or ``path_regex``, ``query``, ``status``, ``headers`` and ``file`` (relative
        to the folder, served as-is; ``application/json`` when it ends in ``.json``), or inline ``json``/``body``.
        """
        base = Path(fixtures_dir)
        manifest = base / "routes.json"
        entries = json.loads(manifest.read_text(encoding="utf-8"))
        if not isinstance(entries, list):
            raise ValueError(f"{manifest}: expected a JSON list of routes")
        added = []
        for index, entry in enumerate(entries):
            try:
                added.append(self._add_entry(base, entry))
            except (KeyError, TypeError, ValueError, OSError, re.error) as exc:
                raise ValueError(f"{manifest}: route #{index}: {exc}") from exc
        return added

    def _add_entry(self, base: Path, entry: Mapping[str, Any]) -> Route:
        if not isinstance(entry, Mapping):
            raise TypeError("a route must be a JSON object")
        unknown = set(entry) - _ROUTE_KEYS
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        headers = dict(entry.get("headers") or {})
        body = entry.get("body")
        if "file" in entry:
            root = base.resolve()
            file = (root / entry["file"]).resolve()
            if not file.is_relative_to(root):
                raise ValueError(f"file {entry['file']!r} is outside {root}")
            body = file.read_bytes()
            if not _has_header(headers, "content-type"):
                guessed = mimetypes.guess_type(file.name)[0]
                headers["Content-Type"] = (
                    "application/json" if file.suffix == ".json" else guessed or "application/octet-stream"
                )
        return self.add(
            entry.get("path"),
            path_regex=entry.get("path_regex"),
            json=entry.get("json"),
            body=body,
            status=entry.get("status", 200),
            headers=headers,
            method=entry.get("method", "GET"),
            query=entry.get("query"),
        )

    @property
    def routes(self) -> list[Route]:
        with self._lock:
            return list(self._routes)

    def clear_routes(self) -> int:
        with self._lock:
            count, self._routes = len(self._routes), []
        return count

    def _match(self, method: str, path: str, query: Mapping[str, str]) -> Route | None:
        with self._lock:
            candidates = [(len(r.query), i, r) for i, r in enumerate(self._routes) if r.matches(method, path, query)]
        if not candidates and method == "HEAD":
            return self._match("GET", path, query)
        return max(candidates, key=lambda c: c[:2])[2] if candidates else None

    def _response_for(self, request: RecordedRequest) -> tuple[int, Mapping[str, str], ResponseBody | None]:
        route = self._match(request.method, request.path, request.query)
        if route is None:
            target = _display(request.path, request.raw_query)
            return 404, {}, {"error": f"no recorded response for {request.method} {target}"}
        if route.handler is None:
            return route.status, route.headers, route.body
        try:
            status, headers, body = route.handler(request)
        except Exception as exc:
            logger.exception("replay handler for %s %s failed", request.method, request.path)
            return 500, {}, {"error": f"replay handler failed: {type(exc).__name__}: {exc}"}
        return int(status), dict(headers or {}), body

    # faults

    def inject(
        self,
        path_or_regex: PathPattern,
        kind: str,
        *,
        times: int | None = 1,
        status: int | None = None,
        retry_after: int | float | str | None = None,
        delay: float | None = None,
        method: str | None = "GET",
    ) -> Fault:
        """Make the next ``times`` matching requests (None: all) fail in the way ``kind`` says.

        A ``str`` is an exact path, an ``re.Pattern`` is matched with ``fullmatch``. Kinds: ``status`` (respond
        with ``status``, default 500, plus ``Retry-After`` when ``retry_after`` is given), ``slow`` (wait ``delay``
        seconds, then respond normally), ``truncate`` (send the first half of the normal body with a matching
        Content-Length), ``disconnect`` (announce the full body, send half, close the socket). Faults are checked
        before routes, oldest first, and a request takes at most one.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {', '.join(FAULT_KINDS)}")
        if times is not None and int(times) < 1:
            raise ValueError("times must be at least 1, or None for every request")
        if kind == "slow" and (delay is None or float(delay) < 0):
            raise ValueError("a 'slow' fault needs delay= (seconds, >= 0)")
        if kind != "status" and (status is not None or retry_after is not None):
            raise ValueError("status and retry_after apply to 'status' faults only")
        if kind != "slow" and delay is not None:
            raise ValueError("delay applies to 'slow' faults only")
        is_regex = isinstance(path_or_regex, re.Pattern)
        fault = Fault(
            kind=kind,
            method=_normalize_method(method),
            path=None if is_regex else str(path_or_regex),
            path_regex=path_or_regex if is_regex else None,
            times=None if times is None else int(times),
            status=(int(status) if status is not None else 500) if kind == "status" else None,
            retry_after=retry_after,
            delay=float(delay) if delay is not None else None,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def inject_from_dict(self, spec: Any) -> Fault:
        """``inject`` from the control API's JSON: ``path`` or ``path_regex``, ``kind`` and the options.

        A missing ``times`` means 1, an explicit null means every request.
        """
        if not isinstance(spec, Mapping):
            raise ValueError("a fault must be a JSON object")
        unknown = set(spec) - _FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown fault keys {sorted(unknown)}")
        if ("path" in spec) == ("path_regex" in spec):
            raise ValueError("give exactly one of path and path_regex")
        if "kind" not in spec:
            raise ValueError("a fault needs a kind")
        try:
            target = spec["path"] if "path" in spec else re.compile(spec["path_regex"])
        except re.error as exc:
            raise ValueError(f"invalid path_regex: {exc}") from exc
        return self.inject(
            target,
            spec["kind"],
            times=spec.get("times", 1),
            status=spec.get("status"),
            retry_after=spec.get("retry_after"),
            delay=spec.get("delay"),
            method=spec.get("method", "GET"),
        )

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear_faults(self) -> int:
        with self._lock:
            count, self._faults = len(self._faults), []
        return count

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.active and fault.matches(request.method, request.path):
                    fault.hits += 1
                    return fault
        return None

    @staticmethod
    def _fault_response(fault: Fault) -> tuple[int, dict[str, str], dict[str, Any]]:
        status = fault.status or 500
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        return status, headers, {"error": "injected fault", "status": status}

    # request log

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, oldest first (control API calls excluded)."""
        with self._lock:
            return list(self._log)

    def count(self, path: str | None = None, path_regex: PathPattern | None = None, method: str | None = None) -> int:
        """How many logged requests match all the given filters."""
        pattern = _compile(path_regex) if path_regex is not None else None
        wanted_method = _normalize_method(method)
        return sum(
            1
            for r in self.requests
            if (path is None or r.path == path)
            and (pattern is None or pattern.fullmatch(r.path) is not None)
            and (wanted_method is None or r.method == wanted_method)
        )

    def clear_log(self) -> int:
        with self._lock:
            count, self._log = len(self._log), []
        return count

    def reset(self) -> None:
        """Forget routes, faults and logged requests."""
        with self._lock:
            self._routes, self._faults, self._log = [], [], []

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._log.append(request)

    def _log_access(
        self, method: str, path: str, raw_query: str, status: int, fault: Fault | None, started: float
    ) -> None:
        if not logger.isEnabledFor(self.access_log_level):
            return
        suffix = f" [fault: {fault.kind}]" if fault is not None else ""
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.log(self.access_log_level, "%s %s %d %.1fms%s", method, _display(path, raw_query), status,
                   elapsed_ms, suffix)
