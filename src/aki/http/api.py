"""The HTTP+JSON face: same event loop, same ``execute()`` road, same commits.

Every request runs its command through ``core.dispatch.execute`` with an HTTP
client session, then waits for the committer to commit the batch before it
answers, exactly like a RESP reply: an HTTP write is ordered and durable the
same way as a RESP write. ``requirepass`` applies (HTTP Basic with any user
name, or ``Authorization: Bearer <password>``).

Bytes in JSON: a value that is valid UTF-8 is a JSON string; anything else is
``{"base64": "..."}``. ``POST /v1/command`` accepts either form for arguments.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from aiohttp import web

from aki import __version__
from aki.core.dispatch import execute
from aki.core.registry import total_calls
from aki.core.session import Client
from aki.resp.types import (
    BigNumber,
    ErrorReply,
    Push,
    Raw,
    RespSet,
    Status,
    Verbatim,
    _NullArray,
)
from aki.scripting.convert import parse_raw
from aki.server.protected import DENIED, refuses

if TYPE_CHECKING:
    from aki.server.listener import App

log = logging.getLogger("aki.http")

MAX_BODY = 64 * 1024 * 1024


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def to_json(value: Any) -> Any:
    """A reply value as JSON: bytes as UTF-8 text when valid, else {"base64": ...}."""
    if isinstance(value, Raw):  # wire bytes a handler built (LRANGE, GEO ...): the value
        value = parse_raw(bytes(value))
    t = type(value)
    if t is bytes or t is Verbatim:
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return {"base64": base64.b64encode(value).decode("ascii")}
    if value is None or t is _NullArray:
        return None
    if t is bool or t is int or t is BigNumber:
        return int(value) if t is not bool else value
    if t is float:
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        return value
    if t is Status:
        return str(value)
    if t in (list, tuple, RespSet, Push):
        return [to_json(v) for v in value]
    if t is dict:
        return [[to_json(k), to_json(v)] for k, v in value.items()]
    if t is ErrorReply:
        return {"error": value.message}
    return str(value)


def _arg(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        raise ValueError("arguments must be strings, numbers or {\"base64\": ...}")
    if isinstance(value, (int, float)):
        return str(value).encode()
    if isinstance(value, dict) and set(value) == {"base64"} and isinstance(value["base64"], str):
        return base64.b64decode(value["base64"], validate=True)
    raise ValueError("arguments must be strings, numbers or {\"base64\": ...}")


class HttpFace:
    def __init__(self, app: App) -> None:
        self.app = app
        self.server = app.server
        self.runner: web.AppRunner | None = None

    # -- running a command on the one road ------------------------------------------

    async def run(self, argv: list[bytes], client: Client | None = None) -> object:
        client = client or Client(self.server, addr="http:0", kind="normal")
        client.authenticated = True
        reply = execute(client, argv)
        engine = self.server.engine
        if engine.in_tx:
            fut: asyncio.Future = asyncio.get_running_loop().create_future()
            self.app.committer.hold(_Waiter(fut))
            ok, error = await fut
            if not ok:
                return ErrorReply(error.decode().lstrip("-").strip())
        return reply

    # -- auth ------------------------------------------------------------------------

    def authorized(self, request: web.Request) -> bool:
        """As the default user (the one HTTP commands run as): its password, which ACL
        SETUSER can set as well as requirepass; none needed while it is on and nopass."""
        acl = self.server.extensions.get("acl")
        password = self.server.config.requirepass
        if acl is not None:
            if acl.default_open():
                return True
        elif not password:
            return True
        header = request.headers.get("Authorization", "")
        given = None
        if header.startswith("Bearer "):
            given = header[7:]
        elif header.startswith("Basic "):
            try:
                raw = base64.b64decode(header[6:], validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            given = raw.split(":", 1)[1] if ":" in raw else raw
        if given is None:
            return False
        if acl is not None:
            return acl.default.check_password(given.encode())
        return hmac.compare_digest(given.encode(), password.encode())

    @web.middleware
    async def middleware(self, request: web.Request, handler):
        transport = request.transport
        if transport is not None and refuses(self.server, transport.get_extra_info("peername")):
            return _error(403, DENIED[1:].rstrip().decode())
        if request.path not in ("/v1/health", "/v1/openapi.json") and not self.authorized(request):
            return web.json_response({"error": "NOAUTH Authentication required."}, status=401,
                                     headers={"WWW-Authenticate": 'Basic realm="aki"'})
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(413, "request body too large")
        except web.HTTPException:
            raise
        except Exception as exc:  # never a 500 with an HTML page
            log.exception("HTTP handler failed")
            return _error(500, f"internal error: {exc}")

    # -- handlers --------------------------------------------------------------------

    @staticmethod
    def _key(request: web.Request) -> bytes:
        raw = request.raw_path.split("?", 1)[0]
        return unquote_to_bytes(raw[len("/v1/kv/"):])

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def get_kv(self, request: web.Request) -> web.Response:
        key = self._key(request)
        reply = await self.run([b"GET", key])
        if isinstance(reply, ErrorReply):
            if reply.message.startswith("WRONGTYPE"):
                return _error(404, "key does not hold a string value")
            return _error(400, reply.message)
        if reply is None:
            return _error(404, "no such key")
        assert isinstance(reply, bytes)
        return web.json_response({"key": key.decode("utf-8", "replace"),
                                  "value": base64.b64encode(reply).decode("ascii"),
                                  "encoding": "base64"})

    async def put_kv(self, request: web.Request) -> web.Response:
        key = self._key(request)
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "body is not valid JSON")
        if not isinstance(body, dict) or "value" not in body or not isinstance(body["value"], str):
            return _error(400, 'body must be {"value": "...", "encoding": "base64"|"utf-8"}')
        encoding = body.get("encoding", "base64")
        if encoding == "base64":
            try:
                value = base64.b64decode(body["value"], validate=True)
            except (binascii.Error, ValueError):
                return _error(400, "value is not valid base64")
        elif encoding == "utf-8":
            value = body["value"].encode("utf-8", "surrogatepass")
        else:
            return _error(400, f"unknown encoding {encoding!r}: use \"base64\" or \"utf-8\"")
        reply = await self.run([b"SET", key, value])
        if isinstance(reply, ErrorReply):
            return _error(400, reply.message)
        return web.json_response({"ok": True})

    async def delete_kv(self, request: web.Request) -> web.Response:
        reply = await self.run([b"DEL", self._key(request)])
        if isinstance(reply, ErrorReply):
            return _error(400, reply.message)
        return web.json_response({"ok": True})

    async def checkpoint(self, request: web.Request) -> web.Response:
        self.app.committer.flush()
        await self.app.checkpointer.run_now()
        return web.json_response({"ok": True})

    async def command(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "body is not valid JSON")
        args = body.get("args") if isinstance(body, dict) else None
        if not isinstance(args, list) or not args:
            return _error(400, 'body must be {"args": ["COMMAND", "arg", ...]}')
        try:
            argv = [_arg(a) for a in args]
        except (ValueError, binascii.Error) as exc:
            return _error(400, str(exc))
        name = argv[0].lower()
        if name in (b"subscribe", b"psubscribe", b"ssubscribe", b"monitor", b"multi", b"watch",
                    b"blpop", b"brpop", b"blmove", b"brpoplpush", b"blmpop", b"bzpopmin",
                    b"bzpopmax", b"bzmpop", b"xread", b"xreadgroup", b"wait", b"shutdown"):
            return _error(400, f"'{name.decode()}' needs a connection: use the RESP port")
        reply = await self.run(argv)
        if isinstance(reply, ErrorReply):
            return _error(400, reply.message)
        return web.json_response({"result": to_json(reply)})

    async def metrics(self, request: web.Request) -> web.Response:
        server = self.server
        engine = server.engine
        size, wal = engine.file_sizes()
        lines = [
            "# HELP aki_commands_total Commands processed.",
            "# TYPE aki_commands_total counter",
            f"aki_commands_total {total_calls()}",
            "# HELP aki_commits_total SQLite commits (one per batch).",
            "# TYPE aki_commits_total counter",
            f"aki_commits_total {engine.commits}",
            "# HELP aki_fsyncs_total WAL fsyncs.",
            "# TYPE aki_fsyncs_total counter",
            f"aki_fsyncs_total {engine.fsyncs}",
            "# HELP aki_checkpoints_total Checkpoints run.",
            "# TYPE aki_checkpoints_total counter",
            f"aki_checkpoints_total {engine.checkpoints}",
            "# HELP aki_file_bytes Size of the .aki file.",
            "# TYPE aki_file_bytes gauge",
            f"aki_file_bytes {size}",
            "# HELP aki_wal_bytes Size of the -wal file.",
            "# TYPE aki_wal_bytes gauge",
            f"aki_wal_bytes {wal}",
            "# HELP aki_connected_clients Connected RESP clients.",
            "# TYPE aki_connected_clients gauge",
            f"aki_connected_clients {len(server.clients)}",
            "# HELP aki_keyspace_hits_total Key lookups that found a key.",
            "# TYPE aki_keyspace_hits_total counter",
            f"aki_keyspace_hits_total {server.ks.hits}",
            "# HELP aki_keyspace_misses_total Key lookups that found nothing.",
            "# TYPE aki_keyspace_misses_total counter",
            f"aki_keyspace_misses_total {server.ks.misses}",
            "# HELP aki_expired_keys_total Keys removed by expiry.",
            "# TYPE aki_expired_keys_total counter",
            f"aki_expired_keys_total {server.stats.expired_keys}",
            "# HELP aki_uptime_seconds Seconds since start.",
            "# TYPE aki_uptime_seconds gauge",
            f"aki_uptime_seconds {int(time.time() - server.start_time)}",
            "# HELP aki_keys Keys per database.",
            "# TYPE aki_keys gauge",
        ]
        for db in range(engine.databases):
            keys, expires = server.ks.db_stats(db)
            if keys:
                lines.append(f'aki_keys{{db="{db}"}} {keys}')
        lines.append("# HELP aki_keys_with_expiry Keys with a TTL per database.")
        lines.append("# TYPE aki_keys_with_expiry gauge")
        for db in range(engine.databases):
            keys, expires = server.ks.db_stats(db)
            if keys:
                lines.append(f'aki_keys_with_expiry{{db="{db}"}} {expires}')
        return web.Response(text="\n".join(lines) + "\n",
                            content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def openapi(self, request: web.Request) -> web.Response:
        return web.json_response(openapi_document())

    # -- lifecycle -------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self.middleware], client_max_size=MAX_BODY)
        app.router.add_get("/v1/health", self.health)
        app.router.add_get("/v1/kv/{key:.+}", self.get_kv)
        app.router.add_put("/v1/kv/{key:.+}", self.put_kv)
        app.router.add_delete("/v1/kv/{key:.+}", self.delete_kv)
        app.router.add_post("/v1/checkpoint", self.checkpoint)
        app.router.add_post("/v1/command", self.command)
        app.router.add_get("/metrics", self.metrics)
        app.router.add_get("/v1/openapi.json", self.openapi)
        return app

    async def start(self, host: str, port: int) -> None:
        self.runner = web.AppRunner(self.make_app(), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, host, port)
        await site.start()
        log.info("HTTP API listening on %s:%d", host, port)

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class _Waiter:
    """A committer holder that resolves a future when the batch is committed."""

    def __init__(self, fut: asyncio.Future) -> None:
        self.fut = fut

    def release(self, ok: bool, error: bytes) -> None:
        if not self.fut.done():
            self.fut.set_result((ok, error))


_BYTES = {"oneOf": [{"type": "string"},
                    {"type": "object", "properties": {"base64": {"type": "string"}},
                     "required": ["base64"], "additionalProperties": False}]}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
_OK = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def _resp(desc: str, schema: dict) -> dict:
    return {"description": desc, "content": {"application/json": {"schema": schema}}}


def openapi_document() -> dict:
    """The OpenAPI 3 description of this face (served at /v1/openapi.json)."""
    key_param = {"name": "key", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "the key, percent-encoded"}
    errors = {"400": _resp("bad request", _ERROR), "401": _resp("authentication required", _ERROR),
              "413": _resp("body too large", _ERROR)}
    return {
        "openapi": "3.0.3",
        "info": {"title": "aki HTTP API", "version": __version__},
        "paths": {
            "/v1/health": {"get": {"responses": {"200": _resp("alive", _OK)}}},
            "/v1/kv/{key}": {
                "parameters": [key_param],
                "get": {"responses": {
                    "200": _resp("the value", {
                        "type": "object",
                        "properties": {"key": {"type": "string"}, "value": {"type": "string"},
                                       "encoding": {"type": "string", "enum": ["base64"]}},
                        "required": ["key", "value", "encoding"]}),
                    "404": _resp("missing, or not a string", _ERROR), **errors}},
                "put": {
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {
                        "type": "object",
                        "properties": {"value": {"type": "string"},
                                       "encoding": {"type": "string", "enum": ["base64", "utf-8"]}},
                        "required": ["value"]}}}},
                    "responses": {"200": _resp("stored", _OK), **errors}},
                "delete": {"responses": {"200": _resp("deleted (or absent)", _OK), **errors}},
            },
            "/v1/checkpoint": {"post": {"responses": {"200": _resp("checkpointed", _OK), **errors}}},
            "/v1/command": {"post": {
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "type": "object",
                    "properties": {"args": {"type": "array", "minItems": 1, "items": _BYTES}},
                    "required": ["args"]}}}},
                "responses": {"200": _resp("the reply", {"type": "object",
                                                          "properties": {"result": {}}}),
                              **errors}}},
            "/metrics": {"get": {"responses": {"200": {
                "description": "Prometheus text format",
                "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        },
    }


async def start_http(app: App) -> HttpFace:
    cfg = app.server.config
    face = HttpFace(app)
    host = cfg.bind.split()[0].lstrip("-") if cfg.bind else "127.0.0.1"
    if host == "*":
        host = "0.0.0.0"
    await face.start(host, cfg.http_port)
    app.server.extensions["http"] = face
    return face
