"""aki as a replication primary: SYNC/PSYNC, the backlog, the command stream, WAIT.

A replica (a real Redis, or ``redis-cli --replica``, or Redis's test helper) connects,
sends ``PSYNC <replid> <offset>`` (or the old ``SYNC``) and receives either
``+CONTINUE`` and the missing part of the stream from the backlog, or
``+FULLRESYNC <replid> <offset>``, an RDB of the dataset as ``$<len>\\r\\n<bytes>``, and
then every write committed after that RDB's snapshot, as RESP commands (the same
propagated commands the AOF gets: EXPIRE as PEXPIREAT, scripts as their effects,
transactions inside MULTI/EXEC, a SELECT whenever the database changes).

Invariants (what a crash, or a failed batch, can and cannot leave behind):

* Only committed batches reach the stream: a batch's commands are collected by ``feed``
  while it runs and handed to the backlog and the replicas by ``after_commit`` when its
  COMMIT succeeded; a rolled-back batch is dropped. A replica never sees a write a
  crash of the primary could take back from the primary's own file.
* The RDB of a full sync is read from a snapshot pinned right after a COMMIT, before any
  later batch begins; the replica's stream starts with the first batch after that
  COMMIT. So RDB + stream is every committed write exactly once, in commit order.
  Replicas share one RDB (a ``SyncJob``): those that wait together for its start (the
  ``repl-diskless-sync-delay``), and those that ask while it is being written, who take
  the same ``+FULLRESYNC`` offset and a copy of the stream queued since its snapshot.
* ``master_repl_offset`` counts the bytes of the stream; the backlog holds the last
  ``repl-backlog-size`` of them, so a replica that asks to continue from an offset the
  backlog still holds gets exactly the bytes it missed.
* Nothing here writes the ``.aki`` file; a crash loses only the in-memory backlog and the
  links (replicas then resynchronize in full, as with a restarted Redis).
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import apsw

from aki.core.pubsub import output_limits
from aki.core.state import AofOnly
from aki.durability.aof import encode  # the stream is what the AOF gets, in the same RESP
from aki.resp.types import ErrorReply

if TYPE_CHECKING:
    from aki.core.session import Client
    from aki.core.state import Server

log = logging.getLogger("aki.replication")

WAIT_BGSAVE = "wait_bgsave"
SEND_BULK = "send_bulk"
ONLINE = "online"

_RDB_CHUNK = 256 * 1024
_MAX_UNSENT = 4 * 1024 * 1024  # bytes queued on a replica's socket before the RDB send waits


class Backlog:
    """The last ``size`` bytes of the stream, as chunks (one per batch), and the stream
    offset of its first byte. Trimming drops whole chunks and a prefix of the first, so
    an append never copies the bytes already held."""

    def __init__(self, size: int, next_offset: int) -> None:
        self.size = size
        self.chunks: collections.deque[bytes] = collections.deque()
        self.skip = 0  # bytes of chunks[0] already trimmed away
        self.histlen = 0
        self.first = next_offset  # offset of the first byte held (Redis: repl_backlog->offset)

    def append(self, data: bytes) -> None:
        self.chunks.append(data)
        self.histlen += len(data)
        self._trim()

    def _trim(self) -> None:
        excess = self.histlen - self.size
        while excess > 0 and self.chunks:
            head = len(self.chunks[0]) - self.skip
            if head <= excess:
                self.chunks.popleft()
                self.skip = 0
                cut = head
            else:
                self.skip += excess
                cut = excess
            self.histlen -= cut
            self.first += cut
            excess -= cut

    def resize(self, size: int) -> None:
        self.size = size
        self._trim()

    def since(self, offset: int) -> bytes:
        """The bytes from stream ``offset`` (inclusive) to the end."""
        skip = offset - self.first + self.skip
        out = []
        for c in self.chunks:
            if skip >= len(c):
                skip -= len(c)
                continue
            out.append(c[skip:] if skip else c)
            skip = 0
        return b"".join(out)


class ReplicaLink:
    """One replica: its connection, sync state, acknowledged offset."""

    def __init__(self, client: Client, port: int, addr: str | None, capa: set[str],
                 pre_psync: bool) -> None:
        self.client = client
        self.conn = client.connection  # type: ignore[attr-defined]
        self.port = port
        self.addr = addr
        self.capa = capa
        self.pre_psync = pre_psync  # old SYNC: no +FULLRESYNC, no REPLCONF ACK expected
        self.state = WAIT_BGSAVE
        self.pending: list[bytes] = []  # stream bytes while the RDB is made and sent
        self.pending_bytes = 0
        self.ack_offset = 0
        self.ack_time = time.time()
        self.job: SyncJob | None = None  # the RDB it waits for (None: not started yet)
        # after a streamed (diskless) RDB the stream waits for the replica's first ACK,
        # sent once it has loaded (Redis 7's repl_start_cmd_stream_on_ack)
        self.hold_until_ack = False
        self.asked = time.time()  # the full sync's request (repl-diskless-sync-delay)
        info = getattr(client, "replconf", None) or {}
        # REPLCONF rdb-only 1 (redis-cli --rdb): the RDB and no stream, then disconnected
        self.rdb_only = bool(info.get("rdb_only"))
        # REPLCONF rdb-filter-only (redis-cli --functions-rdb): no keys; functions only if
        # named (SLAVE_REQ_RDB_EXCLUDE_DATA / _FUNCTIONS)
        filters = info.get("rdb_filter")
        self.exclude_data = filters is not None
        self.exclude_functions = filters is not None and "functions" not in filters

    def ip(self) -> str:
        if self.addr:
            return self.addr
        return self.client.addr.rsplit(":", 1)[0]

    def write(self, data: bytes) -> bool:
        """Send (or, during the full sync, queue) stream bytes; False when the queue is
        over the ``replica`` class of client-output-buffer-limit (Redis then drops it)."""
        if self.rdb_only or (self.job is None and self.state == WAIT_BGSAVE):
            # canFeedReplicaReplBuffer: an rdb-only replica gets no stream, and one whose
            # RDB has not started yet gets the stream from that RDB's snapshot on
            return True
        if self.state == ONLINE and not self.hold_until_ack:
            self.client.write_out(data)  # type: ignore[misc]
            return True
        self.pending.append(data)
        self.pending_bytes += len(data)
        return not output_limits(self.client.server).check(self.client, self.pending_bytes)


class SyncJob:
    """One RDB for the full syncs that share it: the snapshot's offset, the file it is
    written to, and the links that wait for it; the file goes once nobody reads it."""

    _seq = 0

    def __init__(self, directory: str, replid: str, offset: int) -> None:
        SyncJob._seq += 1
        self.tmp = Path(directory) / f"temp-sync-{os.getpid()}-{SyncJob._seq}.rdb"
        self.replid = replid
        self.offset = offset
        self.diskless = False  # streamed to the sockets as it is written, no file
        self.mark = b""  # the diskless payload's end mark ($EOF:<mark>)
        self.links: list[ReplicaLink] = []
        self.done = False
        self.readers = 0  # links sending the file

    def live(self) -> list[ReplicaLink]:
        return [r for r in self.links if not r.client.closed]

    def remove_file(self) -> None:
        try:
            self.tmp.unlink()
        except FileNotFoundError:
            pass


class _StreamOut:
    """The file a streamed RDB is written to, in a worker thread: 64 KiB at a time
    handed to the loop (``Primary._fanout``), the thread waiting meanwhile, so a slow
    replica slows the writing instead of filling memory."""

    CHUNK = 64 * 1024

    def __init__(self, primary: Primary, job: SyncJob) -> None:
        self.primary = primary
        self.job = job
        self.buf = bytearray()
        self.gone = False  # every replica of the job left: the writing stops

    def write(self, data: bytes) -> int:
        self.buf += data
        if len(self.buf) >= self.CHUNK:
            self.flush()
        return len(data)

    def flush(self) -> None:
        if not self.buf or self.gone:
            return
        chunk = bytes(self.buf)
        self.buf.clear()
        loop = self.primary.app.loop
        fut = asyncio.run_coroutine_threadsafe(self.primary._fanout(self.job, chunk), loop)
        while True:
            try:
                self.gone = not fut.result(timeout=1.0)
                break
            except concurrent.futures.TimeoutError:
                if loop.is_closed() or not loop.is_running():  # shutting down
                    fut.cancel()
                    self.gone = True
                    return

    def abandoned(self) -> bool:
        """Asked by the writer every few keys (every key under rdb-key-save-delay)."""
        return self.gone or not self.job.live()


class Primary:
    """The replicas of this server and the stream they are fed (``server.extensions
    ["primary"]``, made by the first SYNC/PSYNC)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.app = server.extensions["app"]
        self.replicas: list[ReplicaLink] = []
        self.backlog: Backlog | None = None
        self.buf: list[bytes] = []  # the open batch's stream
        self.proxy_buf: list[bytes] = []  # on a replica: its primary's stream, this batch
        self.cur_db = -1  # Redis's slaveseldb: -1 forces a SELECT before the next command
        self.to_attach: list[ReplicaLink] = []
        self.waiting: list[ReplicaLink] = []  # full syncs whose RDB has not started
        self.job: SyncJob | None = None  # the shared RDB being written
        self.start_due = False  # the waiting syncs start after the open batch commits
        self.no_replicas_since = time.time()
        self.last_ping = time.time()
        self.waiters: list[Any] = []  # WAIT: (Suspend, target offset, numreplicas)
        self.getack = False
        self.app.committer.after_commit.append(self.after_commit)
        self.task = self.app.loop.create_task(self.cron())
        self.app.tasks.append(self.task)
        server.config.on_change("repl-backlog-size", self._resize)

    # -- the stream ------------------------------------------------------------------

    def _create_backlog(self) -> None:
        """Redis's createReplicationBacklog; on a primary after changeReplicationId (a new
        history), on a replica in its primary's history (it proxies the primary's stream)."""
        server = self.server
        if "master_link" not in server.extensions:
            server.replid2 = "0" * 40
            server.replid = os.urandom(20).hex()
            server.second_repl_offset = -1
        self.backlog = Backlog(int(server.config.repl_backlog_size), server.master_repl_offset + 1)
        self.server.propagators.append(self.feed)
        log.info("Replication backlog created, my new replication IDs are '%s' and '%s'",
                 server.replid, server.replid2)

    def ensure_backlog(self) -> None:
        if self.backlog is None:
            self._create_backlog()

    def _resize(self, size: Any) -> None:
        if self.backlog is not None:
            self.backlog.resize(int(size))

    def feed(self, db: int, argv: list[bytes]) -> None:
        """A propagated write of the open batch (server.propagators). A replica sends its
        sub-replicas its primary's stream as it came (feed_from_master), never its own
        propagation (a writable replica's local writes stay local, as in Redis)."""
        if "master_link" in self.server.extensions or type(argv) is AofOnly:
            return
        if db != self.cur_db and db >= 0:
            self.buf.append(encode([b"SELECT", b"%d" % db]))
            self.cur_db = db
        self.buf.append(encode(argv))

    def feed_raw(self, argv: list[bytes]) -> None:
        """DEBUG REPLICATE: into the stream as is, in the current database (no SELECT)."""
        if self.backlog is not None:
            self.buf.append(encode(argv))
            if not self.server.engine.in_tx:
                self.after_commit(True)

    def feed_from_master(self, data: bytes) -> None:
        """replicationFeedStreamFromMasterStream: the primary's stream bytes this replica
        applied (the link already advanced ``master_repl_offset`` by them), for the
        backlog and the sub-replicas once the batch that applied them commits."""
        if self.backlog is not None:
            self.proxy_buf.append(data)
        self.cur_db = -1  # promoted later, its own stream starts with a SELECT

    def _emit(self, data: bytes, advance: bool = True) -> None:
        """Committed stream bytes: into the backlog and to every replica."""
        if advance:
            self.server.master_repl_offset += len(data)
        if self.backlog is not None:
            self.backlog.append(data)
        for r in list(self.replicas):
            if not r.write(data):
                log.warning("Client id=%d addr=%s scheduled to be closed ASAP for overcoming "
                            "of output buffer limits.", r.client.id, r.client.addr)
                self.drop(r)
                continue
            self.server.stats.net_repl_output += len(data)

    def after_commit(self, ok: bool) -> None:
        if self.proxy_buf:
            data = b"".join(self.proxy_buf)
            self.proxy_buf = []
            if ok:  # else the link drops and the next sync is a full one (replica.py)
                self._emit(data, advance=False)
        buf = self.buf
        if buf:
            self.buf = []
            if ok:
                self._emit(b"".join(buf))
            else:
                self.cur_db = -1  # the dropped batch may have held the SELECT
        if self.to_attach:
            attach = self.to_attach
            self.to_attach = []
            for r in attach:
                self._full_sync_requested(r)
        if self.start_due:
            self.start_due = False
            self._start_job(self.waiting)
        if self.getack and self.replicas:
            self.getack = False
            self._emit(encode([b"REPLCONF", b"GETACK", b"*"]))

    def pending_offset(self) -> int:
        """The offset the stream reaches once the open batch commits (WAIT's target)."""
        return self.server.master_repl_offset + sum(map(len, self.buf))

    # -- SYNC / PSYNC ------------------------------------------------------------------

    def sync(self, client: Client, psync: tuple[str, int] | None) -> None:
        """SYNC (psync None) or PSYNC replid offset from ``client``, already checked."""
        server = self.server
        info = getattr(client, "replconf", None) or {}  # what REPLCONF said before
        link = ReplicaLink(client, info.get("port", 0), info.get("addr"),
                           info.get("capa", set()), pre_psync=psync is None)
        client.kind = "replica"
        client.reply_mode = "off"  # a replica hears the stream, never replies
        if psync is not None:
            if self._try_partial(link, *psync):
                self.server.stats.sync_partial_ok += 1
                return
            if not psync[0].startswith("?"):
                self.server.stats.sync_partial_err += 1
        server.stats.sync_full += 1
        log.info("Replica %s:%d asks for synchronization", link.ip(), link.port)
        if not self.replicas and not self.to_attach and self.backlog is None:
            self._create_backlog()
        # the snapshot is pinned right after this batch's COMMIT (after_commit): only then
        # does the replica join the stream, since this batch's writes are in the snapshot
        self.to_attach.append(link)
        if not server.engine.in_tx:
            self.after_commit(True)

    def _try_partial(self, link: ReplicaLink, replid: str, offset: int) -> bool:
        server = self.server
        second = getattr(server, "second_repl_offset", -1)
        if replid.lower() != server.replid and (replid.lower() != server.replid2
                                                or offset > second):
            if not replid.startswith("?"):
                log.info("Partial resynchronization not accepted: Replication ID mismatch "
                         "(Replica asked for '%s', my replication IDs are '%s' and '%s')",
                         replid, server.replid, server.replid2)
            return False
        bl = self.backlog
        if bl is None or offset < bl.first or offset > bl.first + bl.histlen:
            log.info("Unable to partial resync with replica %s:%d for lack of backlog "
                     "(Replica request was: %d).", link.ip(), link.port, offset)
            return False
        link.state = ONLINE
        link.ack_time = time.time()
        self.replicas.append(link)
        head = (b"+CONTINUE %s\r\n" % server.replid.encode() if "psync2" in link.capa
                else b"+CONTINUE\r\n")
        missing = bl.since(offset)
        link.client.write_out(head + missing)  # type: ignore[misc]
        log.info("Partial resynchronization request from %s:%d accepted. Sending %d bytes of "
                 "backlog starting from offset %d.", link.ip(), link.port, len(missing), offset)
        return True

    def _full_sync_requested(self, link: ReplicaLink) -> None:
        """Between two batches: join the RDB being written, or wait for the next one
        (syncCommand: with ``repl-diskless-sync`` and a delay, the RDB starts once the
        first replica has waited that long, or ``repl-diskless-sync-max-replicas`` wait)."""
        if link.client.closed:
            return
        self.replicas.append(link)  # listed as wait_bgsave from now on
        if link.exclude_data or link.exclude_functions:
            self._start_job([link], shared=False)  # an RDB of its own
            return
        job = self.job
        if (job is not None and not job.done and job.replid == self.server.replid
                and job.live()):
            if not job.diskless:
                self._join(job, link)
                return
            # its RDB is already on the sockets: the next one starts when it ends
            log.info("Current BGSAVE has socket target. Waiting for next BGSAVE for SYNC")
            self.waiting.append(link)
            return
        self.waiting.append(link)
        cfg = self.server.config
        if (cfg.repl_diskless_sync and int(cfg.repl_diskless_sync_delay)
                and "eof" in link.capa):
            if len(self.waiting) == 1:
                log.info("Delay next BGSAVE for diskless SYNC")
                self.app.loop.call_later(0.1, self._check_waiting)
            return
        self._start_job(self.waiting)

    def _check_waiting(self) -> None:
        """shouldStartBgsaveForReplication, ten times a second while replicas wait."""
        self.waiting = [r for r in self.waiting if not r.client.closed]
        if not self.waiting or self.start_due or (self.job is not None and not self.job.done):
            return
        cfg = self.server.config
        most = int(cfg.repl_diskless_sync_max_replicas)
        idle = int(time.time() - min(r.asked for r in self.waiting))
        if (not cfg.repl_diskless_sync or (most and len(self.waiting) >= most)
                or idle >= int(cfg.repl_diskless_sync_delay)):
            if self.server.engine.in_tx:
                self.start_due = True  # pinned after the open batch's COMMIT
            else:
                self._start_job(self.waiting)
            return
        self.app.loop.call_later(0.1, self._check_waiting)

    def _start_job(self, links: list[ReplicaLink], shared: bool = True) -> None:
        """Between two batches: pin the snapshot, say +FULLRESYNC, write the RDB in a
        thread; the stream from the next batch on waits in each link's ``pending``."""
        server = self.server
        links = [r for r in links if not r.client.closed]
        if shared:
            self.waiting = []
        if not links:
            return
        self.cur_db = -1  # the replicas' stream must start with a SELECT
        try:
            conn = server.engine.snapshot_connection()
            conn.execute("BEGIN")
            conn.execute("SELECT count(*) FROM meta").fetchall()  # the snapshot starts here
        except apsw.Error as exc:
            log.error("cannot start a full sync: %s", exc)
            for r in links:
                self.drop(r)
            return
        job = SyncJob(server.config.dir, server.replid, server.master_repl_offset)
        # startBgsaveForReplication: to the sockets when every replica can read $EOF:
        job.diskless = bool(server.config.repl_diskless_sync) and all(
            "eof" in r.capa for r in links)
        if shared:
            self.job = job
        log.info("Starting BGSAVE for SYNC with target: %s",
                 "replicas sockets" if job.diskless else "disk")
        for r in links:
            self._attach(job, r)
        first = links[0]
        if job.diskless:
            job.mark = os.urandom(20).hex().encode()
            for r in links:
                r.client.write_out(b"$EOF:" + job.mark + b"\r\n")  # type: ignore[misc]
            out = _StreamOut(self, job)
            fut = self.app.loop.run_in_executor(None, self._stream_rdb, conn, out,
                                                not first.exclude_data,
                                                not first.exclude_functions)
        else:
            fut = self.app.loop.run_in_executor(None, self._write_rdb, conn, job.tmp,
                                                not first.exclude_data,
                                                not first.exclude_functions)
        fut.add_done_callback(lambda f: self._rdb_done(job, f))

    def _attach(self, job: SyncJob, link: ReplicaLink) -> None:
        link.job = job
        job.links.append(link)
        if not link.pre_psync:
            link.client.write_out(  # type: ignore[misc]
                b"+FULLRESYNC %s %d\r\n" % (job.replid.encode(), job.offset))

    def _join(self, job: SyncJob, link: ReplicaLink) -> None:
        """Redis's attach to a disk BGSAVE in progress: the same offset, and a copy of
        the stream another of its replicas has queued since the snapshot."""
        donor = job.live()[0]
        link.pending = list(donor.pending)
        link.pending_bytes = donor.pending_bytes
        self._attach(job, link)
        log.info("Waiting for end of BGSAVE for SYNC")

    def _write_rdb(self, conn: apsw.Connection, path: Path, keys: bool = True,
                   functions_too: bool = True) -> int:
        from aki.storage.bulk import write_snapshot_rdb

        cfg = self.server.config
        try:
            with open(path, "wb") as f:
                write_snapshot_rdb(conn, f, compress=bool(cfg.rdbcompression),
                                   checksum=bool(cfg.rdbchecksum), begin=False,
                                   on_warning=log.warning, keys=keys,
                                   functions_too=functions_too,
                                   key_delay=cfg.rdb_key_save_delay)
            return path.stat().st_size
        finally:
            conn.close()

    def _stream_rdb(self, conn: apsw.Connection, out: _StreamOut, keys: bool,
                    functions_too: bool) -> None:
        """Diskless: the RDB goes to the replicas' sockets as it is written (a worker
        thread; each full buffer waits until the loop has handed it to every socket)."""
        from aki.storage.bulk import write_snapshot_rdb

        cfg = self.server.config
        try:
            write_snapshot_rdb(conn, out, compress=bool(cfg.rdbcompression),
                               checksum=bool(cfg.rdbchecksum), begin=False,
                               on_warning=log.warning, keys=keys, functions_too=functions_too,
                               key_delay=cfg.rdb_key_save_delay, cancelled=out.abandoned)
            out.flush()
        finally:
            conn.close()

    async def _fanout(self, job: SyncJob, chunk: bytes) -> bool:
        """One chunk of a streamed RDB to every replica still there; returns once their
        socket buffers are below the bound again (False: none is left)."""
        for r in job.live():
            r.conn.transport.write(chunk)
            self.server.stats.net_repl_output += len(chunk)
        since = time.time()
        while True:
            live = [r for r in job.live() if not r.conn.transport.is_closing()]
            if not live:
                return False
            full = [r for r in live if r.conn.transport.get_write_buffer_size() > _MAX_UNSENT]
            if not full:
                return True
            if time.time() - since > max(1, int(self.server.config.repl_timeout)):
                for r in full:  # replicationCron: a transfer that stopped moving
                    log.warning("Disconnecting timedout replica (full sync): %s:%d",
                                r.ip(), r.port)
                    self.drop(r)
                continue
            await asyncio.sleep(0.005)

    def _rdb_done(self, job: SyncJob, fut: asyncio.Future) -> None:
        job.done = True
        if self.job is job:
            self.job = None
        if self.waiting:  # those that waited for this one: their RDB next
            self.app.loop.call_soon(self._check_waiting)
        exc = fut.exception()
        live = job.live()
        if exc is not None:
            from aki.storage.bulk import SnapshotCancelled

            if isinstance(exc, SnapshotCancelled):  # nobody was left to send it to
                # (Redis kills its fork child here; the writing thread stops)
                log.warning("Diskless rdb transfer, last replica dropped, stopping the "
                            "RDB writer.")
            else:
                log.error("writing the RDB for a full sync failed: %s", exc)
            job.remove_file()
            for r in live:
                self.drop(r)
            return
        if job.diskless:
            log.info("Diskless rdb transfer, done reading from pipe, %d replicas still up.",
                     len(live))
            for r in live:
                r.client.write_out(job.mark)  # type: ignore[misc]
                if r.rdb_only:
                    log.info("RDB transfer completed, rdb only replica (%s:%d) should be "
                             "disconnected asap", r.ip(), r.port)
                    self.drop(r)
                    continue
                r.state = ONLINE
                r.hold_until_ack = not r.pre_psync
                r.ack_time = time.time()
                if r.hold_until_ack:
                    log.info("Streamed RDB transfer with replica %s:%d succeeded (socket). "
                             "Waiting for REPLCONF ACK from slave to enable streaming",
                             r.ip(), r.port)
                else:
                    self._start_stream(r)
            return
        size = fut.result()
        for r in live:
            r.state = SEND_BULK
            job.readers += 1
            task = self.app.loop.create_task(self._send_bulk(r, job, size))
            self.app.tasks.append(task)
            task.add_done_callback(
                lambda t: self.app.tasks.remove(t) if t in self.app.tasks else None)
        if not job.readers:
            job.remove_file()

    async def _send_bulk(self, link: ReplicaLink, job: SyncJob, size: int) -> None:
        transport = link.conn.transport
        try:
            with open(job.tmp, "rb") as f:
                transport.write(b"$%d\r\n" % size)
                while True:
                    chunk = f.read(_RDB_CHUNK)
                    if not chunk:
                        break
                    if transport.is_closing():
                        return
                    transport.write(chunk)
                    self.server.stats.net_repl_output += len(chunk)
                    while transport.get_write_buffer_size() > _MAX_UNSENT:
                        if transport.is_closing():
                            return
                        await asyncio.sleep(0.005)
        except OSError as exc:
            log.error("sending the RDB to replica %s:%d failed: %s", link.ip(), link.port, exc)
            self.drop(link)
            return
        finally:
            job.readers -= 1
            if not job.readers:
                job.remove_file()
        if link.client.closed:
            return
        if link.rdb_only:  # replicaPutOnline: the RDB was all it asked for
            log.info("RDB transfer completed, rdb only replica (%s:%d) should be disconnected "
                     "asap", link.ip(), link.port)
            self.drop(link)
            return
        link.state = ONLINE
        link.ack_time = time.time()
        self._start_stream(link)

    def _start_stream(self, link: ReplicaLink) -> None:
        """replicaStartCommandStream: what was queued during the sync, then live."""
        link.hold_until_ack = False
        pending = link.pending
        link.pending = []
        link.pending_bytes = 0
        if pending:
            link.client.write_out(b"".join(pending))  # type: ignore[misc]
        log.info("Synchronization with replica %s:%d succeeded", link.ip(), link.port)

    def sync_rdb_running(self) -> bool:
        """An RDB for replicas is being written (INFO rdb_bgsave_in_progress, as Redis's
        child for a SYNC)."""
        return self.job is not None or any(
            r.job is not None and not r.job.done for r in self.replicas)

    # -- links -------------------------------------------------------------------------

    def drop(self, link: ReplicaLink) -> None:
        """Forget a replica and close its connection."""
        self.forget(link.client)
        close = getattr(link.client, "close_connection", None)
        if close is not None:
            close()

    def forget(self, client: Client) -> None:
        """A replica's connection closed (server.close_hooks)."""
        for r in list(self.replicas):
            if r.client is client:
                self.replicas.remove(r)
                job = r.job
                if job is not None and not job.done and not job.live():
                    job.remove_file()  # nobody waits for it (its thread writes on, unlinked)
                log.info("Connection with replica %s:%d lost.", r.ip(), r.port)
        if not self.replicas:
            self.no_replicas_since = time.time()
        self._check_waiters()

    def disconnect_replicas(self, keep_backlog: bool = False) -> None:
        """Close every replica link and, unless ``keep_backlog``, forget the backlog (this
        server follows a new primary, or a full sync replaced its history:
        replicationAttachToNewMaster). REPLICAOF NO ONE keeps it: the replicas come back
        with PSYNC and the old id, now replid2, and continue."""
        for r in list(self.replicas):
            self.drop(r)
        for r in self.to_attach:
            self.drop(r)
        self.to_attach = []
        self.waiting = []
        self.start_due = False
        self.proxy_buf = []
        self.cur_db = -1
        if keep_backlog:
            return
        self.backlog = None
        if self.feed in self.server.propagators:
            self.server.propagators.remove(self.feed)

    def ack(self, client: Client, offset: int) -> None:
        for r in self.replicas:
            if r.client is client:
                if offset > r.ack_offset:
                    r.ack_offset = offset
                r.ack_time = time.time()
                if r.hold_until_ack:  # it loaded the streamed RDB: the stream starts
                    self._start_stream(r)
        self._check_waiters()
        if "failover" in self.server.extensions:
            from aki.replication.failover import update

            # the target may have caught up; checked after this ACK's command, as Redis's
            # beforeSleep does, since failing over disconnects the replicas
            self.app.loop.call_soon(update, self.server)

    def save_position(self) -> None:
        """Shutdown hook: record the stream position the file is at (see restore_position)."""
        server = self.server
        if self.backlog is None or "master_link" in server.extensions:
            return
        engine = server.engine
        try:
            engine.begin()
            engine.cur.executemany(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                zip(_POSITION, (server.replid, server.master_repl_offset), strict=True))
            engine.commit()
        except apsw.Error as exc:
            engine.rollback()
            log.warning("could not record the replication position: %s", exc)

    def buffer_memory(self) -> tuple[int, int]:
        """INFO memory: the backlog's bytes, and the stream bytes the replicas have not
        taken yet (queued during a full sync, or unsent on their sockets)."""
        backlog = self.backlog.histlen if self.backlog is not None else 0
        unsent = 0
        for r in self.replicas:
            unsent += r.pending_bytes
            size = getattr(r.client, "output_size", None)
            if size is not None:
                unsent += size()
        return backlog, unsent

    def good_replicas(self) -> int:
        """Online replicas whose last ACK is at most min-replicas-max-lag seconds old."""
        max_lag = int(self.server.config.min_replicas_max_lag)
        now = time.time()
        return sum(1 for r in self.replicas if r.state == ONLINE and now - r.ack_time <= max_lag)

    # -- WAIT --------------------------------------------------------------------------

    def count_acks(self, offset: int) -> int:
        return sum(1 for r in self.replicas if r.state == ONLINE and r.ack_offset >= offset)

    def wait(self, susp: Any, offset: int, numreplicas: int) -> None:
        entry = [susp, offset, numreplicas]
        self.waiters.append(entry)
        susp.on_cancel = lambda: self.waiters.remove(entry) if entry in self.waiters else None
        self.request_ack()

    def request_ack(self) -> None:
        """REPLCONF GETACK * into the stream, after this loop pass's batch (WAIT, and a
        shutdown waiting for its replicas)."""
        self.getack = True
        if not self.server.engine.in_tx:
            self.after_commit(True)

    def _check_waiters(self) -> None:
        for entry in list(self.waiters):
            susp, offset, numreplicas = entry
            n = self.count_acks(offset)
            susp.timeout_reply = n  # what a timeout answers
            if n >= numreplicas:
                self.waiters.remove(entry)
                susp.resume(n)

    # -- cron --------------------------------------------------------------------------

    async def cron(self) -> None:
        """replicationCron, once a second: PINGs into the stream, newlines to replicas
        waiting for their RDB, timeouts, the backlog's time to live."""
        server = self.server
        cfg = server.config
        while True:
            await asyncio.sleep(1.0)
            if server.cron_paused:  # DEBUG PAUSE-CRON stops replicationCron too
                continue
            now = time.time()
            if self.replicas and now - self.last_ping >= max(1, int(cfg.repl_ping_replica_period)) \
                    and "master_link" not in server.extensions \
                    and not self._failover_with_timeout():  # a replica proxies its primary's
                self.last_ping = now
                ping = encode([b"PING"])
                if server.engine.in_tx:
                    self.buf.append(ping)
                else:
                    self._emit(ping)
            for r in list(self.replicas):
                if (r.state == WAIT_BGSAVE and not r.client.closed
                        and (r.job is None or not r.job.diskless)):  # not inside a payload
                    r.conn.transport.write(b"\n")
                elif (r.state == ONLINE and not r.pre_psync
                      and now - r.ack_time > int(cfg.repl_timeout)):
                    log.warning("Disconnecting timedout replica (streaming sync): %s:%d",
                                r.ip(), r.port)
                    self.drop(r)
            ttl = int(getattr(cfg, "repl_backlog_ttl", 3600) or 0)
            if (self.backlog is not None and not self.replicas and ttl
                    and now - self.no_replicas_since > ttl
                    and "master_link" not in server.extensions):  # a replica keeps its own
                self.backlog = None
                if self.feed in server.propagators:
                    server.propagators.remove(self.feed)
                log.info("Replication backlog freed after %d seconds without connected "
                         "replicas.", ttl)

    def _failover_with_timeout(self) -> bool:
        """replicationCron withholds the PING during a FAILOVER with a TIMEOUT (it would
        move the offset the target must reach)."""
        fo = self.server.extensions.get("failover")
        return fo is not None and bool(fo.end_time) and bool(self.server.paused_until)

    # -- introspection -----------------------------------------------------------------

    def replica_lines(self) -> list[str]:
        now = time.time()
        lines = []
        for i, r in enumerate(self.replicas):
            lag = int(now - r.ack_time) if r.state == ONLINE else 0
            lines.append(f"slave{i}:ip={r.ip()},port={r.port},state={r.state},"
                         f"offset={r.ack_offset},lag={lag}")
        return lines


def enough_good_replicas(server: Server) -> bool:
    """checkGoodReplicasStatus: False when ``min-replicas-to-write`` asks for more replicas
    with a recent ACK than this primary has (writes then answer NOREPLICAS)."""
    cfg = server.config
    need = int(cfg.min_replicas_to_write)
    if not need or not int(cfg.min_replicas_max_lag) or "master_link" in server.extensions:
        return True
    prim = server.extensions.get("primary")
    return prim is not None and prim.good_replicas() >= need


_NOREPLICAS = "NOREPLICAS Not enough good replicas to write."


def noreplicas_guard(client: Client, cmd: Any, argv: list[bytes]) -> Any:
    """processCommand's NOREPLICAS: a write command (or EXEC of a queue holding one, or a
    script declared able to write) while too few good replicas (execute() calls this only
    while min-replicas-to-write is set: server.extensions["primary_guard"])."""
    from aki.replication.replica import is_write_command  # (replica.py imports this module)

    if client.kind in ("master", "aof") or enough_good_replicas(client.server):
        return None
    if is_write_command(client, cmd, argv):
        return ErrorReply(_NOREPLICAS)
    return None


def primary(server: Server) -> Primary:
    """The server's Primary, made on first use (the first SYNC/PSYNC)."""
    p = server.extensions.get("primary")
    if p is None:
        p = server.extensions["primary"] = Primary(server)
        server.close_hooks.append(p.forget)
        server.extensions.setdefault("shutdown_hooks", []).append(p.save_position)
    return p


# -- a primary's position across a clean restart -------------------------------------------
#
# Invariant: meta rows ``master_replid``/``master_offset`` exist only between a clean
# shutdown that wrote them (after the last COMMIT: they describe exactly the file) and
# the next start, which consumes them. A crash leaves none (or the consumed state), so
# replicas then resynchronize in full; after a clean restart they continue with PSYNC
# (Redis does the same with the replication info of the RDB it saves at shutdown).

_POSITION = ("master_replid", "master_offset")


def restore_position(server: Server) -> bool:
    """At start-up of a primary: the history of before the restart becomes replid2, so
    replicas that were in step continue with PSYNC. False when nothing was recorded."""
    engine = server.engine
    rows = dict(engine.cur.execute(
        "SELECT name, value FROM meta WHERE name IN (?, ?)", _POSITION).fetchall())
    if not rows:
        return False
    engine.begin()
    try:
        engine.cur.execute("DELETE FROM meta WHERE name IN (?, ?)", _POSITION)
    except BaseException:
        engine.rollback()
        raise
    engine.commit()
    replid, offset = rows.get("master_replid"), rows.get("master_offset")
    if not isinstance(replid, str) or len(replid) != 40 or not isinstance(offset, int):
        return False
    server.master_repl_offset = offset
    prim = primary(server)
    prim.ensure_backlog()  # a new id; the backlog starts right after the old offset
    server.replid2 = replid
    server.second_repl_offset = offset + 1
    log.info("Replication history of before the restart kept as replid2 %s, valid up to "
             "offset %d", replid, offset + 1)
    return True
