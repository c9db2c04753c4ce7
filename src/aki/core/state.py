"""The server's state, shared by every face (RESP server, embedded library, HTTP).

No sockets and no event loop here: the transport that owns this object
schedules commits (``request_commit``) and timers. Everything that must react
to a command (AOF, replicas, MONITOR, WATCH, tracking, blocked clients) hangs on
the hook lists below, which ``execute()`` alone calls.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aki import __version__
from aki.config import Config
from aki.core.pubsub import PubSub
from aki.storage.engine import Engine
from aki.storage.keyspace import Keyspace

if TYPE_CHECKING:
    from aki.core.session import Client

log = logging.getLogger("aki")


class ReplOnly(list):
    """A propagated command for the replicas only, never the AOF (Redis's PROPAGATE_REPL:
    PUBLISH, SPUBLISH). The AOF feed skips it; everything else treats it as argv."""


class AofOnly(list):
    """A propagated command for the AOF only, never the replicas (PROPAGATE_AOF: a
    script's writes after ``redis.set_repl(redis.REPL_AOF)``)."""


class WholeDb(bytes):
    """The key FLUSHDB, FLUSHALL and SWAPDB report touched, so that ``execute()`` runs
    the touch hooks (tracking's null invalidation, the dirty counter). It equals no
    real key: WATCH, blocked clients and tracking never take it for the key "" (a
    watched or tracked "" is not touched by a flush in Redis)."""

    __slots__ = ()
    __hash__ = bytes.__hash__

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other


WHOLE_DB = WholeDb()


class Stats:
    """Counters INFO reports (reset by CONFIG RESETSTAT where Redis resets them)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total_connections = 0
        self.rejected_connections = 0
        self.keyspace_hits = 0
        self.keyspace_misses = 0
        self.expired_keys = 0
        self.net_input = 0
        self.net_output = 0
        self.total_error_replies = 0
        self.unexpected_error_replies = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.pubsub_channels_published = 0
        self.io_reads = 0
        self.io_writes = 0
        self.sync_full = 0
        self.sync_partial_ok = 0
        self.sync_partial_err = 0
        self.net_repl_input = 0
        self.net_repl_output = 0


class Server:
    """Everything one aki database is, minus the network."""

    def __init__(self, config: Config | None = None, engine: Engine | None = None) -> None:
        self.config = config or Config()
        cfg = self.config
        self.engine = engine or Engine(
            cfg.dbfile,
            appendfsync=cfg.appendfsync,
            cache_size_kb=max(1, cfg.cache_size // 1024),
            databases=cfg.databases,
            page_size=int(cfg.page_size),
        )
        self.ks = Keyspace(self.engine, cache_entries=cfg.row_cache_entries)
        cfg.on_change("row-cache-entries", self.ks.set_cache_entries)
        self.start_time = time.time()
        self.run_id = os.urandom(20).hex()
        self.replid = os.urandom(20).hex()
        self.replid2 = "0" * 40
        self.master_repl_offset = 0
        self.version = __version__
        self.clients: dict[int, Client] = {}
        self._next_client_id = 0
        self.stats = Stats()
        self.pubsub = PubSub()
        self.dirty = 0  # changes since the last save (INFO rdb_changes_since_last_save)
        self.lastsave = int(time.time())
        self.last_bgsave_status = "ok"
        self.slowlog: collections.deque = collections.deque(maxlen=max(cfg.slowlog_max_len, 0) or None)
        self.slowlog_next_id = 0
        self.latency_events: dict[str, collections.deque] = {}
        self.active_expire = True
        self.state_guards: tuple[Callable[..., Any], ...] = ()  # see refresh_state_guards
        # DEBUG SET-DISABLE-DENY-SCRIPTS: scripts may call noscript commands (tests only)
        self.script_disable_deny = False
        self.cron_paused = False  # DEBUG PAUSE-CRON: the periodic work (server/listener.py) stops
        self.paused_until = 0.0
        self.pause_kind = ""
        self.monitors: list[Client] = []
        # hooks called by execute() -------------------------------------------------
        # propagate(db, argv): a committed write, for the AOF and replicas
        self.propagators: list[Callable[[int, list[bytes]], None]] = []
        # touched(keys, client): keys modified by a command (WATCH, tracking, blocking)
        self.touch_hooks: list[Callable[[list[tuple[int, bytes]], Client | None], None]] = []
        # after_read(client, cmd, argv): after every command, present only while some
        # client tracks keys (client-side caching remembers what it read)
        self.after_read: list[Callable[[Client, Any, list[bytes]], None]] = []
        # after each top-level command (blocked clients are served here)
        self.after_command: list[Callable[[], None]] = []
        # nesting of dispatch.call(): 0 between top-level commands, >1 inside EXEC/scripts
        self.call_depth = 0
        self.in_exec = False  # EXEC is running its queue (BGSAVE & co. are only scheduled)
        # close_hooks(client): a client went away (WATCH, pub/sub, blocking cleanup)
        self.close_hooks: list[Callable[[Client], None]] = []
        # request_commit(): the transport schedules the end-of-batch commit
        self.request_commit: Callable[[], None] = lambda: None
        self.extensions: dict[str, Any] = {}
        # set by handlers through dispatch.rewrite(): what to propagate instead of argv
        self.propagation: list[tuple[int, list[bytes]]] | None = None
        # while EXEC or a script runs: writes collected here, then wrapped in MULTI/EXEC
        self.tx_propagation: list[tuple[int, list[bytes]]] | None = None
        # set by execute() when a handler crashed: the committer rolls the batch back
        self.batch_failed = False
        self.batch_error: Exception | None = None  # what made the batch fail, if a handler
        self.ks.on_expired = self._propagate_expired
        self.ks.on_latency = self.add_latency
        from aki.core.notify import Notifier

        Notifier(self)
        cfg.on_change("appendfsync", self.engine.set_appendfsync)
        cfg.on_change("slowlog-max-len", self._resize_slowlog)
        # read on every command: kept as a plain attribute, not a config lookup
        self._set_slowlog_threshold(cfg.slowlog_log_slower_than)
        cfg.on_change("slowlog-log-slower-than", self._set_slowlog_threshold)
        self.latency_tracking = cfg.latency_tracking  # per-command histograms (dispatch)
        cfg.on_change("latency-tracking", lambda v: setattr(self, "latency_tracking", v))
        cfg.on_change("notify-keyspace-events", self._notify_changed)
        self._notify_changed(cfg.notify_keyspace_events)
        # OBJECT FREQ: the keyspace keeps LFU counters only under an LFU policy
        cfg.on_change("maxmemory-policy", self._policy_changed)
        cfg.on_change("min-replicas-to-write", self._min_replicas_changed)
        cfg.on_change("min-replicas-max-lag", self._min_replicas_changed)
        self._min_replicas_changed(None)
        cfg.on_change("lfu-log-factor", lambda v: setattr(self.ks, "lfu_log_factor", v))
        cfg.on_change("lfu-decay-time", lambda v: setattr(self.ks, "lfu_decay_time", v))
        self._policy_changed(cfg.maxmemory_policy)
        self.ks.lfu_log_factor = cfg.lfu_log_factor
        self.ks.lfu_decay_time = cfg.lfu_decay_time

    def next_client_id(self) -> int:
        self._next_client_id += 1
        return self._next_client_id

    def _set_slowlog_threshold(self, usec: int) -> None:
        self.slowlog_threshold = usec
        # a call at least this long goes to dispatch._slow: SLOWLOG (a negative
        # threshold turns it off) or the LATENCY monitor (whole milliseconds)
        self.slow_at = 1000 if usec < 0 else min(usec, 1000)

    def _resize_slowlog(self, n: int) -> None:
        self.slowlog = collections.deque(self.slowlog, maxlen=max(n, 0))

    def _notify_changed(self, flags: str) -> None:
        self.ks.notify_enabled = bool(flags) and ("K" in flags or "E" in flags)

    def _min_replicas_changed(self, _value: object) -> None:
        """NOREPLICAS is checked by execute() only while min-replicas-to-write is on."""
        cfg = self.config
        if int(cfg.min_replicas_to_write) and int(cfg.min_replicas_max_lag):
            from aki.replication.primary import noreplicas_guard

            self.extensions["primary_guard"] = noreplicas_guard
        else:
            self.extensions.pop("primary_guard", None)
        self.refresh_state_guards()

    def refresh_state_guards(self) -> None:
        """The refusals that depend on the server's replication state, in processCommand's
        order: NOREPLICAS (a primary under min-replicas-to-write), then READONLY and
        MASTERDOWN (a replica). execute() tests one tuple, empty on a plain primary."""
        ext = self.extensions
        self.state_guards = tuple(g for g in (ext.get("primary_guard"), ext.get("replica_guard"))
                                  if g is not None)

    def _policy_changed(self, policy: str) -> None:
        self.ks.lfu = "lfu" in policy

    def _propagate_expired(self, db: int, key: bytes) -> None:
        self.stats.expired_keys += 1
        self.dirty += 1
        for p in self.propagators:
            p(db, [b"DEL", key])

    def propagate(self, db: int, argv: list[bytes]) -> None:
        """A committed write for the AOF and the replicas (``ReplOnly``: replicas only,
        ``AofOnly``: the AOF only)."""
        if self.tx_propagation is not None:
            self.tx_propagation.append((db, argv))
            return
        for p in self.propagators:
            p(db, argv)

    def propagate_wrapped(self, buffered: list[tuple[int, list[bytes]]]) -> None:
        """What one EXEC or script wrote: one command as it is, several inside MULTI/EXEC
        (propagatePendingCommands)."""
        if len(buffered) == 1:
            self.propagate(*buffered[0])
        elif buffered:
            self.propagate(buffered[0][0], [b"MULTI"])
            for db, args in buffered:
                self.propagate(db, args)
            self.propagate(buffered[-1][0], [b"EXEC"])

    def add_latency(self, event: str, ms: int) -> None:
        threshold = self.config.latency_monitor_threshold
        if not threshold or ms < threshold:
            return
        series = self.latency_events.setdefault(event, collections.deque(maxlen=160))
        now = int(time.time())
        if series and series[-1][0] == now:
            if ms > series[-1][1]:
                series[-1] = (now, ms)
        else:
            series.append((now, ms))

    def close(self) -> None:
        self.engine.close()
