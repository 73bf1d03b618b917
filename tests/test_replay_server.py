"""The replay server that stands in for the crypto APIs: routes, faults, request log, control API and CLI."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from cryptoflow.replay import RecordedRequest, ReplayServer, redact_query

ROOT = Path(__file__).resolve().parents[1]


def get(server: ReplayServer, target: str, **kwargs) -> requests.Response:
    return requests.get(server.url + target, timeout=10, **kwargs)


# routes


def test_serves_json_route(replay_server):
    replay_server.add("/api/protocols", json=[{"slug": "aave"}])

    resp = get(replay_server, "/api/protocols")

    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == [{"slug": "aave"}]


def test_url_and_port(replay_server):
    assert replay_server.port > 0
    assert replay_server.url == f"http://127.0.0.1:{replay_server.port}"


def test_query_is_a_subset_match_and_most_specific_route_wins(replay_server):
    replay_server.add("/candles", json="any")
    replay_server.add("/candles", query={"chain": "solana"}, json="chain")
    replay_server.add("/candles", query={"chain": "solana", "type": "1m"}, json="chain+type")

    assert get(replay_server, "/candles").json() == "any"
    assert get(replay_server, "/candles?chain=ethereum").json() == "any"
    assert get(replay_server, "/candles?chain=solana&limit=5").json() == "chain"
    assert get(replay_server, "/candles?type=1m&chain=solana&limit=5").json() == "chain+type"


def test_latest_route_wins_a_tie(replay_server):
    replay_server.add("/tvl", query={"chain": "solana"}, json="first")
    replay_server.add("/tvl", query={"chain": "solana"}, json="second")

    assert get(replay_server, "/tvl?chain=solana").json() == "second"


def test_query_route_does_not_match_without_its_parameters(replay_server):
    replay_server.add("/tvl", query={"chain": "solana"}, json="solana")

    assert get(replay_server, "/tvl").status_code == 404
    assert get(replay_server, "/tvl?chain=base").status_code == 404


def test_query_values_compare_as_strings(replay_server):
    replay_server.add("/pools", query={"limit": 100}, json="hundred")

    assert get(replay_server, "/pools?limit=100").json() == "hundred"


def test_path_regex_route_for_a_key_in_the_path(replay_server):
    replay_server.add(path_regex=r"/[^/]+/api/protocols", json=["pro"])
    replay_server.add(path_regex=re.compile(r"/v0/addresses/\w+/transactions"), json=[])

    assert get(replay_server, "/abc123KEY/api/protocols").json() == ["pro"]
    assert get(replay_server, "/v0/addresses/Wallet1/transactions").json() == []
    assert get(replay_server, "/a/b/api/protocols").status_code == 404


def test_method_must_match(replay_server):
    replay_server.add("/rpc", method="POST", json={"result": 1})

    assert get(replay_server, "/rpc").status_code == 404
    resp = requests.post(replay_server.url + "/rpc", json={"method": "getSlot"}, timeout=10)
    assert resp.json() == {"result": 1}


def test_method_none_matches_any_method(replay_server):
    replay_server.add("/any", method=None, json="ok")

    assert requests.delete(replay_server.url + "/any", timeout=10).json() == "ok"
    assert requests.put(replay_server.url + "/any", timeout=10).json() == "ok"


def test_body_status_and_headers(replay_server):
    replay_server.add("/text", body="hello")
    replay_server.add("/raw", body=b"\x00\x01", status=202, headers={"X-Custom": "1"})
    replay_server.add("/csv", body="a,b\n", headers={"content-type": "text/csv"})

    text, raw, csv = get(replay_server, "/text"), get(replay_server, "/raw"), get(replay_server, "/csv")

    assert (text.text, text.headers["Content-Type"]) == ("hello", "text/plain; charset=utf-8")
    assert (raw.status_code, raw.content, raw.headers["X-Custom"]) == (202, b"\x00\x01", "1")
    assert csv.headers["Content-Type"] == "text/csv"


def test_head_falls_back_to_the_get_route(replay_server):
    replay_server.add("/api/protocols", json=[1, 2, 3])

    resp = requests.head(replay_server.url + "/api/protocols", timeout=10)

    assert resp.status_code == 200
    assert resp.headers["Content-Length"] == str(len(b"[1, 2, 3]"))
    assert resp.content == b""


def test_add_rejects_ambiguous_routes(replay_server):
    with pytest.raises(ValueError, match="path and path_regex"):
        replay_server.add("/x", path_regex="/x")
    with pytest.raises(ValueError, match="path and path_regex"):
        replay_server.add(json=1)
    with pytest.raises(ValueError, match="at most one"):
        replay_server.add("/x", json=1, body="1")


def test_handler_route_generates_the_response(replay_server):
    def echo(request: RecordedRequest):
        return 201, {"X-Echo": request.method}, {"query": request.query, "body": request.json()}

    replay_server.add("/echo", method="POST", handler=echo)

    resp = requests.post(replay_server.url + "/echo?page=2", json={"a": 1}, timeout=10)

    assert resp.status_code == 201
    assert resp.headers["X-Echo"] == "POST"
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"query": {"page": "2"}, "body": {"a": 1}}


def test_handler_may_return_text_or_bytes(replay_server):
    replay_server.add("/text", handler=lambda request: (200, {}, "plain"))
    replay_server.add("/bytes", handler=lambda request: (200, {"Content-Type": "application/json"}, b"{}"))

    assert get(replay_server, "/text").text == "plain"
    assert get(replay_server, "/bytes").json() == {}


def test_failing_handler_gives_500(replay_server):
    def broken(request):
        raise RuntimeError("boom")

    replay_server.add("/broken", handler=broken)

    resp = get(replay_server, "/broken")

    assert resp.status_code == 500
    assert "RuntimeError: boom" in resp.json()["error"]


def test_unknown_route_gives_404_naming_the_request(replay_server):
    resp = get(replay_server, "/nope?a=1&b=2")

    assert resp.status_code == 404
    assert resp.json() == {"error": "no recorded response for GET /nope?a=1&b=2"}
    assert get(replay_server, "/nope").json() == {"error": "no recorded response for GET /nope"}


def test_404_message_masks_api_keys(replay_server):
    resp = get(replay_server, "/v0/token?api-key=SECRET123&mint=abc")

    assert resp.json() == {"error": "no recorded response for GET /v0/token?api-key=***&mint=abc"}


# fixtures folder


def write_fixtures(folder: Path) -> Path:
    (folder / "protocols.json").write_text(json.dumps([{"slug": "aave"}]))
    (folder / "note.txt").write_text("plain text")
    routes = [
        {"path": "/api/protocols", "file": "protocols.json"},
        {"path": "/notes", "file": "note.txt", "headers": {"X-Source": "fixture"}},
        {"path": "/api/tvl", "query": {"chain": "solana"}, "status": 429, "file": "protocols.json"},
        {"method": "POST", "path_regex": "/rpc/.*", "json": {"result": "ok"}},
    ]
    (folder / "routes.json").write_text(json.dumps(routes))
    return folder


def test_fixtures_dir_routes(tmp_path):
    with ReplayServer(fixtures_dir=write_fixtures(tmp_path)) as server:
        protocols, notes = get(server, "/api/protocols"), get(server, "/notes")
        assert (protocols.json(), protocols.headers["Content-Type"]) == ([{"slug": "aave"}], "application/json")
        assert protocols.content == (tmp_path / "protocols.json").read_bytes()
        assert (notes.text, notes.headers["X-Source"]) == ("plain text", "fixture")
        assert notes.headers["Content-Type"].startswith("text/plain")
        assert get(server, "/api/tvl?chain=solana").status_code == 429
        assert get(server, "/api/tvl").status_code == 404
        assert requests.post(server.url + "/rpc/main", timeout=10).json() == {"result": "ok"}


def test_load_adds_to_a_running_server(replay_server, tmp_path):
    routes = replay_server.load(write_fixtures(tmp_path))

    assert len(routes) == 4
    assert get(replay_server, "/api/protocols").json() == [{"slug": "aave"}]


def test_load_reports_the_bad_route(tmp_path):
    (tmp_path / "routes.json").write_text(json.dumps([{"path": "/ok"}, {"path": "/x", "file": "missing.json"}]))

    with pytest.raises(ValueError, match=r"route #1"):
        ReplayServer(fixtures_dir=tmp_path)


def test_load_refuses_files_outside_the_folder(tmp_path):
    (tmp_path / "routes.json").write_text(json.dumps([{"path": "/x", "file": "../../etc/passwd"}]))

    with pytest.raises(ValueError, match="outside"):
        ReplayServer(fixtures_dir=tmp_path)


# faults


def test_status_fault_with_retry_after_then_recovers(replay_server):
    replay_server.add("/api/protocols", json=["ok"])
    replay_server.inject("/api/protocols", "status", status=429, retry_after=7, times=2)

    first, second, third = (get(replay_server, "/api/protocols") for _ in range(3))

    assert (first.status_code, first.headers["Retry-After"]) == (429, "7")
    assert first.json()["status"] == 429
    assert second.status_code == 429
    assert (third.status_code, third.json()) == (200, ["ok"])
    assert replay_server.faults[0].hits == 2


@pytest.mark.parametrize("status", [401, 500, 503])
def test_status_fault_without_retry_after(replay_server, status):
    replay_server.add("/x", json=1)
    replay_server.inject("/x", "status", status=status)

    resp = get(replay_server, "/x")

    assert resp.status_code == status
    assert "Retry-After" not in resp.headers


def test_status_fault_defaults_to_500_and_applies_without_a_route(replay_server):
    replay_server.inject("/unrouted", "status")

    assert get(replay_server, "/unrouted").status_code == 500
    assert get(replay_server, "/unrouted").status_code == 404


def test_fault_forever(replay_server):
    replay_server.add("/x", json=1)
    replay_server.inject("/x", "status", status=503, times=None)

    assert [get(replay_server, "/x").status_code for _ in range(4)] == [503] * 4


def test_faults_fire_oldest_first_one_per_request(replay_server):
    replay_server.add("/x", json=1)
    replay_server.inject("/x", "status", status=429)
    replay_server.inject("/x", "status", status=503)

    assert [get(replay_server, "/x").status_code for _ in range(3)] == [429, 503, 200]


def test_fault_by_regex_and_method(replay_server):
    replay_server.add(path_regex=r"/v1/.*", method=None, json="ok")
    replay_server.inject(re.compile(r"/v1/assets/\w+"), "status", status=401, method="POST")

    assert get(replay_server, "/v1/assets/btc").status_code == 200
    assert requests.post(replay_server.url + "/v1/assets/btc", timeout=10).status_code == 401
    assert requests.post(replay_server.url + "/v1/assets/btc", timeout=10).status_code == 200


def test_slow_fault_delays_the_normal_response(replay_server):
    replay_server.add("/x", json={"a": 1})
    replay_server.inject("/x", "slow", delay=0.3)

    started = time.monotonic()
    resp = get(replay_server, "/x")
    slow_elapsed = time.monotonic() - started
    started = time.monotonic()
    get(replay_server, "/x")
    fast_elapsed = time.monotonic() - started

    assert resp.json() == {"a": 1}
    assert slow_elapsed >= 0.3
    assert fast_elapsed < 0.3


def test_slow_fault_triggers_client_timeout(replay_server):
    replay_server.add("/x", json=1)
    replay_server.inject("/x", "slow", delay=0.5)

    with pytest.raises(requests.Timeout):
        requests.get(replay_server.url + "/x", timeout=0.1)


def test_truncate_fault_sends_half_the_body_with_matching_length(replay_server):
    payload = [{"slug": f"protocol-{i}", "tvl": i * 1000.5} for i in range(20)]
    full = json.dumps(payload).encode()
    replay_server.add("/api/protocols", json=payload)
    replay_server.inject("/api/protocols", "truncate")

    resp = get(replay_server, "/api/protocols")

    assert resp.status_code == 200
    assert resp.content == full[: len(full) // 2]
    assert resp.headers["Content-Length"] == str(len(resp.content))
    with pytest.raises(requests.JSONDecodeError):
        resp.json()
    assert get(replay_server, "/api/protocols").json() == payload


def test_disconnect_fault_cuts_the_body(replay_server):
    replay_server.add("/api/protocols", json=[{"slug": "aave"}] * 50)
    replay_server.inject("/api/protocols", "disconnect")

    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        get(replay_server, "/api/protocols")
    assert get(replay_server, "/api/protocols").status_code == 200


def test_disconnect_fault_without_a_body(replay_server):
    replay_server.add("/empty", body=b"")
    replay_server.inject("/empty", "disconnect")

    with pytest.raises(requests.ConnectionError):
        get(replay_server, "/empty")


def test_clear_faults(replay_server):
    replay_server.add("/x", json=1)
    replay_server.inject("/x", "status", status=500, times=None)

    assert replay_server.clear_faults() == 1
    assert get(replay_server, "/x").status_code == 200


@pytest.mark.parametrize(
    ("kind", "options", "message"),
    [
        ("explode", {}, "unknown fault kind"),
        ("slow", {}, "delay"),
        ("status", {"times": 0}, "at least 1"),
        ("truncate", {"status": 500}, "'status' faults only"),
        ("status", {"delay": 1}, "'slow' faults only"),
    ],
)
def test_inject_validates(replay_server, kind, options, message):
    with pytest.raises(ValueError, match=message):
        replay_server.inject("/x", kind, **options)


# request log


def test_request_log_records_what_the_client_sent(replay_server):
    replay_server.add("/v0/transactions", method="POST", json=[])
    before = time.time()

    requests.post(
        replay_server.url + "/v0/transactions?api-key=K1&a=1&a=2&empty=",
        data=b'{"addresses": ["w1"]}',
        headers={"X-API-KEY": "hdr-key", "Content-Type": "application/json"},
        timeout=10,
    )

    (recorded,) = replay_server.requests
    assert recorded.method == "POST"
    assert recorded.path == "/v0/transactions"
    assert recorded.query == {"api-key": "K1", "a": "2", "empty": ""}
    assert recorded.raw_query == "api-key=K1&a=1&a=2&empty="
    assert recorded.header("x-api-key") == "hdr-key"
    assert recorded.headers["X-API-KEY"] == "hdr-key"
    assert recorded.body == b'{"addresses": ["w1"]}'
    assert recorded.json() == {"addresses": ["w1"]}
    assert before <= recorded.received_at <= time.time()


def test_request_log_includes_unmatched_and_faulted_requests(replay_server):
    replay_server.inject("/limited", "status", status=429)

    get(replay_server, "/limited")
    get(replay_server, "/missing")

    assert [r.path for r in replay_server.requests] == ["/limited", "/missing"]


def test_count_and_clear_log(replay_server):
    replay_server.add(path_regex=r"/defi/.*", method=None, json=1)
    for target in ("/defi/ohlcv?type=1m", "/defi/ohlcv?type=5m", "/defi/price"):
        get(replay_server, target)
    requests.post(replay_server.url + "/defi/price", timeout=10)

    assert replay_server.count() == 4
    assert replay_server.count(path="/defi/ohlcv") == 2
    assert replay_server.count(path_regex=r"/defi/p.*") == 2
    assert replay_server.count(path_regex=re.compile(r"/defi/.*"), method="post") == 1
    assert replay_server.count(path="/defi/price", method="GET") == 1
    assert replay_server.clear_log() == 4
    assert replay_server.requests == []


def test_chunked_request_body_is_read(replay_server):
    replay_server.add("/upload", method="POST", json="ok")

    resp = requests.post(replay_server.url + "/upload", data=iter([b"ab", b"cd"]), timeout=10)

    assert resp.json() == "ok"
    assert replay_server.requests[0].body == b"abcd"


def test_concurrent_requests_are_all_logged(replay_server):
    replay_server.add("/x", json=1)
    replay_server.inject("/x", "slow", delay=0.05, times=None)

    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda i: get(replay_server, f"/x?i={i}").status_code, range(40)))

    assert statuses == [200] * 40
    assert replay_server.count(path="/x") == 40
    assert {r.query["i"] for r in replay_server.requests} == {str(i) for i in range(40)}


# connections and lifecycle


def test_keep_alive_serves_several_requests_on_one_connection(replay_server):
    replay_server.add("/a", json="a")
    replay_server.add("/b", body="b")
    conn = http.client.HTTPConnection("127.0.0.1", replay_server.port, timeout=10)
    try:
        conn.request("GET", "/a")
        first = conn.getresponse()
        assert (first.read(), first.will_close) == (b'"a"', False)
        sock = conn.sock
        conn.request("GET", "/b")
        second = conn.getresponse()
        assert second.read() == b"b"
        assert conn.sock is sock
    finally:
        conn.close()


def test_stop_closes_the_port_and_open_connections():
    server = ReplayServer().start()
    server.add("/x", json=1)
    session = requests.Session()
    assert session.get(server.url + "/x", timeout=10).json() == 1

    server.stop()
    server.stop()

    with pytest.raises(requests.ConnectionError):
        session.get(server.url + "/x", timeout=2)
    assert not server.running


def test_port_before_start_is_an_error():
    with pytest.raises(RuntimeError, match="not been started"):
        _ = ReplayServer().port


def test_start_twice_is_an_error(replay_server):
    with pytest.raises(RuntimeError, match="already running"):
        replay_server.start()


# control API


def test_control_api_requests_log(replay_server):
    replay_server.add("/x", json=1)
    get(replay_server, "/x?a=1", headers={"X-Trace": "t1"})

    log = get(replay_server, "/__replay/requests").json()

    assert len(log) == 1
    assert log[0]["method"] == "GET"
    assert log[0]["path"] == "/x"
    assert log[0]["query"] == {"a": "1"}
    assert log[0]["raw_query"] == "a=1"
    assert log[0]["headers"]["X-Trace"] == "t1"
    assert log[0]["body"] == ""
    assert isinstance(log[0]["received_at"], float)

    assert requests.delete(replay_server.url + "/__replay/requests", timeout=10).json() == {"cleared": 1}
    assert replay_server.requests == []
    assert get(replay_server, "/__replay/requests").json() == []


def test_control_api_faults(replay_server):
    replay_server.add("/api/protocols", json=["ok"])
    replay_server.add("/abc/api/protocols", json=["pro"])
    base = replay_server.url + "/__replay/faults"

    created = requests.post(
        base, json={"path": "/api/protocols", "kind": "status", "status": 429, "retry_after": 3}, timeout=10
    )
    requests.post(base, json={"path_regex": "/[^/]+/api/.*", "kind": "status", "status": 503, "times": None},
                  timeout=10)

    assert created.status_code == 201
    assert created.json()["kind"] == "status"
    limited = get(replay_server, "/api/protocols")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert get(replay_server, "/api/protocols").status_code == 200
    assert [get(replay_server, "/abc/api/protocols").status_code for _ in range(2)] == [503, 503]
    assert len(get(replay_server, "/__replay/faults").json()) == 2

    assert requests.delete(base, timeout=10).json() == {"cleared": 2}
    assert get(replay_server, "/abc/api/protocols").status_code == 200


def test_control_api_slow_fault(replay_server):
    replay_server.add("/x", json=1)
    requests.post(replay_server.url + "/__replay/faults", json={"path": "/x", "kind": "slow", "delay": 0.3},
                  timeout=10)

    assert get(replay_server, "/x").elapsed.total_seconds() >= 0.3


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "status"},
        {"path": "/x", "path_regex": "/x", "kind": "status"},
        {"path": "/x"},
        {"path": "/x", "kind": "melt"},
        {"path": "/x", "kind": "status", "colour": "red"},
        {"path_regex": "(", "kind": "status"},
        ["not", "an", "object"],
    ],
)
def test_control_api_rejects_bad_faults(replay_server, payload):
    resp = requests.post(replay_server.url + "/__replay/faults", json=payload, timeout=10)

    assert resp.status_code == 400
    assert resp.json()["error"]
    assert replay_server.faults == []


def test_control_api_rejects_invalid_json(replay_server):
    resp = requests.post(replay_server.url + "/__replay/faults", data=b"{nope", timeout=10)

    assert resp.status_code == 400


def test_control_api_unknown_endpoint_and_method(replay_server):
    assert get(replay_server, "/__replay/nothing").status_code == 404
    assert requests.put(replay_server.url + "/__replay/requests", timeout=10).status_code == 405


def test_control_api_calls_are_not_logged(replay_server):
    get(replay_server, "/__replay/health")
    get(replay_server, "/__replay/requests")
    requests.delete(replay_server.url + "/__replay/faults", timeout=10)

    assert replay_server.requests == []


# redaction and CLI


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("api-key=S1&mint=abc", "api-key=***&mint=abc"),
        ("apikey=S1", "apikey=***"),
        ("APIKey=S1&x=1", "APIKey=***&x=1"),
        ("a=1&api_key=S1", "a=1&api_key=***"),
        ("key=S1&token=S2", "key=***&token=***"),
        ("monkey=1&keys=2&token", "monkey=1&keys=2&token"),
        ("", ""),
    ],
)
def test_redact_query(raw, expected):
    assert redact_query(raw) == expected


def read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def test_cli_serves_fixtures_and_never_logs_api_keys(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptoflow.replay", "--host", "127.0.0.1", "--port", "0",
         "--fixtures", str(write_fixtures(tmp_path))],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=read_lines, args=(proc.stderr, lines), daemon=True)
    reader.start()
    output: list[str] = []
    try:
        deadline = time.monotonic() + 30
        url = None
        while url is None and time.monotonic() < deadline:
            line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, "the replay CLI exited early:\n" + "".join(output)
            output.append(line)
            match = re.search(r"listening on (http://\S+)", line)
            url = match.group(1) if match else None
        assert url, "the replay CLI did not start:\n" + "".join(output)

        ok = requests.get(url + "/api/protocols?api-key=SECRET123&chain=solana", timeout=10)
        missing = requests.get(url + "/nope?token=SECRET123", timeout=10)
        requests.post(url + "/__replay/faults", json={"path": "/api/protocols", "kind": "status", "status": 429},
                      timeout=10)
        limited = requests.get(url + "/api/protocols?apikey=SECRET123", timeout=10)
        log = requests.get(url + "/__replay/requests", timeout=10).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            returncode = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        reader.join(timeout=5)
        while not lines.empty():
            output.append(lines.get_nowait() or "")
    stderr = "".join(output)

    assert ok.json() == [{"slug": "aave"}]
    assert missing.status_code == 404
    assert limited.status_code == 429
    assert [entry["query"].get("api-key") for entry in log][:1] == ["SECRET123"]
    assert returncode == 0
    assert "GET /api/protocols?api-key=***&chain=solana 200" in stderr
    assert "GET /nope?token=*** 404" in stderr
    assert "GET /api/protocols?apikey=*** 429" in stderr
    assert "SECRET123" not in stderr
