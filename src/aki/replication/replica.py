"""aki as a replica: the link to a Redis (or aki) primary, as Redis 7.0's replication.c.

``REPLICAOF host port`` makes a ``MasterLink`` (``server.extensions["master_link"]``)
whose asyncio task connects, runs the handshake (PING, AUTH, REPLCONF listening-port,
REPLCONF capa eof capa psync2, PSYNC), takes either ``+CONTINUE`` (the stream goes on
from our offset) or ``+FULLRESYNC`` and an RDB (``$<len>`` or the diskless ``$EOF:<mark>``
form), replaces the dataset with it, and then applies the command stream: every command
goes through ``dispatch.execute()`` as a client of kind ``master`` whose replies are
dropped, so commits, the AOF, keyspace events, WATCH, tracking and blocked clients
react as they do to any write. A dropped link is retried with ``PSYNC <replid>
<offset+1>`` of what was applied; ``REPLICAOF NO ONE`` stops the link and shifts the
replication id (replid2 = the master's id, valid up to our offset + 1).

Invariants (what a crash, or a failure, can and cannot leave behind):

* A full sync is loaded in ONE SQLite transaction: flush every database and the
  function libraries, bulk-load the RDB, COMMIT. A crash, a corrupt payload or a
  failed COMMIT anywhere in it leaves the previous dataset exactly as it was (the
  link is then retried). The payload first goes whole to ``temp-<time>.<pid>.rdb``
  in ``dir`` (removed after the load, loaded or not); the file of the dataset is
  only ever touched by that one transaction.
* Stream commands are applied in order, one at a time, inside the ordinary batches;
  the offset (``server.master_repl_offset``) advances by a command's bytes only after
  it ran, and a MULTI ... EXEC moves it once, at the EXEC. If a batch that holds
  applied master commands is rolled back (a handler crashed, COMMIT failed), the
  offset no longer describes the data: the link is dropped and the cached master
  forgotten, so the next sync is a full one.
* With ``appendonly yes`` the log is switched off (marked stale) before a full-sync
  load and written anew from the database after it, as Redis's stopAppendOnly /
  restartAOFAfterSYNC: a crash between the two makes the next start write a fresh log
  rather than trust one that describes the old dataset.
* The position in the primary's stream is persisted with the data it describes (meta
  ``repl_replid``/``repl_offset``, written in each COMMIT that applied stream commands,
  deleted inside a full-sync load and by REPLICAOF NO ONE): after a restart, clean or
  kill -9, a replica with ``replicaof`` configured continues with PSYNC from exactly
  there; without a recorded position it syncs in full.
* A replica leaves its master on its own only with ``replica-auto-promote-after`` set
  (off by default), after the link was up and the master then sent nothing for that
  long; the promotion is REPLICAOF NO ONE run in a batch (the recorded position goes
  with its COMMIT). A PSYNC carrying FAILOVER (our primary handing over, failover.py)
  promotes it only when it names this replica's own replication id.

The interface other modules use (INFO replication, ROLE, REPLCONF GETACK, the primary
side): ``MasterLink.info_lines()``, ``MasterLink.role_reply()``, ``MasterLink.send_ack()``,
and ``server.extensions["master_link"]`` existing exactly while this server is a replica.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aki.core.blocking import Suspend
from aki.core.dispatch import READONLY_REPLICA, execute, run_internal
from aki.core.registry import COMMANDS, Command
from aki.core.session import Client
from aki.replication import failover
from aki.resp.types import ErrorReply

if TYPE_CHECKING:
    from aki.core.state import Server

log = logging.getLogger("aki.replication")

UNBLOCKED_REPLICA = ("UNBLOCKED force unblock from blocking operation, "
                     "instance state changed (master -> replica?)")

# ROLE's names of the link states (roleCommand)
CONNECT, CONNECTING, HANDSHAKE, SYNC, CONNECTED = (
    "connect", "connecting", "handshake", "sync", "connected")

_CHUNK = 256 * 1024
_EOF_MARK_LEN = 40  # CONFIG_RUN_ID_SIZE
_APPLY_SLICE = 2000  # stream commands applied before the loop gets a turn


class LinkError(Exception):
    """The link cannot go on (logged, then retried as Redis's replicationCron does)."""


class MasterLink:
    """This server's link to its master: what Redis keeps in server.master*, repl_*.

    ``info_lines()`` and ``role_reply()`` are the interface for INFO replication and
    ROLE; ``send_ack()`` answers the master's REPLCONF GETACK."""

    def __init__(self, server: Server, host: str, port: int,
                 cached: tuple[str, int] | None) -> None:
        self.server = server
        self.host = host
        self.port = port
        self.state = CONNECT
        # the master's replication id and the offset applied from it; None: no history
        # the master could continue (PSYNC ? -1)
        self.cached = cached
        self.master_replid = cached[0] if cached else ""
        self.reploff = cached[1] if cached else 0
        self.read_reploff = self.reploff
        self.pause_waiting = False  # a CLIENT PAUSE holds the stream (_held_by_pause)
        self.client: Client | None = None  # the master client while connected
        self.client_db = 0  # its SELECTed database, kept across a partial resync
        self.last_io = 0.0
        self.down_since = 0.0  # 0: never connected since REPLICAOF (Redis prints -1)
        self.transfer_size = -1
        self.transfer_read = 0
        self.transfer_lastio = 0.0
        self.stopped = False
        self.task: asyncio.Task | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.reader: asyncio.StreamReader | None = None
        self.buf = bytearray()
        self.pending = 0  # bytes of a MULTI ... not yet counted (at the EXEC)
        self.pending_data = bytearray()  # those bytes, for sub-replicas
        self.applied_in_batch = False
        self.load_rdb_hook = None  # tests may replace the loader
        self.heard = time.time()  # last bytes from the master (replica-auto-promote-after)
        self.was_up = False  # the link has been up since this REPLICAOF / start
        self.promote_task: asyncio.Task | None = None

    # -- interface: INFO replication, ROLE, GETACK -----------------------------------

    def info_lines(self) -> list[str]:
        """INFO replication from '# Replication' up to, not including, connected_slaves."""
        now = time.time()
        cfg = self.server.config
        connected = self.state == CONNECTED and self.client is not None
        lines = [
            "# Replication",
            "role:slave",
            f"master_host:{self.host}",
            f"master_port:{self.port}",
            f"master_link_status:{'up' if connected else 'down'}",
            f"master_last_io_seconds_ago:{int(now - self.last_io) if connected else -1}",
            f"master_sync_in_progress:{int(self.state == SYNC)}",
            f"slave_read_repl_offset:{self.read_reploff if self.cached or connected else 1}",
            f"slave_repl_offset:{self.reploff if self.cached or connected else 1}",
        ]
        if self.state == SYNC:
            size = max(self.transfer_size, 0) if self.transfer_size != -1 else -1
            perc = (self.transfer_read / size * 100) if size and size > 0 else 0.0
            lines += [
                f"master_sync_total_bytes:{size}",
                f"master_sync_read_bytes:{self.transfer_read}",
                f"master_sync_left_bytes:{size - self.transfer_read}",
                f"master_sync_perc:{perc:.2f}",
                f"master_sync_last_io_seconds_ago:{int(now - self.transfer_lastio)}",
            ]
        if not connected:
            down = int(now - self.down_since) if self.down_since else -1
            lines.append(f"master_link_down_since_seconds:{down}")
        lines += [
            f"slave_priority:{cfg.replica_priority}",
            f"slave_read_only:{int(bool(cfg.replica_read_only))}",
            f"replica_announced:{int(bool(cfg.replica_announced))}",
        ]
        return lines

    def role_reply(self) -> list:
        """ROLE: ["slave", host, port, state, applied offset or -1]."""
        return [b"slave", self.host.encode(), self.port, self.state.encode(),
                self.reploff if self.state == CONNECTED and self.client is not None else -1]

    def connected(self) -> bool:
        """The link is up (Redis's REPL_STATE_CONNECTED): sub-replicas may SYNC."""
        return self.state == CONNECTED and self.client is not None

    def send_ack(self) -> None:
        """REPLCONF ACK <applied offset> (replicationSendAck): each second and on GETACK."""
        w = self.writer
        if w is not None and self.state == CONNECTED and not w.is_closing():
            off = b"%d" % self.reploff
            w.write(b"*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n$%d\r\n%s\r\n" % (len(off), off))

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> None:
        app = self.server.extensions["app"]
        self.task = app.loop.create_task(self._run())
        app.tasks.append(self.task)
        self.promote_task = app.loop.create_task(self._auto_promote())
        app.tasks.append(self.promote_task)
        app.committer.after_commit.append(self._after_commit)
        app.committer.before_commit.append(self._before_commit)

    def stop(self) -> None:
        """REPLICAOF NO ONE / another master: close the link, end the task."""
        self.stopped = True
        app = self.server.extensions.get("app")
        if app is not None:
            if self._after_commit in app.committer.after_commit:
                app.committer.after_commit.remove(self._after_commit)
            if self._before_commit in app.committer.before_commit:
                app.committer.before_commit.remove(self._before_commit)
            for task in (self.task, self.promote_task):
                if task is not None and task in app.tasks:
                    app.tasks.remove(task)
        self._close()
        if self.task is not None:
            self.task.cancel()
        if self.promote_task is not None and self.promote_task is not asyncio.current_task():
            self.promote_task.cancel()

    async def _auto_promote(self) -> None:
        """aki's ``replica-auto-promote-after <ms>`` (0, the default: never): once the link
        has been up, a master silent for that long (no stream, no PING: it died, hangs or
        is cut off) is given up and this replica promotes itself, as REPLICAOF NO ONE."""
        cfg = self.server.config
        while not self.stopped:
            # off (the default): a look twice a second, so a CONFIG SET takes effect
            await asyncio.sleep(0.1 if cfg.replica_auto_promote_after else 0.5)
            ms = int(cfg.replica_auto_promote_after or 0)
            if not ms or not self.was_up or self.server.cron_paused:
                continue
            silent = time.time() - self.heard
            if silent * 1000 >= ms:
                promote_self(self.server, int(silent * 1000))
                return

    def cached_master(self) -> tuple[str, int] | None:
        """What a PSYNC to another master could continue from (the cached master)."""
        if self.state == CONNECTED and self.client is not None:
            return (self.master_replid, self.reploff)
        return self.cached

    async def _run(self) -> None:
        """Connect, sync, stream; on any failure retry after a second (replicationCron);
        a link lost while streaming is retried at once (replicationHandleMasterDisconnection)."""
        log.info("Connecting to MASTER %s:%d", self.host, self.port)
        while not self.stopped:
            was_connected = False
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except (TimeoutError, OSError, LinkError, asyncio.IncompleteReadError) as exc:
                if str(exc):
                    log.warning("%s", exc)
            except Exception:
                log.exception("replication link failed")
            finally:
                was_connected = self.client is not None
                self._link_lost()
            if self.stopped:
                return
            if was_connected:
                log.info("Reconnecting to MASTER %s:%d", self.host, self.port)
            else:
                await asyncio.sleep(1.0)

    def _close(self) -> None:
        w = self.writer
        self.writer = None
        self.reader = None
        if w is not None:
            try:
                w.close()
            except (OSError, RuntimeError):
                pass

    def _link_lost(self) -> None:
        """replicationHandleMasterDisconnection: cache the master, link down from now."""
        client = self.client
        if client is not None:
            self.client_db = client.db
            self.server.clients.pop(client.id, None)
            client.closed = True
            self.client = None
            self.cached = (self.master_replid, self.reploff)
            self.down_since = time.time()
            self.state = CONNECT
        elif self.state != CONNECT:
            self.state = CONNECT
        self.buf.clear()
        self.pending = 0
        self.pending_data.clear()
        self._close()

    # -- the session -----------------------------------------------------------------

    async def _session(self) -> None:
        """One connection: handshake, maybe a full sync, then the stream until it ends."""
        server = self.server
        cfg = server.config
        timeout = max(1, int(cfg.repl_timeout))
        self.state = CONNECTING
        self.transfer_lastio = time.time()
        log.info("MASTER <-> REPLICA sync started")
        try:
            reader, writer = await asyncio.wait_for(self._connect(cfg.bind_source_addr), timeout)
        except TimeoutError:
            raise LinkError("Timeout connecting to the MASTER...") from None
        except OSError as exc:
            raise LinkError(f"Unable to connect to MASTER: {exc.strerror or exc}") from None
        self.reader, self.writer = reader, writer
        self.state = HANDSHAKE
        log.info("Non blocking connect for SYNC fired the event.")

        reply = await self._command([b"PING"])
        if not (reply.startswith(b"+") or reply.startswith(b"-NOAUTH")
                or reply.startswith(b"-NOPERM")
                or reply.startswith(b"-ERR operation not permitted")):
            raise LinkError(f"Error reply to PING from master: '{_text(reply)}'")
        log.info("Master replied to PING, replication can continue...")

        if cfg.masterauth:
            args = [b"AUTH"]
            if cfg.masteruser:
                args.append(cfg.masteruser.encode())
            args.append(cfg.masterauth.encode())
            reply = await self._command(args)
            if reply.startswith(b"-"):
                raise LinkError(f"Unable to AUTH to MASTER: {_text(reply)}")
        port = cfg.replica_announce_port or cfg.port
        reply = await self._command([b"REPLCONF", b"listening-port", b"%d" % port])
        if reply.startswith(b"-"):
            log.info("(Non critical) Master does not understand REPLCONF listening-port: %s",
                     _text(reply))
        if cfg.replica_announce_ip:
            reply = await self._command(
                [b"REPLCONF", b"ip-address", cfg.replica_announce_ip.encode()])
            if reply.startswith(b"-"):
                log.info("(Non critical) Master does not understand REPLCONF ip-address: %s",
                         _text(reply))
        reply = await self._command([b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
        if reply.startswith(b"-"):
            log.info("(Non critical) Master does not understand REPLCONF capa: %s", _text(reply))

        full = await self._psync()
        if full:
            await self._full_sync(full)
        await self._stream()

    async def _psync(self) -> tuple[str, int] | None:
        """slaveTryPartialResynchronization: None when the master continues our history,
        else (replid, offset) of the full sync it starts (zeros and -1 after a plain SYNC)."""
        if self.cached is not None:
            replid, off = self.cached[0], self.cached[1] + 1
            log.info("Trying a partial resynchronization (request %s:%d).", replid, off)
            args = [b"PSYNC", replid.encode(), b"%d" % off]
        else:
            log.info("Partial resynchronization not possible (no cached master)")
            args = [b"PSYNC", b"?", b"-1"]
        if failover.in_progress(self.server):
            args.append(b"FAILOVER")  # the target promotes itself, then answers
        self._send(args)
        while True:
            reply = await self._line()
            if reply:  # empty lines: the master keeps the link alive before replying
                break
        # a FAILOVER we run ends with the answer: +CONTINUE / +FULLRESYNC, or an abort
        failover.psync_answered(self.server, reply.startswith((b"+CONTINUE", b"+FULLRESYNC")))
        if reply.startswith(b"-") and self.stopped:
            raise LinkError("")  # the failover was aborted: we are a primary again
        if reply.startswith(b"+FULLRESYNC"):
            parts = reply.split(b" ")
            self.cached = None  # replicationDiscardCachedMaster
            if len(parts) < 3 or len(parts[1]) != 40:
                log.warning("Master replied with wrong +FULLRESYNC syntax.")
                return ("0" * 40, -1)
            replid = parts[1].decode("latin-1")
            try:
                offset = int(parts[2])
            except ValueError:
                offset = -1
            log.info("Full resync from master: %s:%d", replid, offset)
            return (replid, offset)
        if reply.startswith(b"+CONTINUE"):
            log.info("Successful partial resynchronization with master.")
            assert self.cached is not None
            new = reply[10:].strip().decode("latin-1")
            server = self.server
            if len(new) == 40 and new != self.cached[0]:
                log.warning("Master replication ID changed to %s", new)
                server.replid2 = self.cached[0]
                server.second_repl_offset = server.master_repl_offset + 1
                server.replid = new
                self.cached = (new, self.cached[1])
                _disconnect_replicas(server, keep_backlog=True)  # they must hear of it
            self.master_replid = self.cached[0]
            self.reploff = self.read_reploff = self.cached[1]
            self._attach_client(self.client_db)
            log.info("MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.")
            return None
        if reply.startswith(b"-NOMASTERLINK") or reply.startswith(b"-LOADING"):
            raise LinkError("Master is currently unable to PSYNC but should be in the "
                            f"future: {_text(reply)}")
        if not reply.startswith(b"-ERR"):
            log.warning("Unexpected reply to PSYNC from master: %s", _text(reply))
        else:
            log.info("Master does not support PSYNC or is in error state (reply: %s)",
                     _text(reply))
        self.cached = None
        log.info("Retrying with SYNC...")
        self._send_raw(b"SYNC\r\n")
        return ("0" * 40, -1)

    async def _full_sync(self, master: tuple[str, int]) -> None:
        """Receive the RDB into a temp file in ``dir``, then load it (readSyncBulkPayload)."""
        self.state = SYNC
        self.transfer_size = -1
        self.transfer_read = 0
        self.transfer_lastio = time.time()
        while True:
            line = await self._line(_BULK_TIMEOUT)
            self.transfer_lastio = time.time()
            if line:
                break  # an empty line is the master's keepalive while it prepares the RDB
        if line.startswith(b"-"):
            raise LinkError(f"MASTER aborted replication with an error: {_text(line[1:])}")
        if not line.startswith(b"$"):
            raise LinkError("Bad protocol from MASTER, the first byte is not '$' (we received "
                            f"'{_text(line)}'), are you sure the host and port are right?")
        mark = None
        if line[1:5] == b"EOF:" and len(line) - 5 >= _EOF_MARK_LEN:
            mark = bytes(line[5:5 + _EOF_MARK_LEN])
            self.transfer_size = 0
            log.info("MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to disk")
        else:
            try:
                self.transfer_size = int(line[1:])
            except ValueError:
                raise LinkError(f"Bad bulk length from MASTER: '{_text(line)}'") from None
            log.info("MASTER <-> REPLICA sync: receiving %d bytes from master to disk",
                     self.transfer_size)
        cfg = self.server.config
        tmp = Path(cfg.dir) / f"temp-{int(time.time())}.{os.getpid()}.rdb"
        try:
            with open(tmp, "wb") as f:
                if mark is None:
                    await self._receive_counted(f, self.transfer_size)
                else:
                    await self._receive_marked(f, mark)
                f.flush()
            log.info("MASTER <-> REPLICA sync: Flushing old data")
            log.info("MASTER <-> REPLICA sync: Loading DB in memory")
            load = self.load_rdb_hook or load_full_sync
            db = load(self.server, tmp)
        finally:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        # the dataset is the master's: take its replication id and offset, new history
        server = self.server
        _disconnect_replicas(server)  # replicationAttachToNewMaster: they resync with us
        self.master_replid, self.reploff = master
        self.read_reploff = self.reploff
        server.replid = master[0]
        server.master_repl_offset = master[1]
        server.replid2 = "0" * 40
        server.second_repl_offset = -1
        if not server.engine.in_tx:
            server.engine.begin()
            try:
                save_position(server, self.master_replid, self.reploff)
            except BaseException:
                server.engine.rollback()
                raise
            server.engine.commit()
        self._attach_client(db)
        log.info("MASTER <-> REPLICA sync: Finished with success")
        if mark is not None:
            self.send_ack()  # a diskless master starts the stream on the first ACK

    async def _receive_counted(self, f: Any, size: int) -> None:
        left = size
        while left > 0:
            if not self.buf:
                await self._fill(_BULK_TIMEOUT)
            n = min(left, len(self.buf))
            f.write(self.buf[:n])
            del self.buf[:n]
            left -= n
            self.transfer_read += n
            self.transfer_lastio = time.time()

    async def _receive_marked(self, f: Any, mark: bytes) -> None:
        """Diskless form: the payload ends with the 40-byte mark the header announced.

        As readSyncBulkPayload, only the end of what has arrived is compared with the
        mark: the master sends nothing after it until our first ACK. Searching for the
        mark anywhere took a payload whose last bytes began the mark (its CRC ending in
        the mark's first byte, 1 in 256 with a repetitive mark) for the end, one byte
        early, and every retry failed the same way."""
        held = bytearray()  # the tail that may hold the mark
        while True:
            if not self.buf:
                await self._fill(_BULK_TIMEOUT)
            held += self.buf
            self.transfer_read += len(self.buf)
            self.buf.clear()
            self.transfer_lastio = time.time()
            if held.endswith(mark):
                f.write(held[:-_EOF_MARK_LEN])
                return
            keep = len(held) - _EOF_MARK_LEN
            if keep > 0:
                f.write(held[:keep])
                del held[:keep]

    def _attach_client(self, db: int) -> None:
        """replicationCreateMasterClient / ResurrectCachedMaster: the link is up."""
        server = self.server
        if "app" in server.extensions:
            # a replica keeps a backlog of its primary's stream whether or not it has
            # replicas, to continue their PSYNC once promoted or re-pointed (as Redis)
            from aki.replication.primary import primary

            primary(server).ensure_backlog()
        c = Client(server, addr=f"{self.host}:{self.port}", kind="master")
        c.authenticated = True
        c.db = db
        c.close_connection = self._kill  # type: ignore[attr-defined]  # CLIENT KILL
        if self.writer is not None:
            sock = self.writer.get_extra_info("sockname")
            if sock:
                c.laddr = f"{sock[0]}:{sock[1]}"
            raw = self.writer.get_extra_info("socket")
            if raw is not None:
                c.fd = raw.fileno()
        server.clients[c.id] = c
        self.client = c
        self.cached = None
        self.state = CONNECTED
        self.was_up = True
        self.heard = time.time()  # a long RDB load is no silence of the master
        self.down_since = 0.0
        self.last_io = time.time()
        self.read_reploff = self.reploff + len(self.buf)  # stream bytes already read
        server.master_repl_offset = self.reploff

    async def _connect(self, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The connection to the master, from ``bind-source-addr`` when set; as Redis's
        best-effort binding, a source address that cannot be bound is dropped."""
        if source:
            try:
                return await asyncio.open_connection(self.host, self.port,
                                                     local_addr=(source, 0))
            except OSError as exc:
                log.info("cannot bind the MASTER connection to %s (%s): connecting unbound",
                         source, exc.strerror or exc)
        return await asyncio.open_connection(self.host, self.port)

    def _kill(self) -> None:
        """CLIENT KILL of the master client: drop the link (it is retried, with PSYNC)."""
        w = self.writer
        if w is not None:
            w.close()

    # -- the command stream ----------------------------------------------------------

    async def _stream(self) -> None:
        """Apply the master's commands until the link ends."""
        ack = asyncio.get_running_loop().create_task(self._ack_every_second())
        try:
            while not self.stopped:
                if self.buf and self._apply_buffer():
                    await asyncio.sleep(0)  # a slice applied: let the loop commit and serve
                    continue
                await self._fill("MASTER timeout: no data nor PING received...")
                if self.client is not None:
                    self.client.last_interaction = self.last_io = time.time()
        finally:
            ack.cancel()

    async def _ack_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            self.send_ack()

    def _apply_buffer(self) -> bool:
        """Run every whole command in the buffer, advancing the offset; True when a slice's
        worth ran and more may be waiting (the loop should get a turn first)."""
        client = self.client
        if client is None:
            return False
        server = self.server
        ks = server.ks
        ext = server.extensions
        buf = self.buf
        pos = 0
        applied = 0
        # the master is obeyed whatever the ACL says (its client has no user in Redis),
        # and its commands see keys expired here as present (the master sends the DEL)
        guard = ext.pop("guard", None)
        # sub-replicas get the master's stream as applied (replicationFeedStreamFromMasterStream),
        # when the primary side offers it
        feed = getattr(ext.get("primary"), "feed_from_master", None)
        ks.master_view = True
        try:
            while applied < _APPLY_SLICE and not self.stopped and self.client is client:
                parsed = _parse(buf, pos)
                if parsed is None:
                    break
                argv, end = parsed
                if server.paused_until and argv and self._held_by_pause(argv):
                    break  # read on, apply from here when the pause ends
                n = end - pos
                if feed is not None:
                    self.pending_data += buf[pos:end]
                pos = end
                applied += 1
                if argv:
                    client.tot_cmds += 1
                    reply = execute(client, argv)
                    if type(reply) is Suspend:
                        reply.cancel()  # nothing waits for the master's replies
                    elif type(reply) is ErrorReply or type(reply) is list:
                        _log_errors_to_master(argv, reply)
                    self.applied_in_batch = True
                if client.in_multi:
                    self.pending += n
                else:
                    self.reploff += n + self.pending
                    self.pending = 0
                    server.master_repl_offset = self.reploff
                    if feed is not None:
                        feed(bytes(self.pending_data))
                        self.pending_data.clear()
        finally:
            ks.master_view = False
            if guard is not None and "guard" not in ext:
                ext["guard"] = guard
            del buf[:pos]
        return applied >= _APPLY_SLICE

    def _held_by_pause(self, argv: list[bytes]) -> bool:
        """CLIENT PAUSE holds the master's client too (processCommand pauses every client
        but replicas): its stream is still read (slave_read_repl_offset grows) but not
        applied (slave_repl_offset, the ACKed offset, stays) until the pause ends."""
        check = self.server.extensions.get("pause")
        if check is None or not check(self.client, argv):
            return False
        if not self.pause_waiting:
            self.pause_waiting = True
            self.server.extensions.setdefault("pause_waiters", []).append(self._pause_over)
        return True

    def _pause_over(self) -> None:
        self.pause_waiting = False
        if not self.stopped and self.buf and self._apply_buffer():
            asyncio.get_running_loop().call_soon(self._pause_over)  # the next slice

    def _before_commit(self) -> None:
        """The position the batch's data is at goes into the same COMMIT (see
        save_position), so a restart continues with PSYNC from exactly there."""
        if self.applied_in_batch and self.master_replid:
            save_position(self.server, self.master_replid, self.reploff)

    def _after_commit(self, ok: bool) -> None:
        """A rolled-back batch that held master commands: the offset no longer matches
        the data, so the next sync must be a full one."""
        if self.applied_in_batch:
            self.applied_in_batch = False
            if not ok and not self.stopped:
                log.warning("a batch holding commands from the MASTER was rolled back: "
                            "dropping the link for a full resynchronization")
                self._link_lost()
                self.cached = None
                self._kill()

    # -- I/O -------------------------------------------------------------------------

    def _send_raw(self, data: bytes) -> None:
        if self.writer is None:
            raise LinkError("")
        self.writer.write(data)

    def _send(self, argv: list[bytes]) -> None:
        self._send_raw(b"*%d\r\n" % len(argv)
                       + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in argv))

    async def _command(self, argv: list[bytes]) -> bytes:
        """sendCommand + receiveSynchronousResponse: one line back."""
        self._send(argv)
        return await self._line()

    async def _fill(self, on_timeout: str = "") -> None:
        reader = self.reader
        if reader is None:
            raise LinkError("")
        # repl-timeout is looked at each second (replicationCron): a CONFIG SET applies
        # to a link already waiting too
        since = time.time()
        while True:
            try:
                data = await asyncio.wait_for(reader.read(_CHUNK), 1.0)
                break
            except TimeoutError:
                if time.time() - since > max(1, int(self.server.config.repl_timeout)):
                    # replicationCron's check of a handshake that stopped moving
                    raise LinkError(on_timeout or "Timeout connecting to the MASTER...") \
                        from None
        if not data:
            if self.state == CONNECTED:
                raise LinkError("Connection with master lost.")
            raise LinkError("Master closed the connection during the handshake")
        self.buf += data
        self.heard = time.time()
        self.server.stats.net_repl_input += len(data)
        if self.state == CONNECTED:
            self.read_reploff += len(data)

    async def _line(self, on_timeout: str = "") -> bytes:
        """One reply line without its line end (an empty bytes: a bare newline)."""
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 1]
                return line[:-1] if line.endswith(b"\r") else line
            if len(self.buf) > 64 * 1024:
                raise LinkError("Bad protocol from MASTER: a line over 64 KiB")
            await self._fill(on_timeout)


_BULK_TIMEOUT = ("Timeout receiving bulk data from MASTER... If the problem persists try to "
                 "set the 'repl-timeout' parameter in redis.conf to a larger value.")


def _text(b: bytes) -> str:
    return b.decode("utf-8", "replace")


def _parse(buf: bytearray, pos: int) -> tuple[list[bytes], int] | None:
    """One command of the stream at ``pos``: (argv, end), or None if not all arrived.
    A multibulk as the master sends it; an inline line (or a bare newline) too."""
    n = len(buf)
    if pos >= n:
        return None
    if buf[pos] != 0x2A:  # '*'
        nl = buf.find(b"\n", pos)
        if nl < 0:
            return None
        return bytes(buf[pos:nl]).strip().split(), nl + 1
    nl = buf.find(b"\r\n", pos)
    if nl < 0:
        return None
    try:
        count = int(buf[pos + 1:nl])
    except ValueError:
        raise LinkError("Protocol error from MASTER: invalid multibulk length") from None
    p = nl + 2
    argv: list[bytes] = []
    for _ in range(count):
        if p >= n:
            return None
        if buf[p] != 0x24:  # '$'
            raise LinkError(f"Protocol error from MASTER: expected '$', got '{chr(buf[p])}'")
        nl = buf.find(b"\r\n", p)
        if nl < 0:
            return None
        try:
            size = int(buf[p + 1:nl])
        except ValueError:
            raise LinkError("Protocol error from MASTER: invalid bulk length") from None
        start = nl + 2
        end = start + size
        if end + 2 > n:
            return None
        argv.append(bytes(buf[start:end]))
        p = end + 2
    return argv, p


# -- the full-sync load -----------------------------------------------------------------


def load_full_sync(server: Server, path: Path) -> int:
    """Replace the whole dataset with the RDB at ``path`` in one transaction; returns the
    master's stream database (aux ``repl-stream-db``, else 0). On any error the previous
    dataset stays, and the error goes up (the link is retried)."""
    from aki.rdb import RDBError, RDBReader
    from aki.storage import bulk

    app = server.extensions.get("app")
    engine = server.engine
    if engine.in_tx and app is not None:
        app.committer.flush()  # the open batch commits on its own, before the swap
    aof = server.extensions.get("aof")
    if aof is not None and app is not None:
        from aki.durability.aof import _turn_off

        _turn_off(app, aof)  # stopAppendOnly: marked stale until written anew below
    ks = server.ks
    stream_db = 0
    loader = None
    ok = False
    engine.begin()
    try:
        for db in range(engine.databases):
            ks.flushdb(db)
        engine.cur.execute(
            "DELETE FROM meta WHERE name >= 'function:' AND name < 'function;'")
        forget_position(server)  # the old position does not describe the new data
        # now_ms=0: keys already expired are kept, as a replica keeps them until the
        # master's DEL arrives (they read as missing meanwhile)
        loader = bulk.BulkLoader(engine.conn, limits=bulk.Limits.from_config(server.config),
                                 dbmap=ks.dbmap, now_ms=0, replace=True,
                                 on_warning=lambda m: log.warning("%s", m))
        with open(path, "rb") as f:
            reader = RDBReader(f, on_warning=lambda m: log.warning("%s", m))
            aux = loader.add_rdb_records(reader.records())
        try:
            stream_db = int(aux.get(b"repl-stream-db", b"0"))
        except ValueError:
            pass
        loader.finish()
        engine.commit()
        ok = True
    except (RDBError, bulk.BulkError, OSError) as exc:
        raise LinkError("Failed trying to load the MASTER synchronization DB from disk: "
                        f"{exc}") from None
    finally:
        if not ok:
            if loader is not None:
                loader.abort()
            engine.rollback()
        ks.invalidate()
        if aof is not None and app is not None:
            _restart_aof(app)
    log.info("Done loading RDB, keys loaded: %d, keys expired: %d.", loader.loaded, 0)
    _after_dataset_replaced(server)
    if not 0 <= stream_db < engine.databases:
        stream_db = 0
    return stream_db


def _restart_aof(app: Any) -> None:
    """restartAOFAfterSYNC: a whole new log written from the (new) database."""
    from aki.durability.aof import AppendOnlyLog, _attach

    aof = AppendOnlyLog(app)
    try:
        aof.begin_live()
    except Exception as exc:  # noqa: BLE001 - logged; the log stays off and stale
        log.error("Unable to restart the AOF after the SYNC: %s", exc)
        aof.close()
        return
    _attach(app, aof)


def _after_dataset_replaced(server: Server) -> None:
    """What FLUSHALL tells the rest of the server, for a dataset swapped under it:
    WATCHers of keys that existed are dirty, tracking clients are told to drop all,
    stored function libraries are loaded into the script runtime."""
    from aki.core.state import WHOLE_DB

    for hook in server.extensions.get("flush_hooks", []):
        hook(None)
    for hook in server.touch_hooks:
        hook([(0, WHOLE_DB)], None)
    server.dirty += 1
    if server.extensions.get("scripting") is not None:
        from aki.commands.scripting import reload_functions

        reload_functions(server)


# -- becoming a replica, becoming a master ------------------------------------------------


def _disconnect_replicas(server: Server, keep_backlog: bool = False) -> None:
    prim = server.extensions.get("primary")
    if prim is not None:
        prim.disconnect_replicas(keep_backlog)


def set_master(server: Server, host: str, port: int) -> None:
    """replicationSetMaster: follow ``host:port`` from now on (the link runs in the
    background); the previous link, if any, is closed and its history cached."""
    ext = server.extensions
    old: MasterLink | None = ext.get("master_link")
    if old is not None:
        cached = old.cached_master()
        old.stop()
    else:
        # replicationCacheMasterUsingMyself: our own history, so a new master that was
        # our replica (a failover) can continue it
        cached = (server.replid, server.master_repl_offset)
    _unblock_all(server)
    _disconnect_replicas(server, keep_backlog=True)  # they may continue with PSYNC
    link = MasterLink(server, host, port, cached)
    if old is not None:
        link.client_db = old.client_db
    ext["master_link"] = link
    replica_config_changed(server)
    _expire_as_replica(server, True)
    server.config.replicaof = f"{host} {port}"
    _role_changed(server)
    link.start()


def _role_changed(server: Server) -> None:
    """What follows the role: the OOM score (setOOMScoreAdj(-1) in Redis's
    replicationSetMaster/UnsetMaster)."""
    from aki.server import oomscore

    oomscore.apply(server)


def unset_master(server: Server) -> None:
    """replicationUnsetMaster: stop the link and start a new history of our own."""
    ext = server.extensions
    link: MasterLink | None = ext.pop("master_link", None)
    if link is None:
        return
    link.stop()
    replica_config_changed(server)
    _expire_as_replica(server, False)
    server.config.replicaof = ""
    _role_changed(server)
    if server.engine.in_tx:
        forget_position(server)  # commits with the REPLICAOF NO ONE's batch
    # shiftReplicationId
    server.replid2 = server.replid
    server.second_repl_offset = server.master_repl_offset + 1
    server.replid = os.urandom(20).hex()
    log.warning("Setting secondary replication ID to %s, valid up to offset: %d. New "
                "replication ID is %s", server.replid2, server.second_repl_offset,
                server.replid)
    _disconnect_replicas(server, keep_backlog=True)  # they PSYNC again with replid2


def promote_self(server: Server, silent_ms: int) -> None:
    """replica-auto-promote-after ran out: REPLICAOF NO ONE on the replica's own behalf
    (in a batch, so the recorded stream position is deleted in its COMMIT), and, when
    the server has a config file, CONFIG REWRITE, as Sentinel does after a promotion, so
    that a restart does not follow the dead primary again."""
    link = server.extensions.get("master_link")
    if link is None:
        return
    log.warning("No data from MASTER %s:%d for %d ms (replica-auto-promote-after %s): "
                "promoting myself", link.host, link.port, silent_ms,
                server.config.replica_auto_promote_after)
    run_internal(server, lambda: unset_master(server))
    log.info("MASTER MODE enabled (replica-auto-promote-after)")
    if server.config.source_file:
        from aki.config import ConfigError

        try:
            server.config.rewrite()
        except (ConfigError, OSError) as exc:
            log.warning("CONFIG REWRITE after the promotion failed: %s", exc)


# -- the position across restarts --------------------------------------------------------
#
# Invariant: meta rows ``repl_replid``/``repl_offset``, when present, name exactly the
# point of the primary's stream the data in the same file reflects. They are written in
# the COMMIT of every batch that applied stream commands, deleted in the transaction of
# a full-sync load (and written again right after it), and deleted with REPLICAOF NO
# ONE. So after a restart (clean or kill -9) a replica asks its primary to continue
# from there; where they are absent it syncs in full. (Redis keeps the same two values
# in the RDB it writes at shutdown.)


def save_position(server: Server, replid: str, offset: int) -> None:
    server.engine.cur.executemany(
        "INSERT INTO meta (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        (("repl_replid", replid), ("repl_offset", offset)))


def forget_position(server: Server) -> None:
    server.engine.cur.execute("DELETE FROM meta WHERE name IN ('repl_replid', 'repl_offset')")


def load_position(server: Server) -> bool:
    """At start-up with ``replicaof`` set: take the recorded position as this server's
    own history, so the link's first PSYNC continues it. False when there is none."""
    rows = dict(server.engine.cur.execute(
        "SELECT name, value FROM meta WHERE name IN ('repl_replid', 'repl_offset')").fetchall())
    replid, offset = rows.get("repl_replid"), rows.get("repl_offset")
    if not isinstance(replid, str) or len(replid) != 40 or offset is None:
        return False
    server.replid = replid
    server.master_repl_offset = int(offset)
    log.info("Using the replication position recorded in the file: %s:%d", replid, int(offset))
    return True


def _log_errors_to_master(argv: list[bytes], reply: object) -> None:
    """afterErrorReply: an error answered to the master means the data may have diverged
    (a replica never answers its master); Redis logs each one, and so does aki."""
    errs = [reply] if type(reply) is ErrorReply else [
        r for r in reply if type(r) is ErrorReply]  # type: ignore[union-attr]
    if not errs:
        return
    cmd = COMMANDS.get(argv[0].lower())
    name = cmd.fullname if cmd is not None else "<unknown>"
    for e in errs:
        log.warning("== CRITICAL == This replica is sending an error to its master: '%s' "
                    "after processing the command '%s'", e.message, name)


def _expire_as_replica(server: Server, replica: bool) -> None:
    """A replica never deletes expired keys itself: it waits for the master's DEL (they
    read as missing meanwhile). CLIENT PAUSE saves and restores the same switch. Keys
    given a TTL by its own clients (a writable replica) are the exception: LocalExpiry."""
    ext = server.extensions
    if "expire_before_pause" in ext:
        ext["expire_before_pause"] = not replica
    else:
        server.ks.lazy_expire = not replica
    local = ext.pop("replica_local_expiry", None)
    if local is not None:
        local.stop()
    if replica and "app" in ext:
        ext["replica_local_expiry"] = LocalExpiry(server)


class LocalExpiry:
    """rememberSlaveKeyWithExpire / expireSlaveKeys: keys that clients of a writable
    replica wrote with a TTL are the replica's own (the master will never send their
    DEL), so the replica expires them itself, once a second. The master's keys are not
    in the set: its commands run as the client of kind ``master``."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.keys: set[tuple[int, bytes]] = set()
        server.touch_hooks.append(self.touched)
        app = server.extensions["app"]
        self.task = app.loop.create_task(self._run())

    def stop(self) -> None:
        self.task.cancel()
        if self.touched in self.server.touch_hooks:
            self.server.touch_hooks.remove(self.touched)

    def touched(self, keys: list[tuple[int, bytes]], client: Client | None) -> None:
        if client is None or client.kind in ("master", "aof"):
            return
        ks = self.server.ks
        for db, key in keys:
            if type(key) is bytes:
                row = ks.stored(db, key)
                if row is not None and row.expire_at is not None:
                    self.keys.add((db, key))

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.keys and self.server.active_expire:
                run_internal(self.server, self._expire)

    def _expire(self) -> None:
        ks = self.server.ks
        now = ks.now()
        for db, key in list(self.keys):
            row = ks.stored(db, key)
            if row is None or row.expire_at is None:
                self.keys.discard((db, key))
            elif row.expire_at <= now:
                self.keys.discard((db, key))
                ks._expire_row(row)


def replica_config_changed(server: Server, _value: object = None) -> None:
    """Install (or drop) the checks execute() makes on a replica: READONLY while
    ``replica-read-only yes``, MASTERDOWN while ``replica-serve-stale-data no``. Called
    when the role changes and on CONFIG SET of either directive."""
    ext = server.extensions
    cfg = server.config
    replica = ext.get("master_link") is not None
    if replica and cfg.replica_read_only:
        ext["read_only_replica"] = True  # redis.call's check reads this (commands/scripting.py)
    else:
        ext.pop("read_only_replica", None)
    if replica and (cfg.replica_read_only or not cfg.replica_serve_stale_data):
        ext["replica_guard"] = _replica_guard
    else:
        ext.pop("replica_guard", None)
    server.refresh_state_guards()


def _unblock_all(server: Server) -> None:
    """disconnectAllBlockedClients: clients blocked on keys of a master get an error."""
    mgr = server.extensions.get("blocking")
    if mgr is None:
        return
    from aki.core.dispatch import _count_error

    for w in list(mgr.by_client.values()):
        susp = getattr(w, "suspend", None)
        if susp is None or susp.done:
            continue
        mgr._forget(w)
        _count_error(server, UNBLOCKED_REPLICA)
        w.client.close_after_reply = True
        susp.resume(ErrorReply(UNBLOCKED_REPLICA))


# -- READONLY and MASTERDOWN (dispatch.execute calls this only on a replica) -------------

_OBEYED = ("master", "aof")
_SCRIPT_CALLS = ("eval", "evalsha", "fcall")
_MASTERDOWN = ErrorReply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data "
                         "is set to 'no'.")
_READONLY = ErrorReply(READONLY_REPLICA)


def _replica_guard(client: Client, cmd: Command, argv: list[bytes]) -> ErrorReply | None:
    """processCommand's replica checks, in its order: READONLY (``replica-read-only``)
    for a write command, then MASTERDOWN (``replica-serve-stale-data no`` while the link
    is not up) for a command without the ``stale`` flag. The master's and the AOF's
    commands are obeyed."""
    if client.kind in _OBEYED:
        return None
    server = client.server
    cfg = server.config
    if cfg.replica_read_only and is_write_command(client, cmd, argv):
        return _READONLY
    if not cfg.replica_serve_stale_data:
        link = server.extensions.get("master_link")
        if link is not None and link.state != CONNECTED and _denies_stale(client, cmd, argv):
            return _MASTERDOWN
    return None


def _queued(client: Client) -> list[tuple[Command, list[bytes]]]:
    out = []
    for q in client.multi_queue:
        qc = COMMANDS.get(q[0].lower()) if q else None
        if qc is not None and qc.subcommands and len(q) > 1:
            qc = qc.subcommands.get(q[1].lower(), qc)
        if qc is not None:
            out.append((qc, q))
    return out


def is_write_command(client: Client, cmd: Command, argv: list[bytes]) -> bool:
    """is_write_command: a write command, EXEC of a queue holding one, a script (EVAL
    with a shebang, FCALL) not declared ``no-writes``. (A script in compat mode, with
    no shebang, is checked at each redis.call: commands/scripting.py.)"""
    if cmd.is_write:
        return True
    name = cmd.fullname
    if name == "exec":
        return client.in_multi and any(is_write_command(client, qc, q) for qc, q in _queued(client)
                                       if qc.fullname != "exec")
    if name in _SCRIPT_CALLS:
        declared = _script_flags(client, name, argv)
        return declared is not None and not declared[0] and "no-writes" not in declared[1]
    return False


def _denies_stale(client: Client, cmd: Command, argv: list[bytes]) -> bool:
    """is_denystale_command: no ``stale`` flag (for EXEC: some queued command lacks it);
    a script's flags replace EVAL's and FCALL's (``allow-stale``), and a compat-mode
    script is refused too, with the same text, by scriptPrepareForRun."""
    name = cmd.fullname
    if name == "exec" and client.in_multi:
        return any(_denies_stale(client, qc, q) for qc, q in _queued(client)
                   if qc.fullname != "exec")
    if name in _SCRIPT_CALLS:
        declared = _script_flags(client, name, argv)
        if declared is not None:
            return declared[0] or "allow-stale" not in declared[1]
    return not cmd.stale


def _script_flags(client: Client, name: str, argv: list[bytes]) -> tuple[bool, frozenset] | None:
    """evalGetCommandFlags / fcallGetCommandFlags: (compat mode, declared flags) of the
    script or function ``argv`` runs, or None when it is unknown (the command then
    answers NOSCRIPT or "Function not found" itself)."""
    if len(argv) < 2:
        return None
    rt = client.server.extensions.get("scripting")
    try:
        if name == "fcall":
            fi = rt.get_function(argv[1]) if rt is not None else None
            return None if fi is None else (False, fi.flags)
        if name == "evalsha":
            script = rt.get_script(argv[1]) if rt is not None and len(argv[1]) == 40 else None
            return None if script is None else (script.compat, script.flags)
        from aki.scripting.shebang import parse_script_shebang

        head = parse_script_shebang(argv[1])
        return head.compat, head.flags
    except Exception:  # noqa: BLE001 - a bad shebang: EVAL itself reports it
        return None
