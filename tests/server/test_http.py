"""The HTTP+JSON face over real HTTP on a free port, beside the RESP port."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest

from tests.conftest import free_port, start_aki


class Http:
    def __init__(self, port: int, auth: str | None = None) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.auth = auth
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def request(self, method: str, path: str, body: object = None, raw: bytes | None = None,
                headers: dict | None = None) -> tuple[int, object]:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.auth:
            req.add_header("Authorization", self.auth)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with self.opener.open(req, timeout=10) as resp:
                payload = resp.read()
                status = resp.status
                ctype = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            payload = err.read()
            status = err.code
            ctype = err.headers.get("Content-Type", "")
        if "json" in ctype:
            return status, json.loads(payload)
        return status, payload.decode()


@pytest.fixture(scope="module")
def http_server(tmp_path_factory):
    port = free_port()
    srv = start_aki(tmp_path_factory.mktemp("http"), "--http-port", str(port))
    srv.http_port = port
    _wait_http(port)
    yield srv
    srv.stop()


def _wait_http(port: int) -> None:
    import time

    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            Http(port).request("GET", "/v1/health")
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("HTTP port did not open")


@pytest.fixture
def http(http_server):
    http_server.client().flushall()
    return Http(http_server.http_port)


def test_health(http):
    assert http.request("GET", "/v1/health") == (200, {"ok": True})


def test_put_get_delete_round_trip(http, http_server):
    value = bytes(range(256))
    status, body = http.request("PUT", "/v1/kv/bin", {"value": base64.b64encode(value).decode()})
    assert (status, body) == (200, {"ok": True})
    assert http_server.client().get("bin") == value  # a RESP client sees the HTTP write
    status, body = http.request("GET", "/v1/kv/bin")
    assert status == 200
    assert body == {"key": "bin", "value": base64.b64encode(value).decode(), "encoding": "base64"}
    assert http.request("PUT", "/v1/kv/txt", {"value": "héllo", "encoding": "utf-8"})[0] == 200
    assert http_server.client().get("txt") == "héllo".encode()
    assert http.request("DELETE", "/v1/kv/txt") == (200, {"ok": True})
    assert http.request("GET", "/v1/kv/txt")[0] == 404


def test_keys_are_percent_decoded_path_segments(http, http_server):
    assert http.request("PUT", "/v1/kv/a%2Fb%20c", {"value": "eA=="})[0] == 200
    assert http_server.client().get("a/b c") == b"x"
    assert http.request("GET", "/v1/kv/a%2Fb%20c")[1]["key"] == "a/b c"


def test_missing_and_wrong_type_are_404(http, http_server):
    status, body = http.request("GET", "/v1/kv/nothing")
    assert status == 404 and "error" in body
    http_server.client().rpush("list", "x")
    status, body = http.request("GET", "/v1/kv/list")
    assert status == 404 and "error" in body


@pytest.mark.parametrize("raw,status", [
    (b"not json", 400),
    (b'{"value": 5}', 400),
    (b'{"nope": "x"}', 400),
    (b'{"value": "!!!", "encoding": "base64"}', 400),
    (b'{"value": "x", "encoding": "latin-1"}', 400),
    (b"[1, 2]", 400),
])
def test_put_errors_are_json_4xx(http, raw, status):
    got, body = http.request("PUT", "/v1/kv/k", raw=raw)
    assert got == status
    assert isinstance(body, dict) and "error" in body


def test_oversize_body_is_413(http):
    big = b'{"value": "' + b"A" * (65 * 1024 * 1024) + b'"}'
    status, body = http.request("PUT", "/v1/kv/k", raw=big)
    assert status == 413 and "error" in body


def test_command(http):
    assert http.request("POST", "/v1/command", {"args": ["HSET", "h", "f", "v"]}) == (200, {"result": 1})
    assert http.request("POST", "/v1/command", {"args": ["HGETALL", "h"]}) == (200, {"result": [["f", "v"]]})
    assert http.request("POST", "/v1/command", {"args": ["SET", {"base64": "/w=="}, 1]})[0] == 200
    status, body = http.request("POST", "/v1/command", {"args": ["GET", {"base64": "/w=="}]})
    assert (status, body) == (200, {"result": "1"})
    http.request("POST", "/v1/command", {"args": ["SET", "b", {"base64": "/w=="}]})
    assert http.request("POST", "/v1/command", {"args": ["GET", "b"]})[1] == {"result": {"base64": "/w=="}}
    status, body = http.request("POST", "/v1/command", {"args": ["INCR", "h"]})
    assert status == 400
    assert body == {"error": "WRONGTYPE Operation against a key holding the wrong kind of value"}
    http.request("POST", "/v1/command", {"args": ["RPUSH", "l", *"abcdefghij"]})
    assert http.request("POST", "/v1/command", {"args": ["LRANGE", "l", 0, -1]}) == (
        200, {"result": list("abcdefghij")})  # a long range goes out as wire bytes: decoded
    assert http.request("POST", "/v1/command", {"args": []})[0] == 400
    assert http.request("POST", "/v1/command", {"args": [None]})[0] == 400
    assert http.request("POST", "/v1/command", raw=b"{")[0] == 400


def test_checkpoint(http, http_server):
    http.request("PUT", "/v1/kv/k", {"value": "eA=="})
    assert http.request("POST", "/v1/checkpoint") == (200, {"ok": True})


def test_metrics(http):
    http.request("PUT", "/v1/kv/k", {"value": "eA=="})
    status, text = http.request("GET", "/metrics")
    assert status == 200
    assert "aki_commands_total " in text
    assert 'aki_keys{db="0"} 1' in text
    assert "aki_commits_total" in text and "aki_wal_bytes" in text


def test_openapi_document(http):
    status, doc = http.request("GET", "/v1/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) >= {"/v1/health", "/v1/kv/{key}", "/v1/command", "/v1/checkpoint"}


def test_requirepass(tmp_path):
    port = free_port()
    srv = start_aki(tmp_path, "--http-port", str(port), "--requirepass", "pw")
    try:
        _wait_http(port)
        assert Http(port).request("GET", "/v1/kv/x")[0] == 401
        assert Http(port, "Bearer wrong").request("GET", "/v1/kv/x")[0] == 401
        assert Http(port, "Bearer pw").request("GET", "/v1/kv/x")[0] == 404
        basic = "Basic " + base64.b64encode(b"default:pw").decode()
        assert Http(port, basic).request("PUT", "/v1/kv/x", {"value": "eA=="})[0] == 200
        assert Http(port).request("GET", "/v1/health")[0] == 200
    finally:
        srv.stop()


def test_schemathesis_no_5xx(http_server):
    """Property-based requests generated from the OpenAPI document: never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    base = f"http://127.0.0.1:{http_server.http_port}"
    schema = schemathesis.openapi.from_url(f"{base}/v1/openapi.json")
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(base_url=base)
            if response.status_code >= 500:
                failures.append((case.method, case.path, response.status_code, response.text[:200]))

        check()
    assert not failures


def test_protected_mode_refuses_nonloopback_http_clients(tmp_path):
    """The HTTP face listens where RESP does (here ``* -::*``, Redis's default): without a
    password only loopback clients are served, as protected mode has it for RESP clients
    (127.0.0.2 is not 127.0.0.1 to it, as to Redis)."""
    import http.client

    port = free_port()
    srv = start_aki(tmp_path, "--http-port", str(port), "--bind", "* -::*")
    try:
        _wait_http(port)
        outside = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                             source_address=("127.0.0.2", 0))
        outside.request("GET", "/v1/kv/x")
        resp = outside.getresponse()
        assert resp.status == 403 and "protected mode" in json.loads(resp.read())["error"]
        outside.close()
        assert Http(port).request("GET", "/v1/health")[0] == 200
    finally:
        srv.stop()
