-- aki schema, version 1. Keys and members are BLOBs: Redis is binary-safe.
--
-- keys: one row per Redis key. Strings keep their value inline, so GET is one
-- indexed lookup. Collections keep their elements in a table of their own,
-- keyed by keys.id. A collection's id is chosen above every id in `keys` and in
-- `garbage` (Keyspace.new_id), so rows of a deleted collection that are still
-- being reclaimed can never be mistaken for a newer key's rows. Strings take
-- SQLite's own next rowid: they own no element rows, so an id they share with
-- a collection awaiting reclaim is harmless. (No AUTOINCREMENT: its bookkeeping
-- cost every INSERT about a fifth of its time; files made before keep it.)
--   type:      0 string, 1 list, 2 set, 3 zset, 4 hash, 5 stream
--   expire_at: absolute unix time in ms, NULL when the key has no TTL
--   len:       element count of a collection (LLEN/HLEN/SCARD/ZCARD in O(1))
--   head:      lists: position of the first element (positions are contiguous)
--   enc:       0 while Redis would still use the compact encoding, 1 once converted
--   db:        the physical database number (meta 'dbmap' maps SELECT indexes to it)
CREATE TABLE keys (
    id        INTEGER PRIMARY KEY,
    db        INTEGER NOT NULL,
    key       BLOB    NOT NULL,
    type      INTEGER NOT NULL,
    value     BLOB,
    expire_at INTEGER,
    len       INTEGER NOT NULL DEFAULT 0,
    head      INTEGER NOT NULL DEFAULT 0,
    enc       INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX keys_by_name ON keys (db, key);
CREATE INDEX keys_by_expiry ON keys (expire_at) WHERE expire_at IS NOT NULL;

-- Per-database counters kept by triggers, so DBSIZE and INFO keyspace are O(1)
-- and stay right when several processes write the file.
CREATE TABLE dbstats (
    db      INTEGER PRIMARY KEY,
    keys    INTEGER NOT NULL DEFAULT 0,
    expires INTEGER NOT NULL DEFAULT 0
);

CREATE TRIGGER keys_insert AFTER INSERT ON keys BEGIN
    INSERT INTO dbstats (db, keys, expires) VALUES (new.db, 1, new.expire_at IS NOT NULL)
    ON CONFLICT (db) DO UPDATE SET keys = keys + 1, expires = expires + (new.expire_at IS NOT NULL);
END;

CREATE TRIGGER keys_delete AFTER DELETE ON keys BEGIN
    UPDATE dbstats SET keys = keys - 1, expires = expires - (old.expire_at IS NOT NULL)
    WHERE db = old.db;
END;

CREATE TRIGGER keys_expire AFTER UPDATE OF expire_at ON keys
WHEN (old.expire_at IS NULL) != (new.expire_at IS NULL) BEGIN
    UPDATE dbstats SET expires = expires + (new.expire_at IS NOT NULL) - (old.expire_at IS NOT NULL)
    WHERE db = new.db;
END;

CREATE TRIGGER keys_move AFTER UPDATE OF db ON keys WHEN old.db != new.db BEGIN
    UPDATE dbstats SET keys = keys - 1, expires = expires - (old.expire_at IS NOT NULL)
    WHERE db = old.db;
    INSERT INTO dbstats (db, keys, expires) VALUES (new.db, 1, new.expire_at IS NOT NULL)
    ON CONFLICT (db) DO UPDATE SET keys = keys + 1, expires = expires + (new.expire_at IS NOT NULL);
END;

-- Elements of deleted collections. Small collections are removed at once by
-- the trigger below; big ones are queued here and reclaimed in small batches
-- so a DEL of a million-element key never stalls other clients.
CREATE TABLE garbage (
    key_id INTEGER PRIMARY KEY,
    type   INTEGER NOT NULL
);

CREATE TRIGGER keys_reclaim AFTER DELETE ON keys WHEN old.type != 0 BEGIN
    INSERT INTO garbage (key_id, type) SELECT old.id, old.type WHERE old.len > 256;
    DELETE FROM list_items WHERE old.type = 1 AND old.len <= 256 AND key_id = old.id;
    DELETE FROM set_members WHERE old.type = 2 AND old.len <= 256 AND key_id = old.id;
    DELETE FROM zset_members WHERE old.type = 3 AND old.len <= 256 AND key_id = old.id;
    DELETE FROM hash_fields WHERE old.type = 4 AND old.len <= 256 AND key_id = old.id;
    DELETE FROM stream_entries WHERE old.type = 5 AND old.len <= 256 AND key_id = old.id;
END;

-- Lists: contiguous integer positions; head and tail move by one per push/pop,
-- so both ends are O(1) and LINDEX is one indexed lookup (keys.head + index).
CREATE TABLE list_items (
    key_id INTEGER NOT NULL,
    pos    INTEGER NOT NULL,
    value  BLOB    NOT NULL,
    PRIMARY KEY (key_id, pos)
) WITHOUT ROWID;

-- Sets and hashes: h is a 62-bit hash of the member/field (storage/sets.py: mhash).
-- Ordering rows by h gives SSCAN/HSCAN an integer cursor that stays valid while the
-- collection changes, and SPOP/SRANDMEMBER/HRANDFIELD an O(log n) random pick.
CREATE TABLE set_members (
    key_id INTEGER NOT NULL,
    h      INTEGER NOT NULL,
    member BLOB    NOT NULL,
    PRIMARY KEY (key_id, h, member)
) WITHOUT ROWID;

-- Sorted sets: member -> score by the primary key, (score, member) order by the index.
CREATE TABLE zset_members (
    key_id INTEGER NOT NULL,
    member BLOB    NOT NULL,
    score  REAL    NOT NULL,
    PRIMARY KEY (key_id, member)
) WITHOUT ROWID;
CREATE INDEX zset_by_score ON zset_members (key_id, score, member);

-- seq: insertion order, the order of a listpack-encoded hash (HGETALL, HKEYS ...).
CREATE TABLE hash_fields (
    key_id INTEGER NOT NULL,
    h      INTEGER NOT NULL,
    field  BLOB    NOT NULL,
    value  BLOB    NOT NULL,
    seq    INTEGER NOT NULL,
    PRIMARY KEY (key_id, h, field)
) WITHOUT ROWID;

-- Streams: entries by (ms, seq); the stream's metadata lives in keys.value.
CREATE TABLE stream_entries (
    key_id INTEGER NOT NULL,
    ms     INTEGER NOT NULL,
    seq    INTEGER NOT NULL,
    fields BLOB    NOT NULL,
    PRIMARY KEY (key_id, ms, seq)
) WITHOUT ROWID;

-- Stream internals (storage/streams.py). IDs are stored shifted by -2**63.
-- stream_nodes: the radix-tree nodes (listpacks) Redis would hold: master ID, last
-- entry ID (tombstones included), live/deleted counts, listpack bytes without the two
-- counters, master fields. Groups, consumers and the PEL are rows of their own.
CREATE TABLE stream_nodes (
    key_id   INTEGER NOT NULL,
    ms       INTEGER NOT NULL,
    seq      INTEGER NOT NULL,
    last_ms  INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    live     INTEGER NOT NULL,
    deleted  INTEGER NOT NULL,
    ebytes   INTEGER NOT NULL,
    master   BLOB    NOT NULL,
    PRIMARY KEY (key_id, ms, seq)
) WITHOUT ROWID;

CREATE TABLE stream_groups (
    key_id       INTEGER NOT NULL,
    name         BLOB    NOT NULL,
    last_ms      INTEGER NOT NULL,
    last_seq     INTEGER NOT NULL,
    entries_read INTEGER NOT NULL,
    PRIMARY KEY (key_id, name)
) WITHOUT ROWID;

CREATE TABLE stream_consumers (
    key_id    INTEGER NOT NULL,
    grp       BLOB    NOT NULL,
    name      BLOB    NOT NULL,
    seen_time INTEGER NOT NULL,
    PRIMARY KEY (key_id, grp, name)
) WITHOUT ROWID;

CREATE TABLE stream_pel (
    key_id         INTEGER NOT NULL,
    grp            BLOB    NOT NULL,
    ms             INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    consumer       BLOB,
    delivery_time  INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL,
    PRIMARY KEY (key_id, grp, ms, seq)
) WITHOUT ROWID;
CREATE INDEX stream_pel_by_consumer ON stream_pel (key_id, grp, consumer, ms, seq);

-- A deleted stream's groups/nodes/PEL go with its entries: at once when small,
-- else through `garbage` (keyspace.reclaim_garbage).
CREATE TRIGGER keys_reclaim_stream AFTER DELETE ON keys WHEN old.type = 5 BEGIN
    INSERT OR IGNORE INTO garbage (key_id, type) SELECT old.id, 5
    WHERE old.len <= 256 AND EXISTS (SELECT 1 FROM stream_pel WHERE key_id = old.id LIMIT 1 OFFSET 256);
    DELETE FROM stream_nodes WHERE key_id = old.id AND old.len <= 256 AND NOT EXISTS (SELECT 1 FROM garbage WHERE key_id = old.id);
    DELETE FROM stream_pel WHERE key_id = old.id AND old.len <= 256 AND NOT EXISTS (SELECT 1 FROM garbage WHERE key_id = old.id);
    DELETE FROM stream_consumers WHERE key_id = old.id AND old.len <= 256 AND NOT EXISTS (SELECT 1 FROM garbage WHERE key_id = old.id);
    DELETE FROM stream_groups WHERE key_id = old.id AND old.len <= 256 AND NOT EXISTS (SELECT 1 FROM garbage WHERE key_id = old.id);
END;

-- Small named values: the dbmap, function libraries, replication ids.
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value BLOB
);

-- Read-only views so a person can look at the data with plain sqlite3.
CREATE VIEW redis_keys AS
SELECT db, CAST(key AS TEXT) AS key,
       CASE type WHEN 0 THEN 'string' WHEN 1 THEN 'list' WHEN 2 THEN 'set'
                 WHEN 3 THEN 'zset' WHEN 4 THEN 'hash' ELSE 'stream' END AS type,
       expire_at, len
FROM keys;
