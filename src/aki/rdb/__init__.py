"""RDB interchange: a streaming reader and writer of Redis dump files, and DUMP/RESTORE payloads.

This package knows nothing of aki's storage: it turns bytes into plain Python records
and back. ``iter_records`` / ``RDBReader`` read RDB versions 1..11 with every encoding
Redis has written; ``RDBWriter`` / ``write_rdb`` write version 10 exactly as Redis 7.0
would; ``dump_value`` / ``load_value`` are the per-key DUMP/RESTORE serialization.
"""

from __future__ import annotations

from .crc64 import crc64
from .errors import DumpPayloadError, RDBError
from .reader import (
    MAX_VERSION,
    AuxRecord,
    FunctionRecord,
    KeyRecord,
    RDBReader,
    RDBWarning,
    Record,
    iter_records,
    load_value,
)
from .stream import StreamConsumer, StreamGroup, StreamPending, StreamValue
from .writer import RDB_VERSION, Limits, RDBWriter, dump_value, write_rdb

__all__ = [
    "MAX_VERSION",
    "RDB_VERSION",
    "AuxRecord",
    "DumpPayloadError",
    "FunctionRecord",
    "KeyRecord",
    "Limits",
    "RDBError",
    "RDBReader",
    "RDBWarning",
    "RDBWriter",
    "Record",
    "StreamConsumer",
    "StreamGroup",
    "StreamPending",
    "StreamValue",
    "crc64",
    "dump_value",
    "iter_records",
    "load_value",
    "write_rdb",
]
