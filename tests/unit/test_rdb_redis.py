"""The RDB codec against a real redis-server 7.0: fixtures, SAVE round trips, DUMP/RESTORE.

Each test starts its own redis-server on a free port in a temp dir (skipped when the
binary is missing) and compares what Redis holds with what the reader yields, or
loads what the writer wrote and compares again, key by key, including TTLs and the
encodings Redis picks.
"""

from __future__ import annotations

import io
import os
import random
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

redis = pytest.importorskip("redis")

from aki.rdb import (  # noqa: E402
    DumpPayloadError,
    FunctionRecord,
    KeyRecord,
    RDBError,
    RDBReader,
    RDBWriter,
    StreamValue,
    dump_value,
    iter_records,
    load_value,
)
from aki.rdb.crc64 import crc64  # noqa: E402

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rdb"

pytestmark = pytest.mark.skipif(not os.path.exists(REDIS_SERVER), reason="redis-server not installed")


class Server:
    """A redis-server loading ``dir/dbfilename``; ``stop()`` kills it."""

    def __init__(self, directory: Path, dbfilename: str = "dump.rdb") -> None:
        self.dir = directory
        self.log = directory / "redis.log"
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(directory),
                "--dbfilename", dbfilename,
                "--save", "",
                "--appendonly", "no",
                "--logfile", str(self.log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not self._pong():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server did not start: {self.log_text()[-1500:]}")
            time.sleep(0.02)

    def _pong(self) -> bool:
        """One raw PING (redis-py would retry with backoff for seconds on a refused file)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def client(self, db: int = 0) -> Any:
        return redis.Redis(port=self.port, db=db)

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[Server] = []

    def start(rdb: bytes | Path | None = None) -> Server:
        d = tmp_path / f"srv{len(servers)}"
        d.mkdir()
        if rdb is not None:
            (d / "dump.rdb").write_bytes(rdb if isinstance(rdb, bytes) else rdb.read_bytes())
        srv = Server(d)
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


# -- normalized views -----------------------------------------------------------------


def _sid(i: tuple[int, int]) -> bytes:
    return b"%d-%d" % i


def stream_view(s: StreamValue) -> dict[str, Any]:
    """The parts of a stream XINFO STREAM FULL shows, in its shape."""
    return {
        "length": s.length,
        "last": _sid(s.last_id),
        "max_deleted": _sid(s.max_deleted_entry_id),
        "added": s.entries_added,
        "first": _sid(s.first_id),
        "entries": [(_sid(i), [x for p in kv for x in p]) for i, kv in s.entries],
        "groups": sorted(
            (
                g.name,
                _sid(g.last_id),
                None if g.entries_read < 0 else g.entries_read,
                sorted((_sid(p.id), p.consumer, p.delivery_time, p.delivery_count) for p in g.pending),
                sorted((c.name, c.seen_time, sorted(_sid(i) for i in c.pending)) for c in g.consumers),
            )
            for g in s.groups
        ),
    }


def redis_stream_view(r: Any, key: bytes) -> dict[str, Any]:
    info = r.execute_command("XINFO", "STREAM", key, "FULL", "COUNT", 0)
    return {
        "length": info[b"length"],
        "last": info[b"last-generated-id"],
        "max_deleted": info[b"max-deleted-entry-id"],
        "added": info[b"entries-added"],
        "first": info[b"recorded-first-entry-id"],
        "entries": [(i, list(kv)) for i, kv in info[b"entries"]],
        "groups": sorted(
            (
                g[b"name"],
                g[b"last-delivered-id"],
                g[b"entries-read"],
                sorted(tuple(p) for p in g[b"pending"]),
                sorted(
                    (c[b"name"], c[b"seen-time"], sorted(p[0] for p in c[b"pending"]))
                    for c in g[b"consumers"]
                ),
            )
            for g in info[b"groups"]
        ),
    }


def value_view(kind: str, value: Any) -> Any:
    if kind == "set":
        return sorted(value)
    if kind in ("zset", "hash"):
        assert len(dict(value)) == len(value)
        return dict(value)
    if kind == "stream":
        return stream_view(value)
    return value


def records_state(records: Any) -> tuple[dict[tuple[int, bytes], Any], list[bytes]]:
    keys: dict[tuple[int, bytes], Any] = {}
    functions: list[bytes] = []
    for rec in records:
        if isinstance(rec, KeyRecord):
            assert (rec.db, rec.key) not in keys
            keys[(rec.db, rec.key)] = (rec.type, value_view(rec.type, rec.value), rec.expire_ms)
        elif isinstance(rec, FunctionRecord):
            functions.append(rec.code)
    return keys, sorted(functions)


def redis_value(r: Any, key: bytes, kind: str) -> Any:
    if kind == "string":
        return r.get(key)
    if kind == "list":
        return r.lrange(key, 0, -1)
    if kind == "set":
        return sorted(r.smembers(key))
    if kind == "zset":
        return dict(r.zrange(key, 0, -1, withscores=True))
    if kind == "hash":
        return r.hgetall(key)
    if kind == "stream":
        return redis_stream_view(r, key)
    raise AssertionError(kind)


def redis_state(srv: Server) -> tuple[dict[tuple[int, bytes], Any], list[bytes]]:
    keys: dict[tuple[int, bytes], Any] = {}
    for dbname in srv.client().info("keyspace"):
        db = int(dbname[2:])
        r = srv.client(db)
        for key in r.scan_iter(count=1000):
            kind = r.type(key).decode()
            expire = r.execute_command("PEXPIRETIME", key)
            keys[(db, key)] = (kind, redis_value(r, key, kind), None if expire == -1 else expire)
    libs = srv.client().execute_command("FUNCTION", "LIST", "WITHCODE")
    functions = sorted(
        lib[b"library_code"] if isinstance(lib, dict) else lib[lib.index(b"library_code") + 1] for lib in libs
    )
    return keys, functions


def redis_encodings(srv: Server) -> dict[tuple[int, bytes], bytes]:
    out = {}
    for dbname in srv.client().info("keyspace"):
        db = int(dbname[2:])
        r = srv.client(db)
        for key in r.scan_iter(count=1000):
            out[(db, key)] = r.object("encoding", key)
    return out


def read_file(path: Path, **kw: Any) -> list[Any]:
    with open(path, "rb") as f:
        return list(iter_records(f, **kw))


# -- fixtures written by old Redis versions ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "encodings.rdb",
        "hash-ziplist.rdb",
        "hash-zipmap.rdb",
        "list-quicklist.rdb",
        "zset-ziplist.rdb",
        "scriptbackup.rdb",
        "corrupt_empty_keys.rdb",
    ],
)
def test_fixture_matches_what_redis_loads(name: str, start_server: Any) -> None:
    srv = start_server(FIXTURES / name)
    ours = records_state(read_file(FIXTURES / name, on_warning=lambda m: None))
    assert ours == redis_state(srv)


def test_corrupt_ziplist_is_refused_by_both(start_server: Any, tmp_path: Path) -> None:
    with pytest.raises(RDBError, match=r"key:000000000091.*byte offset \d+"):
        read_file(FIXTURES / "corrupt_ziplist.rdb")
    d = tmp_path / "corrupt"
    d.mkdir()
    shutil.copy(FIXTURES / "corrupt_ziplist.rdb", d / "dump.rdb")
    with pytest.raises(RuntimeError, match="ziplist integrity check failed"):
        Server(d).stop()


# -- data generated in a live Redis 7.0 ---------------------------------------------------

LIBRARY = b"#!lua name=mylib\nredis.register_function('myfunc', function(keys, args) return 1 end)"


def populate(r: Any) -> None:
    """One key per type and encoding Redis 7.0 can produce, small and large."""
    rng = random.Random(7)
    far = int(time.time() * 1000) + 10**9
    r.set("s:int", "12345")
    r.set("s:neg", "-5")
    r.set("s:i64", str(2**62))
    r.set("s:lead0", "007")
    r.set("s:empty", "")
    r.set("s:big", "x" * 5000)
    r.set("s:bin", bytes(range(256)))
    r.set("s:rand", rng.randbytes(3000))
    r.set("s:ttl", "v", pxat=far)
    r.set(bytes(range(1, 40)), "binary key")
    r.rpush("l:small", b"a", b"1", b"-300", b"70000", b"5000000000", b"x" * 100, b"")
    r.rpush("l:big", *[rng.randbytes(rng.randint(0, 200)) for _ in range(1500)])
    r.rpush("l:ints", *range(-2000, 2000, 7))
    r.rpush("l:huge_el", b"y" * 20000, b"z")
    r.pexpireat("l:small", far + 1)
    r.sadd("set:int", 1, 2, 3, -7, 2**40, -(2**63))
    r.sadd("set:str", "a", "b", "c", "")
    r.sadd("set:bigint", *range(600))
    r.sadd("set:big", *[rng.randbytes(20) for _ in range(300)])
    r.zadd(
        "z:small",
        {"a": 1, "b": 2.5, "c": -3, "d": float("inf"), "e": 1e100, "f": 0.1, "g": float("-inf"), "": 0},
    )
    r.zadd("z:big", {f"m{i}": i / 3 for i in range(200)})
    r.zadd("z:longmember", {"m" * 100: 1, "n": 2})
    r.hset("h:small", mapping={"f1": "v1", "f2": "123", "": "empty"})
    r.hset("h:big", mapping={f"f{i}": "v" * i for i in range(200)})
    r.hset("h:longval", mapping={"a": "v" * 100})
    r.pexpireat("h:small", far + 2)
    r.xadd("st:1", {"a": "1", "b": "2"}, id="1-1")
    r.xadd("st:1", {"a": "3", "b": "4"}, id="1-2")
    r.xadd("st:1", {"c": "5"}, id="2-0")
    for i in range(250):
        r.xadd("st:1", {"n": str(i), "payload": "p" * (i % 50)}, id=f"{1000 + i}-{i % 4}")
    r.xgroup_create("st:1", "g1", id="0")
    r.xreadgroup("g1", "alice", {"st:1": ">"}, count=3)
    r.xreadgroup("g1", "bob", {"st:1": ">"}, count=2)
    r.xack("st:1", "g1", "1-2")
    r.xgroup_create("st:1", "g2", id="$")
    r.xgroup_createconsumer("st:1", "g2", "idle")
    r.xdel("st:1", "1-2", "1000-0")
    r.xadd("st:empty", {"x": "1"}, id="5-5")
    r.xdel("st:empty", "5-5")
    r.xgroup_create("st:mk", "g", id="$", mkstream=True)
    r3 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=3)
    r3.set("db3", "v")
    r3.hset("db3:h", "f", "v")
    r15 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=15)
    r15.rpush("db15:l", "x")
    r.function_load(LIBRARY)


@pytest.fixture
def populated(start_server: Any) -> Server:
    srv = start_server()
    populate(srv.client())
    srv.client().save()
    return srv


def test_save_then_read_matches_redis(populated: Server) -> None:
    records = read_file(populated.dir / "dump.rdb")
    keys, functions = records_state(records)
    assert (keys, functions) == redis_state(populated)
    assert functions == [LIBRARY]
    assert len(keys) == 30


@pytest.mark.parametrize("compress", [False, True])
def test_writer_output_loads_in_redis(
    populated: Server, start_server: Any, tmp_path: Path, compress: bool
) -> None:
    records = read_file(populated.dir / "dump.rdb")
    out = tmp_path / f"written{compress}.rdb"
    with open(out, "wb") as f:
        w = RDBWriter(f, compress=compress)
        w.begin()
        for rec in records:
            if isinstance(rec, FunctionRecord):
                w.write_function(rec.code)
        by_db: dict[int, list[KeyRecord]] = {}
        for rec in records:
            if isinstance(rec, KeyRecord):
                by_db.setdefault(rec.db, []).append(rec)
        for db, recs in sorted(by_db.items()):
            w.select_db(db, len(recs), sum(1 for r in recs if r.expire_ms is not None))
            for rec in recs:
                w.write_key(rec.key, rec.type, rec.value, rec.expire_ms)
        w.finish()
    data = out.read_bytes()
    assert data.startswith(b"REDIS0010")
    fresh = start_server(data)
    assert redis_state(fresh) == redis_state(populated)
    # The encodings Redis 7.0 would itself have chosen.
    assert redis_encodings(fresh) == redis_encodings(populated)
    # And our own reader agrees with what we wrote (checksum included).
    assert records_state(read_file(out)) == records_state(records)


def test_dump_payloads_from_redis_parse(populated: Server) -> None:
    for (db, key), (kind, view, _expire) in redis_state(populated)[0].items():
        payload = populated.client(db).dump(key)
        got_kind, value = load_value(payload)
        assert got_kind == kind
        assert value_view(kind, value) == view, key


def test_dump_value_restores_in_redis(populated: Server) -> None:
    state, _ = redis_state(populated)
    records = [r for r in read_file(populated.dir / "dump.rdb") if isinstance(r, KeyRecord)]
    for i, rec in enumerate(records):
        r = populated.client(rec.db)
        for compress in (False, True):
            new_key = b"restored:%d:%d" % (i, compress)
            r.restore(new_key, 0, dump_value(rec.type, rec.value, compress=compress))
            assert r.type(new_key).decode() == rec.type
            assert redis_value(r, new_key, rec.type) == state[(rec.db, rec.key)][1], rec.key
            assert r.object("encoding", new_key) == r.object("encoding", rec.key), rec.key


def test_dump_errors_match_redis_text(populated: Server) -> None:
    r = populated.client()
    good = r.dump("s:int")
    newer = good[:-10] + bytes((11, 0)) + good[-8:]
    flipped = good[:1] + bytes((good[1] ^ 1,)) + good[2:]
    for bad in (newer, flipped, b"short"):
        with pytest.raises(DumpPayloadError) as ours:
            load_value(bad)
        with pytest.raises(redis.ResponseError) as theirs:
            r.restore("bad", 0, bad)
        assert str(ours.value) == "ERR " + str(theirs.value)
        assert ours.value.message == "ERR DUMP payload version or checksum are wrong"
    # A valid envelope around an empty hash: "Bad data format" on both sides.
    empty = dump_value("hash", [(b"f", b"v")])
    body = bytes((4, 0)) + b"\x0a\x00"  # RDB_TYPE_HASH with zero fields
    payload = body + crc64(body).to_bytes(8, "little")
    with pytest.raises(DumpPayloadError) as ours:
        load_value(payload)
    with pytest.raises(redis.ResponseError) as theirs:
        r.restore("bad", 0, payload)
    assert str(ours.value) == "ERR " + str(theirs.value) == "ERR Bad data format"
    assert load_value(empty) == ("hash", [(b"f", b"v")])


def test_streamed_plain_encodings_load_in_redis(start_server: Any, tmp_path: Path) -> None:
    """Keys written element by element (types 1/2/5/4) load, converted by Redis as usual."""
    out = tmp_path / "streamed.rdb"
    n = 3000
    with open(out, "wb") as f:
        w = RDBWriter(f)
        w.begin()
        w.select_db(0, 4, 0)
        w.write_key(b"l", "list", (b"e%d" % i for i in range(n)), count=n)
        w.write_key(b"s", "set", (b"%d" % i for i in range(n)), count=n)
        w.write_key(b"z", "zset", ((b"m%d" % i, i / 7) for i in range(n)), count=n)
        w.write_key(b"h", "hash", ((b"f%d" % i, b"v") for i in range(n)), count=n)
        w.finish()
    srv = start_server(out)
    r = srv.client()
    assert r.lrange("l", 0, -1) == [b"e%d" % i for i in range(n)]
    assert r.scard("s") == n and r.zcard("z") == n and r.hlen("h") == n
    assert r.zscore("z", "m700") == 100.0


@pytest.mark.parametrize(
    ("type_byte", "blob", "redis_says"),
    [
        (11, b"\x02\x00\x00\x00\x00\x00\x00\x00", "Intset integrity check failed"),
        (9, b"\x00\xff", "Zipmap integrity check failed"),
    ],
)
def test_empty_intset_and_zipmap_are_corrupt_for_both(
    type_byte: int, blob: bytes, redis_says: str, tmp_path: Path
) -> None:
    data = b"REDIS0009\xfe\x00" + bytes((type_byte, 1)) + b"k" + bytes((len(blob),)) + blob + b"\xff"
    data += struct.pack("<Q", crc64(data))
    with pytest.raises(RDBError, match="empty"):
        list(iter_records(io.BytesIO(data)))
    (tmp_path / "dump.rdb").write_bytes(data)
    with pytest.raises(RuntimeError, match=redis_says):
        Server(tmp_path).stop()


@pytest.mark.parametrize(("policy", "attr"), [("allkeys-lfu", "freq"), ("allkeys-lru", "idle")])
def test_lfu_and_lru_opcodes_from_redis(start_server: Any, policy: str, attr: str) -> None:
    srv = start_server()
    r = srv.client()
    r.config_set("maxmemory-policy", policy)
    r.set("a", "1")
    r.hset("b", "f", "v")
    r.save()
    with open(srv.dir / "dump.rdb", "rb") as f:
        reader = RDBReader(f)
        seen = []
        for rec in reader:
            if isinstance(rec, KeyRecord):
                seen.append((rec.key, getattr(reader, attr)))
    assert sorted(k for k, _ in seen) == [b"a", b"b"]
    assert all(v is not None for _, v in seen)
