"""The RESP server process: listeners, timers, signals, clean shutdown.

Shutdown (SIGTERM, SIGINT, SHUTDOWN) closes listeners, commits the open
batch, runs a TRUNCATE checkpoint and closes the file, so ``data.aki`` alone
holds everything and the ``-wal``/``-shm`` sidecars are left consistent.
"""

from __future__ import annotations

import asyncio
import errno
import faulthandler
import functools
import io
import logging
import os
import signal
import socket
import ssl
import sys
import time
from pathlib import Path

from aki import __version__
from aki.commands.server import save_points_due
from aki.config import Config
from aki.core.dispatch import run_internal
from aki.core.state import Server
from aki.durability.checkpoint import Checkpointer
from aki.durability.committer import Committer
from aki.server import tls
from aki.server.connection import RespConnection
from aki.server.shutdown import Shutdown, stop_bgsave

log = logging.getLogger("aki")
RECLAIM_STEP = 500  # element rows of a deleted collection reclaimed per loop pass


class App:
    """Glue between the Server state and asyncio: committer, timers, listeners."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.loop = loop
        self.committer = Committer(server, loop)
        self.checkpointer = Checkpointer(server, loop)
        self.committer.after_commit.append(self.checkpointer.after_commit)
        self.listeners: list[asyncio.AbstractServer] = []
        self.tcp_listeners: list[asyncio.AbstractServer] = []
        # tls-port: its sockets, and the context each new TLS connection is handed
        self.tls_listeners: list[TLSAcceptor] = []
        self.tls_ctx: ssl.SSLContext | None = None
        self.tls_stale = False  # tls-* changed while tls-port was 0: rebuild when it is set
        self.stopping = asyncio.Event()
        self.tasks: list[asyncio.Task] = []
        self.shutdown = Shutdown(self)
        server.extensions["app"] = self
        ks = server.ks

        def stale() -> None:
            ks.fresh = False

        # reads served from the row cache re-check for other writers once per iteration
        ks.schedule_stale = lambda: loop.call_soon(stale)

    def protocol(self) -> RespConnection:
        return RespConnection(self)

    async def start(self) -> None:
        cfg = self.server.config
        self.bound = cfg.bind  # the addresses listened on (CONFIG SET bind restores them)
        if cfg.port:
            try:
                socks = bind_tcp(cfg.bind, cfg.port, cfg.tcp_backlog)
            except OSError as exc:
                raise SystemExit(f"Could not create server TCP listening socket "
                                 f"{cfg.bind}:{cfg.port}: {exc}") from exc
            await self._serve_sockets(socks)
        if cfg.tls_port:
            try:
                socks = bind_tcp(cfg.bind, cfg.tls_port, cfg.tcp_backlog)
            except OSError as exc:
                log.warning("Failed listening on port %d (TLS), aborting.", cfg.tls_port)
                raise SystemExit(f"Could not create server TLS listening socket "
                                 f"{cfg.bind}:{cfg.tls_port}: {exc}") from exc
            self._serve_tls(socks)
        cfg.on_change("port", lambda port: self._rebind(cfg.bind, port))
        cfg.on_change("bind", lambda bind: self._rebind(
            bind, cfg.port, "Failed to bind to specified addresses.", tls_too=True))
        cfg.on_apply(tls.CONTEXT_DIRECTIVES, self._tls_reconfigure)
        cfg.on_apply(("tls-port",), self._tls_port_changed)
        cfg.on_change("tls-auth-clients", self._tls_auth_changed)
        if cfg.unixsocket:
            try:
                os.unlink(cfg.unixsocket)
            except FileNotFoundError:
                pass
            srv = await self.loop.create_unix_server(self.protocol, cfg.unixsocket)
            os.chmod(cfg.unixsocket, cfg.unixsocketperm or 0o700)
            self.listeners.append(srv)
        self.tasks.append(self.loop.create_task(self.committer.everysec()))
        self.tasks.append(self.loop.create_task(self._cron()))

    async def _serve_sockets(self, socks: list[socket.socket]) -> None:
        for sock in socks:
            srv = await self.loop.create_server(self.protocol, sock=sock)
            self.tcp_listeners.append(srv)
            self.listeners.append(srv)

    def _rebind(self, bind: str, port: int,
                error: str = "Unable to listen on this port. Check server logs.",
                tls_too: bool = False) -> None:
        """CONFIG SET port/bind: bind the new sockets now (or refuse with Redis's text for
        that directive), then swap. A new ``bind`` moves the TLS listeners too, as
        Redis's changeBindAddr does; nothing changes unless both can move."""
        from aki.config import ConfigError

        cfg = self.server.config
        tls_port = cfg.tls_port if tls_too else 0
        try:
            socks, tls_socks = self._bind_both(bind, port, tls_port)
        except OSError:
            if not tls_too:
                raise ConfigError(error) from None
            # The new addresses may overlap the ones in use ("127.0.0.1 -::1" ->
            # "127.0.0.1"): as changeBindAddr, close the old listeners first, and bind
            # the old addresses again if the new ones still fail.
            self._close_tcp()
            self._close_tls()
            try:
                socks, tls_socks = self._bind_both(bind, port, tls_port)
            except OSError:
                log.warning("Failed to bind, trying to restore old listening sockets.")
                try:
                    socks, tls_socks = self._bind_both(self.bound, cfg.port, cfg.tls_port)
                except OSError as exc:  # as Redis: logged, and the server goes on
                    log.warning("Failed to restore old listening sockets: %s", exc)
                    raise ConfigError(error) from None
                self.loop.create_task(self._serve_sockets(socks))
                self._serve_tls(tls_socks)
                raise ConfigError(error) from None
        self.bound = bind
        self._close_tcp()
        self.loop.create_task(self._serve_sockets(socks))
        if tls_port:
            self._close_tls()
            self._serve_tls(tls_socks)

    def _bind_both(self, bind: str, port: int,
                   tls_port: int) -> tuple[list[socket.socket], list[socket.socket]]:
        """Listening sockets for ``port`` and ``tls_port`` (0: none) on ``bind``; on a
        failure none stays open."""
        backlog = self.server.config.tcp_backlog
        socks = bind_tcp(bind, port, backlog) if port else []
        try:
            tls_socks = bind_tcp(bind, tls_port, backlog) if tls_port else []
        except OSError:
            for sock in socks:
                sock.close()
            raise
        return socks, tls_socks

    def _close_tcp(self) -> None:
        old = self.tcp_listeners
        self.tcp_listeners = []
        for srv in old:
            srv.close()
            if srv in self.listeners:
                self.listeners.remove(srv)

    # -- TLS -------------------------------------------------------------------------------

    def _serve_tls(self, socks: list[socket.socket]) -> None:
        for sock in socks:
            self.tls_listeners.append(TLSAcceptor(self, sock))

    def _close_tls(self) -> None:
        for acceptor in self.tls_listeners:
            acceptor.close()
        self.tls_listeners = []

    def _tls_reconfigure(self) -> None:
        """applyTlsCfg: with tls-port on, build the context from the new values now (new
        connections get it; a failure changes nothing and answers Redis's error)."""
        if not self.server.config.tls_port:
            self.tls_stale = True
            return
        self.tls_ctx = tls_context(self.server.config)
        self.tls_stale = False

    def _tls_port_changed(self) -> None:
        """applyTLSPort: configure TLS if it is not (or if tls-* changed meanwhile, where
        Redis would keep its older context), then listen on the new port (0: none)."""
        from aki.config import ConfigError

        cfg = self.server.config
        if cfg.tls_port and (self.tls_ctx is None or self.tls_stale):
            self.tls_ctx = tls_context(cfg)
            self.tls_stale = False
        try:
            socks = bind_tcp(cfg.bind, cfg.tls_port, cfg.tcp_backlog) if cfg.tls_port else []
        except OSError as exc:
            log.warning("Could not create server TCP listening socket %s:%d: %s",
                        cfg.bind, cfg.tls_port, exc)
            raise ConfigError("Unable to listen on this port. Check server logs.") from None
        self._close_tls()
        self._serve_tls(socks)

    def _tls_auth_changed(self, mode: str) -> None:
        """tls-auth-clients: Redis reads it when it accepts a connection, so it applies to
        the next connections without rebuilding the context."""
        if self.tls_ctx is not None:
            self.tls_ctx.verify_mode = tls.VERIFY_MODES[mode]

    async def _cron(self) -> None:
        """serverCron: active expiry and reclaiming deleted big collections, in small steps."""
        server = self.server
        ks = server.ks
        while True:
            hz = max(1, min(server.config.hz, 500))
            await asyncio.sleep(1.0 / hz)
            if server.cron_paused:
                continue
            self.shutdown.tick()
            if server.active_expire:
                # Redis's activeExpireCycle: active-expire-effort 1..10 raises the keys
                # looked at per step (20 + 5 per level) and the share of the tick (25 %
                # + 2 per level)
                effort = server.config.active_expire_effort - 1
                per_step = 20 + 5 * effort
                start = time.perf_counter()
                deadline = start + (25 + 2 * effort) / 100 / hz
                while True:
                    n = run_internal(server, functools.partial(ks.expire_cycle, per_step))
                    if not n or n < per_step or time.perf_counter() > deadline:
                        break
                server.add_latency("expire-cycle", int((time.perf_counter() - start) * 1000))
            if ks.has_garbage():
                # small steps, each its own loop pass and commit, so a client waits for
                # one step (a few ms), not for the whole tick's share of reclaiming
                deadline = time.perf_counter() + 0.25 / hz
                while run_internal(server, lambda: ks.reclaim_garbage(RECLAIM_STEP)) \
                        == RECLAIM_STEP and time.perf_counter() < deadline:
                    await asyncio.sleep(0)
            aof = server.extensions.get("aof")
            if aof is not None:
                aof.maybe_auto_rewrite()
            save_points_due(server)
            self._close_idle_clients()
            for conn in list(server.extensions.get("backlogged", ())):
                conn._check_output()  # soft output limits run out even without traffic

    def _close_idle_clients(self) -> None:
        timeout = self.server.config.timeout
        if not timeout:
            return
        now = time.time()
        for c in list(self.server.clients.values()):
            if c.blocked is None and not c.in_pubsub_mode() and c.kind == "normal" \
                    and now - c.last_interaction > timeout:
                close = getattr(c, "close_connection", None)
                if close:
                    close()

    def _signal_shutdown(self, name: str, value: str) -> None:
        """SIGTERM/SIGINT, with the flags of shutdown-on-sigterm / shutdown-on-sigint."""
        self.shutdown.signal(name, frozenset(str(value).split()) - {"default"})

    async def stop(self) -> None:
        await stop_bgsave(self.server)  # its thread would hold the exit until it ends
        for srv in self.listeners:
            srv.close()
        self._close_tls()
        for t in self.tasks:
            t.cancel()
        self.committer.flush()
        await self.checkpointer.idle()
        self.checkpointer.close()
        server = self.server
        for hook in server.extensions.get("shutdown_hooks", []):
            try:
                hook()
            except Exception:
                log.exception("shutdown hook failed")
        server.close()
        if server.config.unixsocket:
            try:
                os.unlink(server.config.unixsocket)
            except OSError:
                pass


def tls_context(cfg: Config) -> ssl.SSLContext:
    """tlsConfigure for CONFIG SET: the new context, or Redis's reply after logging why."""
    from aki.config import ConfigError

    try:
        return tls.build_context(cfg)
    except tls.TLSConfigError as exc:
        log.warning("%s", exc)
        raise ConfigError("Unable to update TLS configuration. Check server logs.") from None


class TLSConnection(RespConnection):
    """The RESP connection on a TLS transport: the same class, but the TLS layer may still
    hold handshake bytes (session tickets) when connection_made lowers the write limit,
    so uvloop asks to pause before the client exists; that is not a slow reader."""

    __slots__ = ()

    def pause_writing(self) -> None:
        if hasattr(self, "client"):
            super().pause_writing()


class TLSAcceptor:
    """One listening socket of tls-port. aki accepts here itself, instead of through
    ``create_server(ssl=...)``, so that each connection is handed the context current when
    it arrives (a CONFIG SET of new certificates reaches new connections only) and a
    failed handshake (plain RESP sent to the TLS port, no client certificate) is logged
    as Redis logs it. Once the handshake is done the connection is the RespConnection of
    the TCP port (TLSConnection adds only a guard). These sockets are not in
    ``App.listeners``: a busy script's accept loop there speaks plain TCP."""

    MAX_ACCEPTS_PER_CALL = 1000  # as Redis's acceptTLSHandler

    def __init__(self, app: App, sock: socket.socket) -> None:
        self.app = app
        self.sock = sock
        self.handshakes: set[asyncio.Task] = set()  # strong references while they run
        app.loop.add_reader(sock.fileno(), self._accept)

    def _accept(self) -> None:
        for _ in range(self.MAX_ACCEPTS_PER_CALL):
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: Redis logs and goes on
                log.warning("Accepting client connection: %s", exc.strerror or exc)
                return
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = self.app.loop.create_task(self._handshake(conn, addr))
            self.handshakes.add(task)
            task.add_done_callback(self.handshakes.discard)

    async def _handshake(self, conn: socket.socket, addr: object) -> None:
        app = self.app
        ctx = app.tls_ctx
        if ctx is None:  # not reachable: a TLS listener exists only with a context
            conn.close()
            return
        try:
            await app.loop.connect_accepted_socket(lambda: TLSConnection(app), conn, ssl=ctx)
        except (OSError, ValueError) as exc:
            # uvloop owns the socket and closes it; no client was created for it (Redis
            # counts the connection all the same)
            app.server.stats.total_connections += 1
            where = _fmt_peer(addr)
            log.warning("Error accepting a client connection: %s (addr=%s)",
                        tls.accept_error_text(exc), where)

    def close(self) -> None:
        self.app.loop.remove_reader(self.sock.fileno())
        self.sock.close()


def _fmt_peer(addr: object) -> str:
    if isinstance(addr, tuple) and len(addr) >= 2:
        return f"{addr[0]}:{addr[1]}"
    return str(addr)


def tls_startup(cfg: Config) -> ssl.SSLContext | None:
    """initServer's TLS check: with tls-port set, a context or exit(1) after Redis's two
    log lines (the reason, then "Failed to configure TLS ...")."""
    if not cfg.tls_port:
        return None
    try:
        return tls.build_context(cfg)
    except tls.TLSConfigError as exc:
        log.warning("%s", exc)
        log.warning("Failed to configure TLS. Check logs for more info.")
        raise SystemExit("Failed to configure TLS. Check logs for more info.") from None


# errno values for which Redis's listenToPort skips an address even when not optional
_NO_PROTOCOL = {errno.ENOPROTOOPT, errno.EPROTONOSUPPORT, errno.ESOCKTNOSUPPORT,
                errno.EPFNOSUPPORT, errno.EAFNOSUPPORT}


def bind_tcp(bind: str, port: int, backlog: int) -> list[socket.socket]:
    """Bound, listening sockets for every ``bind`` address, as Redis's listenToPort:
    an empty ``bind`` listens on no TCP socket, ``*``/``::*`` are the IPv4/IPv6 wildcards
    and a ``-addr`` is skipped when the host has no such address."""
    socks: list[socket.socket] = []
    try:
        for h in bind.split():
            optional = h.startswith("-")
            host = h[1:] if optional else h
            host = {"*": "0.0.0.0", "::*": "::"}.get(host, host)
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                           flags=socket.AI_PASSIVE)
                family, type_, proto, _, addr = infos[0]
                sock = socket.socket(family, type_, proto)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    if family == socket.AF_INET6:
                        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                    sock.bind(addr)
                    sock.listen(backlog)
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sock.setblocking(False)
                except OSError:
                    sock.close()
                    raise
            except socket.gaierror:
                if optional:
                    continue
                raise
            except OSError as exc:
                if exc.errno in _NO_PROTOCOL or (optional and exc.errno == errno.EADDRNOTAVAIL):
                    continue
                raise
            socks.append(sock)
    except OSError:
        for sock in socks:
            sock.close()
        raise
    return socks


def setup_logging(cfg: Config) -> None:
    level = {"debug": logging.DEBUG, "verbose": logging.INFO, "notice": logging.INFO,
             "warning": logging.WARNING}.get(cfg.loglevel, logging.INFO)
    handler: logging.Handler
    if cfg.logfile:
        handler = logging.FileHandler(cfg.logfile)
    else:
        handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter(
        f"{os.getpid()}:M %(asctime)s.%(msecs)03d %(levelname_char)s %(message)s",
        datefmt="%d %b %Y %H:%M:%S",
    ))
    handler.addFilter(_LevelChar())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # a crash report, as Redis's: on SIGSEGV, SIGFPE, SIGABRT, SIGBUS or SIGILL (a fault in
    # a C extension, DEBUG SEGFAULT/PANIC) every thread's Python stack goes to the log
    stream = getattr(handler, "stream", None)
    if stream is not None and hasattr(stream, "fileno"):
        try:
            faulthandler.enable(file=stream, all_threads=True)
        except (OSError, ValueError, io.UnsupportedOperation):
            pass  # a log stream without a file descriptor: no report


class _LevelChar(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.levelname_char = {"DEBUG": ".", "INFO": "*", "WARNING": "#", "ERROR": "#",
                                 "CRITICAL": "#"}.get(record.levelname, "*")
        return True


async def serve(cfg: Config, inert: list[str] | None = None) -> int:
    """Run the server until shutdown; returns the process exit code."""
    loop = asyncio.get_running_loop()
    log.info("aki %s (Redis %s compatible) starting, pid=%d", __version__, "7.0.15", os.getpid())
    for name in sorted(set(inert or [])):
        log.info("config directive '%s' accepted but inert: aki has no such subsystem", name)
    tls_ctx = tls_startup(cfg)  # before the file is opened, as Redis checks before loading
    tcp = bool(cfg.bind.strip())
    if not ((cfg.port and tcp) or (cfg.tls_port and tcp) or cfg.unixsocket or cfg.http_port):
        log.warning("Configured to not listen anywhere, exiting.")  # initServer
        return 1
    from aki.durability.adopt import adopt_redis_files

    if not adopt_redis_files(cfg):  # a first open: Redis's dump.rdb or appendonlydir
        return 1
    server = Server(cfg)
    app = App(server, loop)
    app.tls_ctx = tls_ctx
    for hook in startup_hooks:
        hook(app)
    await app.start()
    if cfg.http_port:
        from aki.http.api import start_http

        await start_http(app)
    # read when the signal comes: CONFIG SET may have changed them
    loop.add_signal_handler(signal.SIGTERM,
                            lambda: app._signal_shutdown("SIGTERM", cfg.shutdown_on_sigterm))
    loop.add_signal_handler(signal.SIGINT,
                            lambda: app._signal_shutdown("SIGINT", cfg.shutdown_on_sigint))
    where = []
    if cfg.port:
        where.append(f"{cfg.bind}:{cfg.port}")
    if cfg.tls_port:
        where.append(f"{cfg.bind}:{cfg.tls_port} (TLS)")
    if cfg.unixsocket:
        where.append(cfg.unixsocket)
    log.info("database file %s, listening on %s", server.engine.path, ", ".join(where))
    if cfg.always_show_logo:
        # Redis's logo carries " PID: n", printed once the listeners are up: what test
        # harnesses (Redis's own suite among them) wait for before connecting
        log.info("aki %s (Redis 7.0.15 protocol) port %s PID: %d", __version__,
                 cfg.port or cfg.tls_port, os.getpid())
    pidfile = _create_pidfile(cfg)
    log.info("Ready to accept connections")
    await app.stopping.wait()
    log.info("shutting down: committing, checkpointing, closing %s", server.engine.path)
    http = server.extensions.get("http")
    if http is not None:
        await http.stop()
    await app.stop()
    if pidfile is not None:
        pidfile.unlink(missing_ok=True)
    log.info("aki is now ready to exit, bye bye...")
    return 0  # a failed shutdown keeps serving; a forced one (second SIGINT) exits 1 itself


def _create_pidfile(cfg: Config) -> Path | None:
    """``pidfile``: the process id and a newline, as Redis writes it (relative to ``dir``,
    where Redis has changed directory by then); removed at shutdown. A file that cannot
    be written is a warning, not a failure, as in Redis."""
    if not cfg.pidfile:
        return None
    path = Path(cfg.dir) / cfg.pidfile
    try:
        path.write_text(f"{os.getpid()}\n")
    except OSError as exc:
        log.warning("Failed to write PID file: %s", exc.strerror)
        return None
    return path


# Functions called with the App before listening (HTTP face, replication, AOF ...).
startup_hooks: list = []


def _aof_startup(app: App) -> None:
    """appendonly yes: recover and replay the log, then hook it to the committer."""
    from aki.durability.aof import startup

    startup(app)


startup_hooks.append(_aof_startup)


def _oom_startup(app: App) -> None:
    from aki.server import oomscore

    oomscore.hook(app.server)


startup_hooks.append(_oom_startup)


def _title_startup(app: App) -> None:
    from aki.server import proctitle

    proctitle.hook(app.server)


startup_hooks.append(_title_startup)


def _acl_startup(app: App) -> None:
    """ACL users from the config file's ``user`` lines or the ``aclfile``."""
    from aki.commands.acl import startup

    startup(app.server)


startup_hooks.insert(0, _acl_startup)


def run(cfg: Config, inert: list[str] | None = None) -> int:
    setup_logging(cfg)
    import uvloop

    return uvloop.run(serve(cfg, inert))
