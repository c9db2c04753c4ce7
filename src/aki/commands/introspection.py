"""Introspection: COMMAND, INFO, SLOWLOG, LATENCY, MEMORY, MONITOR, DEBUG, LOLWUT.

COMMAND answers from the registry, whose entries are Redis 7.0.15's own COMMAND
INFO/DOCS replies (tagged JSON); only implemented commands and subcommands are
listed, so a client never discovers a command aki would refuse.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import sys
import time
from typing import Any

from aki import errors
from aki.commands.common import atoi, to_float, to_int
from aki.commands.connection import help_reply
from aki.commands.dump import migrate_links
from aki.core.histogram import cdf_usec, percentile_usec
from aki.core.registry import (
    COMMANDS,
    Command,
    by_fullname,
    command,
    implemented,
    table_entry,
    total_calls,
)
from aki.errors import RedisError
from aki.replication.failover import state as failover_state
from aki.resp.types import OK, Raw, RespSet, Status, Verbatim

try:
    from aki import _lane  # the compiled GET lane (server/connection.py configures it)
except ImportError:  # pragma: no cover - built without a C compiler
    _lane = None  # type: ignore[assignment]

# -- tagged JSON -> reply values ------------------------------------------------------------


def _conv(x: Any) -> Any:
    if isinstance(x, dict):
        t = x["t"]
        v = x["v"]
        if t == "set":
            return RespSet(_conv(i) for i in v)
        if t == "map":
            return {_conv(k): _conv(val) for k, val in v}
        if t == "status":
            return Status(v)
        return _conv(v)
    if isinstance(x, str):
        return x.encode()
    if isinstance(x, list):
        return [_conv(i) for i in x]
    return x


_info_cache: dict[str, list] = {}
_docs_cache: dict[str, dict] = {}


def _has_handler(cmd: Command) -> bool:
    return cmd.handler is not None or any(s.handler for s in cmd.subcommands.values())


def command_info(cmd: Command) -> list:
    """COMMAND INFO's entry for ``cmd``, its subcommand list cut to implemented ones."""
    cached = _info_cache.get(cmd.fullname)
    if cached is not None:
        return cached
    info = cmd.info
    assert info is not None
    out = [_conv(x) for x in info[:9]]
    subs: list = []
    seen = set()
    raw = info[9] if len(info) > 9 else []
    if isinstance(raw, dict):
        raw = raw["v"]
    for s in raw:
        name = s[0]
        sc = cmd.subcommands.get(name.split("|")[1].encode())
        if sc is not None and sc.handler is not None:
            subs.append(command_info(sc))
            seen.add(name)
    for sc in cmd.subcommands.values():
        if sc.handler is not None and sc.fullname not in seen and sc.info is not None:
            subs.append(command_info(sc))
    out.append(subs)
    _info_cache[cmd.fullname] = out
    return out


def command_docs(cmd: Command) -> dict:
    cached = _docs_cache.get(cmd.fullname)
    if cached is not None:
        return cached
    docs = _conv(cmd.docs) if cmd.docs is not None else {}
    if b"subcommands" in docs:
        subs = {}
        for name, d in docs[b"subcommands"].items():
            sc = cmd.subcommands.get(name.split(b"|")[1])
            if sc is not None and sc.handler is not None:
                subs[name] = d
        for sc in cmd.subcommands.values():
            key = sc.fullname.encode()
            if sc.handler is not None and key not in subs and sc.docs is None \
                    and cmd.docs is not None:
                continue
        if subs:
            docs[b"subcommands"] = subs
        else:
            del docs[b"subcommands"]
    _docs_cache[cmd.fullname] = docs
    return docs


def _lookup(name: bytes) -> Command | None:
    """lookupCommandBySds: ``name`` or ``container|sub``, implemented only."""
    parts = name.lower().split(b"|")
    if len(parts) > 2:
        return None
    cmd = COMMANDS.get(parts[0])
    if cmd is None or not _has_handler(cmd):
        return None
    if len(parts) == 2:
        sc = cmd.subcommands.get(parts[1])
        return sc if sc is not None and sc.handler is not None else None
    return cmd


@command("command")
def command_(c, argv):
    return [command_info(cmd) for cmd in implemented()]


@command("command|count")
def command_count(c, argv):
    return len(implemented())


@command("command|info")
def command_info_cmd(c, argv):
    if len(argv) == 2:
        return [command_info(cmd) for cmd in implemented()]
    out = []
    for name in argv[2:]:
        cmd = _lookup(name)
        out.append(command_info(cmd) if cmd is not None else None)
    return out


@command("command|docs")
def command_docs_cmd(c, argv):
    out = {}
    if len(argv) == 2:
        for cmd in implemented():
            out[cmd.fullname.encode()] = command_docs(cmd)
        return out
    for name in argv[2:]:
        cmd = _lookup(name)
        if cmd is not None:
            out[cmd.fullname.encode()] = command_docs(cmd)
    return out


def _all_names():
    for cmd in implemented():
        yield cmd
        for sc in cmd.subcommands.values():
            if sc.handler is not None:
                yield sc


@command("command|list")
def command_list(c, argv):
    from aki.storage.keyspace import compile_glob

    i = 2
    n = len(argv)
    filt = None
    while i < n:
        if argv[i].lower() == b"filterby" and n - 1 - i == 2:
            kind = argv[i + 1].lower()
            if kind not in (b"module", b"aclcat", b"pattern"):
                raise RedisError(errors.SYNTAX)
            filt = (kind, argv[i + 2])
            i += 3
        else:
            raise RedisError(errors.SYNTAX)
    out = []
    for cmd in _all_names():
        if filt is not None:
            kind, arg = filt
            if kind == b"module":
                continue
            if kind == b"aclcat":
                cat = "@" + arg.decode("utf-8", "replace").lower()
                if cat not in cmd.categories:
                    continue
            else:
                if not compile_glob(arg.lower())(cmd.fullname.encode()):
                    continue
        out.append(cmd.fullname.encode())
    return out


# -- key extraction from key specs (getKeysUsingKeySpecs) ---------------------------------


def _spec_list(cmd: Command) -> list[dict]:
    if cmd.info is None or len(cmd.info) < 9:
        return []
    return [_conv(s) for s in cmd.info[8]["v"]]


def keys_from_specs(cmd: Command, argv: list[bytes]) -> list[tuple[int, RespSet]] | None:
    """Key positions and their flags as Redis derives them; None for an invalid spec."""
    argc = len(argv)
    result: list[tuple[int, RespSet]] = []
    for spec in _spec_list(cmd):
        flags = spec.get(b"flags", RespSet())
        if "not_key" in flags:
            continue
        bs = spec[b"begin_search"]
        first = 0
        if bs[b"type"] == b"index":
            first = bs[b"spec"][b"index"]
        elif bs[b"type"] == b"keyword":
            kw = bs[b"spec"][b"keyword"].lower()
            start = bs[b"spec"][b"startfrom"]
            si = start if start > 0 else argc + start
            ei = argc - 1 if start > 0 else 1
            i = si
            while True:
                if i == ei or i >= argc or i < 1:
                    break
                if argv[i].lower() == kw:
                    first = i + 1
                    break
                i = i + 1 if si <= ei else i - 1
            if not first:
                continue
        else:
            return None
        fk = spec[b"find_keys"]
        fs = fk[b"spec"]
        if fk[b"type"] == b"range":
            step = fs[b"keystep"]
            lastkey = fs[b"lastkey"]
            limit = fs[b"limit"]
            if lastkey >= 0:
                last = first + lastkey
            elif not limit:
                last = argc + lastkey
            else:
                last = first + ((argc - first) // limit + lastkey)
        elif fk[b"type"] == b"keynum":
            step = fs[b"keystep"]
            idx = fs[b"keynumidx"]
            if first + idx >= argc:
                return None
            numkeys = to_int(argv[first + idx])
            if numkeys is None or numkeys < 0:
                return None
            first += fs[b"firstkey"]
            last = first + numkeys - 1
        else:
            return None
        if last >= argc or last < first or first >= argc:
            return None
        for i in range(first, last + 1, step):
            result.append((i, flags))
        if "incomplete" in flags:
            return None
    return result


def _sort_keys(argv: list[bytes]) -> list[tuple[int, RespSet]]:
    """sortGetKeys: the key, plus the STORE target."""
    out = [(1, RespSet([Status("RO"), Status("access")]))]
    skip = {b"limit": 2, b"get": 1, b"by": 1}
    i = 2
    store = None
    while i < len(argv):
        a = argv[i].lower()
        if a in skip:
            i += skip[a]
        elif a == b"store" and i + 1 < len(argv):
            store = i + 1
            i += 1
        i += 1
    if store is not None:
        out.append((store, RespSet([Status("OW"), Status("update")])))
    return out


_spec_commands: dict[str, Command | None] = {}


def _spec_command(target: list[bytes]) -> Command | None:
    """The command ``target`` names, as Redis 7.0's table declares it (key positions are
    a property of the command's syntax, answered even before aki implements it)."""
    top = target[0].lower().decode("utf-8", "replace")
    entry = table_entry(top)
    info = entry.get("info")
    if info is None:
        reg = COMMANDS.get(top.encode())
        return reg if reg is not None and reg.info is not None and reg.handler else None
    subs = info[9]["v"] if isinstance(info[9], dict) else info[9]
    name = top
    if subs:
        if len(target) < 2:
            return None
        name = top + "|" + target[1].lower().decode("utf-8", "replace")
    if name in _spec_commands:
        return _spec_commands[name]
    reg = COMMANDS.get(top.encode())
    if reg is not None and name != top:
        reg = reg.subcommands.get(name.split("|")[1].encode())
    if reg is not None and reg.info is not None:
        cmd: Command | None = reg
    elif name == top:
        cmd = Command(top, info, entry.get("docs"), None)
    else:
        sub = next((s for s in subs if s[0] == name), None)
        cmd = Command(name, sub, None, None) if sub is not None else None
    _spec_commands[name] = cmd
    return cmd


_MIGRATE_FLAGS = RespSet([Status("RW"), Status("access"), Status("delete")])


def _getkeys(c, argv, with_flags: bool):
    target = argv[2:]
    cmd = _spec_command(target)
    if cmd is None:
        raise RedisError("ERR Invalid command specified")
    specs = _spec_list(cmd)
    has_keys = any("not_key" not in s.get(b"flags", ()) for s in specs)
    if not has_keys and cmd.key_finder is None:
        raise RedisError("ERR The command has no key arguments")
    n = len(target)
    if (cmd.arity > 0 and cmd.arity != n) or n < -cmd.arity:
        raise RedisError("ERR Invalid number of arguments specified for command")
    if cmd.fullname == "sort":
        keys = _sort_keys(target)
    elif cmd.fullname == "sort_ro":  # its BY/GET key spec is "unknown": only the sorted key
        keys = _sort_keys(target)[:1]
    elif cmd.fullname == "set":  # setGetKeys: GET turns the overwrite into a read-write
        get = any(a.lower() == b"get" for a in target[3:])
        keys = [(1, RespSet([Status("RW"), Status("access"), Status("update")]) if get
                 else RespSet([Status("OW"), Status("update")]))]
    elif cmd.fullname == "bitfield":  # bitfieldGetKeys: read-only without SET/INCRBY
        ro = not any(a.lower() in (b"set", b"incrby") for a in target[2:])
        keys = [(1, RespSet([Status("RO"), Status("access")]) if ro
                 else RespSet([Status("RW"), Status("access"), Status("update")]))]
    else:
        keys = keys_from_specs(cmd, target)
        if keys is None and cmd.key_finder is not None:
            # an incomplete spec: the command's own key finder (migrateGetKeys marks
            # every key RW access delete)
            flags = _MIGRATE_FLAGS if cmd.fullname == "migrate" else RespSet()
            keys = [(i, flags) for i in cmd.key_finder(target)]
    if not keys:
        if "no_mandatory_keys" in cmd.flags:
            return []
        raise RedisError("ERR Invalid arguments specified for command")
    if with_flags:
        return [[target[i], flags] for i, flags in keys]
    return [target[i] for i, _ in keys]


@command("command|getkeys")
def command_getkeys(c, argv):
    return _getkeys(c, argv, False)


@command("command|getkeysandflags")
def command_getkeysandflags(c, argv):
    return _getkeys(c, argv, True)


_COMMAND_HELP = [
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
]


@command("command|help")
def command_help(c, argv):
    return help_reply(argv[0], _COMMAND_HELP)


# -- INFO ------------------------------------------------------------------------------------

DEFAULT_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication",
                    "cpu", "module_list", "errorstats", "cluster", "keyspace", "aki")
# genRedisInfoString's order; aki's own section comes last
ALL_SECTIONS = ("server", "clients", "memory", "persistence", "stats", "replication", "cpu",
                "module_list", "commandstats", "errorstats", "latencystats", "cluster",
                "keyspace", "aki")


def bytes_to_human(n: int) -> str:
    """bytesToHuman: 100B, 2.00K, 1.50M ..."""
    if n < 1024:
        return f"{n}B"
    for unit, div in (("K", 1024), ("M", 1024**2), ("G", 1024**3), ("T", 1024**4),
                      ("P", 1024**5)):
        if n < div * 1024 or unit == "P":
            return f"{n / div:.2f}{unit}"
    return f"{n}B"


def rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _total_system_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 0


def _ops_per_sec(server) -> int:
    """instantaneous_ops_per_sec from commands counted between two INFO-time samples."""
    ext = server.extensions
    now = time.monotonic()
    total = total_calls()
    prev = ext.get("ops_sample")
    rate = ext.get("ops_rate", 0)
    if prev is None or now - prev[0] >= 0.1:
        if prev is not None:
            rate = int((total - prev[1]) / (now - prev[0]))
        ext["ops_sample"] = (now, total)
        ext["ops_rate"] = rate
    return rate


def _safe(name: str) -> str:
    for ch in "#:\n\r":
        name = name.replace(ch, "_")
    return name


def _all_commands():
    for cmd in COMMANDS.values():
        yield cmd
        yield from cmd.subcommands.values()


def _section(server, name: str, client) -> list[str] | None:
    cfg = server.config
    now = time.time()
    if name == "server":
        uname = os.uname()
        up = int(now - server.start_time)
        app = server.extensions.get("app")  # None in the embedded library
        return [
            "# Server",
            "redis_version:7.0.15",
            f"aki_version:{server.version}",
            "redis_git_sha1:00000000",
            "redis_git_dirty:0",
            "redis_build_id:0",
            "redis_mode:standalone",
            f"os:{uname.sysname} {uname.release} {uname.machine}",
            "arch_bits:64",
            "monotonic_clock:POSIX clock_gettime",
            "multiplexing_api:epoll",
            "atomicvar_api:c11-builtin",
            "gcc_version:0.0.0",
            f"process_id:{os.getpid()}",
            "process_supervised:no",
            f"run_id:{server.run_id}",
            f"tcp_port:{cfg.port or cfg.tls_port}",  # as Redis: the TLS port without TCP
            f"server_time_usec:{int(now * 1_000_000)}",
            f"uptime_in_seconds:{up}",
            f"uptime_in_days:{up // 86400}",
            f"hz:{cfg.hz}",
            f"configured_hz:{cfg.hz}",
            f"lru_clock:{int(now) & ((1 << 24) - 1)}",
            f"executable:{sys.executable}",
            f"config_file:{cfg.source_file or ''}",
            "io_threads_active:0",
            *(app.shutdown.info() if app is not None else ()),
        ]
    if name == "clients":
        clients = server.clients.values()
        blocked = sum(1 for cl in clients if cl.blocked is not None)
        tracking = sum(1 for cl in clients if cl.tracking)
        return [
            "# Clients",
            f"connected_clients:{len(server.clients) - _replica_count(server)}",
            "cluster_connections:0",
            f"maxclients:{cfg.maxclients}",
            "client_recent_max_input_buffer:20480",
            "client_recent_max_output_buffer:0",
            f"blocked_clients:{blocked}",
            f"tracking_clients:{tracking}",
            # blocked with a timeout (not forever, not paused): Redis's timeout table
            f"clients_in_timeout_table:{sum(1 for cl in clients if getattr(cl.blocked, 'timeout', 0))}",
        ]
    if name == "memory":
        rss = rss_bytes()
        peak = max(server.extensions.get("peak_memory", 0), rss)
        server.extensions["peak_memory"] = peak
        startup = server.extensions.setdefault("startup_memory", rss)
        sysmem = _total_system_memory()
        maxmem = cfg.maxmemory
        dataset = max(rss - startup, 0)
        primary = server.extensions.get("primary")
        backlog, unsent = primary.buffer_memory() if primary is not None else (0, 0)
        rt = server.extensions.get("scripting")
        scripts = getattr(rt, "scripts", {}) if rt is not None else {}
        libraries = getattr(rt, "libraries", {}) if rt is not None else {}
        n_scripts = len(scripts)
        n_libraries = len(libraries)
        n_functions = sum(len(getattr(lib, "functions", ())) for lib in libraries.values())
        scripts_mem = sum(len(getattr(sc, "body", b"")) for sc in scripts.values())
        lua_mem = 31744 + scripts_mem
        return [
            "# Memory",
            f"used_memory:{rss}",
            f"used_memory_human:{bytes_to_human(rss)}",
            f"used_memory_rss:{rss}",
            f"used_memory_rss_human:{bytes_to_human(rss)}",
            f"used_memory_peak:{peak}",
            f"used_memory_peak_human:{bytes_to_human(peak)}",
            f"used_memory_peak_perc:{rss * 100 / peak if peak else 100:.2f}%",
            f"used_memory_overhead:{startup}",
            f"used_memory_startup:{startup}",
            f"used_memory_dataset:{dataset}",
            f"used_memory_dataset_perc:{dataset * 100 / rss if rss else 0:.2f}%",
            f"allocator_allocated:{rss}",
            f"allocator_active:{rss}",
            f"allocator_resident:{rss}",
            f"total_system_memory:{sysmem}",
            f"total_system_memory_human:{bytes_to_human(sysmem)}",
            f"used_memory_lua:{lua_mem}",
            f"used_memory_vm_eval:{lua_mem}",
            f"used_memory_lua_human:{bytes_to_human(lua_mem)}",
            f"used_memory_scripts_eval:{scripts_mem}",
            f"number_of_cached_scripts:{n_scripts}",
            f"number_of_functions:{n_functions}",
            f"number_of_libraries:{n_libraries}",
            "used_memory_vm_functions:32768",
            "used_memory_vm_total:64512",
            "used_memory_vm_total_human:63.00K",
            "used_memory_functions:184",
            "used_memory_scripts:184",
            "used_memory_scripts_human:184B",
            f"maxmemory:{maxmem}",
            f"maxmemory_human:{bytes_to_human(maxmem)}",
            f"maxmemory_policy:{cfg.maxmemory_policy}",
            "allocator_frag_ratio:1.00",
            "allocator_frag_bytes:0",
            "allocator_rss_ratio:1.00",
            "allocator_rss_bytes:0",
            "rss_overhead_ratio:1.00",
            "rss_overhead_bytes:0",
            "mem_fragmentation_ratio:1.00",
            "mem_fragmentation_bytes:0",
            "mem_not_counted_for_evict:0",
            f"mem_replication_backlog:{backlog}",
            f"mem_total_replication_buffers:{backlog + unsent}",
            f"mem_clients_slaves:{unsent}",
            f"mem_clients_normal:{22272 * len(server.clients)}",
            "mem_cluster_links:0",
            "mem_aof_buffer:0",
            "mem_allocator:libc",
            "active_defrag_running:0",
            # aki's lazy free: big deleted collections (and every collection of a
            # flushed db) reclaimed in the background in small steps
            f"lazyfree_pending_objects:{server.ks.garbage_pending()}",
            f"lazyfreed_objects:{server.ks.lazyfreed}",
        ]
    if name == "persistence":
        from aki.durability import rdbsave

        rdb = rdbsave.info(server)
        aof_state = server.extensions.get("aof") or server.extensions.get("aof_offline")
        aof = aof_state.info() if aof_state is not None else {}
        lines = [
            "# Persistence",
            "loading:0",
            "async_loading:0",
            "current_cow_peak:0",
            "current_cow_size:0",
            "current_cow_size_age:0",
            "current_fork_perc:0.00",
            "current_save_keys_processed:0",
            "current_save_keys_total:0",
            f"rdb_changes_since_last_save:{rdb['rdb_changes_since_last_save']}",
            f"rdb_bgsave_in_progress:{rdb['rdb_bgsave_in_progress']}",
            f"rdb_last_save_time:{max(rdb['rdb_last_save_time'] or 0, server.lastsave)}",
            f"rdb_last_bgsave_status:{rdb['rdb_last_bgsave_status']}",
            f"rdb_last_bgsave_time_sec:{rdb['rdb_last_bgsave_time_sec']}",
            f"rdb_current_bgsave_time_sec:{rdb['rdb_current_bgsave_time_sec']}",
            f"rdb_saves:{rdb['rdb_saves']}",
            "rdb_last_cow_size:0",
            "rdb_last_load_keys_expired:0",
            "rdb_last_load_keys_loaded:0",
            f"aof_enabled:{1 if cfg.appendonly else 0}",
            f"aof_rewrite_in_progress:{aof.get('aof_rewrite_in_progress', 0)}",
            "aof_rewrite_scheduled:0",
            f"aof_last_rewrite_time_sec:{aof.get('aof_last_rewrite_time_sec', -1)}",
            f"aof_current_rewrite_time_sec:{aof.get('aof_current_rewrite_time_sec', -1)}",
            f"aof_last_bgrewrite_status:{aof.get('aof_last_bgrewrite_status', 'ok')}",
            f"aof_rewrites:{aof.get('aof_rewrites', 0)}",
            f"aof_rewrites_consecutive_failures:{aof.get('aof_rewrites_consecutive_failures', 0)}",
            f"aof_last_write_status:{aof.get('aof_last_write_status', 'ok')}",
            "aof_last_cow_size:0",
            "module_fork_in_progress:0",
            "module_fork_last_cow_size:0",
        ]
        if aof.get("aof_enabled"):
            lines += [
                f"aof_current_size:{aof.get('aof_current_size', 0)}",
                f"aof_base_size:{aof.get('aof_base_size', 0)}",
                "aof_pending_rewrite:0",
                "aof_buffer_length:0",
                "aof_pending_bio_fsync:0",
                "aof_delayed_fsync:0",
            ]
        return lines
    if name == "stats":
        tracking = server.extensions.get("tracking")
        st = server.stats
        ks = server.ks
        pubsub = server.pubsub
        nchan = len(getattr(pubsub, "channels", {}) or {})
        npat = len(getattr(pubsub, "patterns", {}) or {})
        nshard = len(getattr(pubsub, "shard_channels", {}) or {})
        return [
            "# Stats",
            f"total_connections_received:{st.total_connections}",
            f"total_commands_processed:{total_calls()}",
            f"instantaneous_ops_per_sec:{_ops_per_sec(server)}",
            f"total_net_input_bytes:{st.net_input}",
            f"total_net_output_bytes:{st.net_output}",
            f"total_net_repl_input_bytes:{st.net_repl_input}",
            f"total_net_repl_output_bytes:{st.net_repl_output}",
            "instantaneous_input_kbps:0.00",
            "instantaneous_output_kbps:0.00",
            "instantaneous_input_repl_kbps:0.00",
            "instantaneous_output_repl_kbps:0.00",
            f"rejected_connections:{st.rejected_connections}",
            f"sync_full:{st.sync_full}",
            f"sync_partial_ok:{st.sync_partial_ok}",
            f"sync_partial_err:{st.sync_partial_err}",
            f"expired_keys:{st.expired_keys}",
            "expired_stale_perc:0.00",
            "expired_time_cap_reached_count:0",
            "expire_cycle_cpu_milliseconds:0",
            "evicted_keys:0",
            "evicted_clients:0",
            "total_eviction_exceeded_time:0",
            "current_eviction_exceeded_time:0",
            f"keyspace_hits:{ks.hits}",
            f"keyspace_misses:{ks.misses}",
            f"pubsub_channels:{nchan}",
            f"pubsub_patterns:{npat}",
            f"pubsubshard_channels:{nshard}",
            "latest_fork_usec:0",
            "total_forks:0",
            f"migrate_cached_sockets:{len(migrate_links(server))}",
            "slave_expires_tracked_keys:0",
            "active_defrag_hits:0",
            "active_defrag_misses:0",
            "active_defrag_key_hits:0",
            "active_defrag_key_misses:0",
            "total_active_defrag_time:0",
            "current_active_defrag_time:0",
            f"tracking_total_keys:{len(tracking.table) if tracking else 0}",
            f"tracking_total_items:{tracking.items if tracking else 0}",
            f"tracking_total_prefixes:{len(tracking.prefixes) if tracking else 0}",
            f"unexpected_error_replies:{st.unexpected_error_replies}",
            f"total_error_replies:{st.total_error_replies}",
            "dump_payload_sanitizations:0",
            f"total_reads_processed:{st.io_reads}",
            f"total_writes_processed:{st.io_writes}",
            "io_threaded_reads_processed:0",
            "io_threaded_writes_processed:0",
            "reply_buffer_shrinks:0",
            "reply_buffer_expands:0",
        ]
    if name == "replication":
        custom = server.extensions.get("info_replication")
        if custom is not None:
            return custom()
        link = server.extensions.get("master_link")
        prim = server.extensions.get("primary")
        lines = link.info_lines() if link is not None else ["# Replication", "role:master"]
        replicas = prim.replica_lines() if prim is not None else []
        lines.append(f"connected_slaves:{len(replicas)}")
        if cfg.min_replicas_to_write and cfg.min_replicas_max_lag:
            good = prim.good_replicas() if prim is not None else 0
            lines.append(f"min_slaves_good_slaves:{good}")
        lines.extend(replicas)
        backlog = prim.backlog if prim is not None else None
        return lines + [
            f"master_failover_state:{failover_state(server)}",
            f"master_replid:{server.replid}",
            f"master_replid2:{server.replid2}",
            f"master_repl_offset:{server.master_repl_offset}",
            f"second_repl_offset:{getattr(server, 'second_repl_offset', -1)}",
            f"repl_backlog_active:{int(backlog is not None)}",
            f"repl_backlog_size:{cfg.repl_backlog_size}",
            f"repl_backlog_first_byte_offset:{backlog.first if backlog is not None else 0}",
            f"repl_backlog_histlen:{backlog.histlen if backlog is not None else 0}",
        ]
    if name == "cpu":
        ru = resource.getrusage(resource.RUSAGE_SELF)
        ch = resource.getrusage(resource.RUSAGE_CHILDREN)
        return [
            "# CPU",
            f"used_cpu_sys:{ru.ru_stime:.6f}",
            f"used_cpu_user:{ru.ru_utime:.6f}",
            f"used_cpu_sys_children:{ch.ru_stime:.6f}",
            f"used_cpu_user_children:{ch.ru_utime:.6f}",
            f"used_cpu_sys_main_thread:{ru.ru_stime:.6f}",
            f"used_cpu_user_main_thread:{ru.ru_utime:.6f}",
        ]
    if name in ("module_list", "modules"):
        return ["# Modules"]
    if name == "commandstats":
        out = ["# Commandstats"]
        for cmd in _all_commands():
            if cmd.calls or cmd.failed_calls or cmd.rejected_calls:
                per = cmd.usec / cmd.calls if cmd.calls else 0
                out.append(
                    f"cmdstat_{_safe(cmd.fullname)}:calls={cmd.calls},usec={cmd.usec},"
                    f"usec_per_call={per:.2f},rejected_calls={cmd.rejected_calls},"
                    f"failed_calls={cmd.failed_calls}")
        return out
    if name == "errorstats":
        out = ["# Errorstats"]
        for code, n in server.stats.errors.items():
            out.append(f"errorstat_{_safe(code)}:count={n}")
        return out
    if name == "latencystats":
        out = ["# Latencystats"]
        if cfg.latency_tracking:
            wanted = [(p, float(p)) for p in cfg.latency_tracking_info_percentiles.split()]
            for cmd in _all_commands():
                if cmd.latency:
                    out.append(f"latency_percentiles_usec_{_safe(cmd.fullname)}:" + ",".join(
                        f"p{p}={percentile_usec(cmd.latency, v):.3f}" for p, v in wanted))
        return out
    if name == "cluster":
        return ["# Cluster", "cluster_enabled:0"]
    if name == "keyspace":
        out = ["# Keyspace"]
        ks = server.ks
        for db in range(server.engine.databases):
            keys, expires = ks.db_stats(db)
            if keys:
                out.append(f"db{db}:keys={keys},expires={expires},avg_ttl={_avg_ttl(ks, db, expires)}")
        return out
    if name == "aki":
        engine = server.engine
        size, wal = engine.file_sizes()
        walbuf = engine.wal_buffer_stats()
        return [
            "# Aki",
            f"aki_version:{server.version}",
            f"aki_file:{engine.path}",
            f"aki_file_size:{size}",
            f"aki_wal_size:{wal}",
            f"aki_wal_pages:{engine.wal_pages}",
            f"aki_commits:{engine.commits}",
            f"aki_fsyncs:{engine.fsyncs}",
            f"aki_checkpoints:{engine.checkpoints}",
            f"aki_wal_buffer:{'off' if walbuf is None else 'on'}",
            f"aki_wal_buffer_writes:{walbuf[0] if walbuf else 0}",
            f"aki_wal_buffer_bytes:{walbuf[1] if walbuf else 0}",
            f"aki_appendfsync:{engine.appendfsync}",
            f"aki_cache_size:{cfg.cache_size}",
            f"aki_row_cache_entries:{len(server.ks.cache)}",
            f"aki_row_cache_max_entries:{server.ks.cache_entries}",
            f"aki_get_lane:{'on' if _lane is not None and _lane.enabled() else 'off'}",
            f"aki_get_lane_served:{_lane.served() if _lane is not None else 0}",
            f"aki_set_lane_served:{_lane.served_set() if _lane is not None else 0}",
            f"aki_collection_lane_served:{_lane.served_collection() if _lane is not None else 0}",
            f"aki_call_lane_served:{_lane.served_call() if _lane is not None else 0}",
        ]
    return None


def _avg_ttl(ks, db: int, expires: int) -> int:
    """Mean remaining TTL in ms, estimated from up to 1000 volatile keys (as Redis samples)."""
    if not expires:
        return 0
    now = ks.now()
    row = ks.cur.execute(
        "SELECT avg(expire_at) FROM (SELECT expire_at FROM keys WHERE db = ? AND "
        "expire_at > ? LIMIT 1000)", (ks.dbmap[db], now)).fetchone()
    if not row or row[0] is None:
        return 0
    return max(int(row[0] - now), 0)


def info_text(server, args: list[bytes], client=None) -> str:
    """genRedisInfoString for the given INFO arguments."""
    everything = False
    all_sections = False
    wanted: list[str] = []
    if not args:
        wanted = list(DEFAULT_SECTIONS)
    for a in args:
        s = a.decode("utf-8", "replace").lower()
        if s == "default":
            wanted += [x for x in DEFAULT_SECTIONS if x not in wanted]
        elif s == "all":
            all_sections = True
        elif s == "everything":
            everything = all_sections = True
        elif s not in wanted:
            wanted.append(s)
    order = list(ALL_SECTIONS)
    if all_sections:
        chosen = order
    else:
        chosen = [s for s in order if s in wanted or (s == "module_list" and "modules" in wanted)]
    parts = []
    for name in chosen:
        lines = _section(server, name, client)
        if lines is not None:
            parts.append("\r\n".join(lines) + "\r\n")
    del everything
    return "\r\n".join(parts)


@command("info")
def info(c, argv):
    return Verbatim(info_text(c.server, argv[1:], c).encode())


# -- SLOWLOG ---------------------------------------------------------------------------------


@command("slowlog|get")
def slowlog_get(c, argv):
    log = c.server.slowlog
    count = 10
    if len(argv) == 3:
        v = to_int(argv[2])
        if v is None or v < -1:
            raise RedisError("ERR count should be greater than or equal to -1")
        count = len(log) if v == -1 else v
    out = []
    for entry in log:
        if len(out) >= count:
            break
        eid, ts, usec, args, peer, cname = entry
        out.append([eid, ts, usec, list(args), peer, cname])
    return out


@command("slowlog|len")
def slowlog_len(c, argv):
    return len(c.server.slowlog)


@command("slowlog|reset")
def slowlog_reset(c, argv):
    c.server.slowlog.clear()
    return OK


@command("slowlog|help")
def slowlog_help(c, argv):
    return help_reply(argv[0], [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ])


# -- LATENCY ---------------------------------------------------------------------------------


@command("latency|latest")
def latency_latest(c, argv):
    out = []
    for event, series in c.server.latency_events.items():
        if not series:
            continue
        t, ms = series[-1]
        out.append([event.encode(), t, ms, max(x[1] for x in series)])
    return out


@command("latency|history")
def latency_history(c, argv):
    series = c.server.latency_events.get(argv[2].decode("utf-8", "replace"))
    if not series:
        return []
    return [[t, ms] for t, ms in series]


@command("latency|reset")
def latency_reset(c, argv):
    events = c.server.latency_events
    if len(argv) == 2:
        n = len(events)
        events.clear()
        return n
    n = 0
    for a in argv[2:]:
        if events.pop(a.decode("utf-8", "replace"), None) is not None:
            n += 1
    return n


@command("latency|graph")
def latency_graph(c, argv):
    name = argv[2].decode("utf-8", "replace")
    series = c.server.latency_events.get(name)
    if not series:
        raise RedisError(f"ERR No samples available for event '{name}'")
    values = [ms for _, ms in series]
    hi, lo = max(values), min(values)
    text = f"{name} - high {hi} ms, low {lo} ms (all time high {hi} ms)\n" + "-" * 80 + "\n"
    rows = 4
    now = int(time.time())
    cols = []
    for t, ms in list(series)[-80:]:
        level = 0 if hi == lo else int((ms - lo) * (rows * 2 - 1) / (hi - lo))
        el = now - t
        label = (f"{el}s" if el < 60 else f"{el // 60}m" if el < 3600
                 else f"{el // 3600}h" if el < 86400 else f"{el // 86400}d")
        cols.append((level, label))
    for r in range(rows - 1, -1, -1):
        line = ""
        for level, _ in cols:
            if level >= r * 2 + 1:
                line += "#"
            elif level >= r * 2:
                line += "_" if r else "_"
            else:
                line += " "
        text += line.rstrip() + "\n" if line.strip() else "\n"
    width = max((len(lbl) for _, lbl in cols), default=0)
    for i in range(width):
        text += "".join(lbl[i] if i < len(lbl) else " " for _, lbl in cols) + "\n"
    return Verbatim(text.encode())


@command("latency|doctor")
def latency_doctor(c, argv):
    server = c.server
    if not server.latency_events:
        text = ("Dave, no latency spike was observed during the lifetime of this Redis "
                "instance, not in the slightest bit. I honestly think you ought to sleep "
                "better.\n")
        return Verbatim(text.encode())
    lines = ["Dave, I have observed latency spikes in this Redis instance. You don't mind "
             "talking about it, do you Dave?", ""]
    for i, (event, series) in enumerate(server.latency_events.items(), 1):
        values = [ms for _, ms in series]
        avg = sum(values) // len(values)
        lines.append(f"{i}. {event}: {len(values)} latency spikes (average {avg}ms, "
                     f"mean deviation 0ms, period 0 sec). Worst all time event {max(values)}ms.")
    lines += ["", "I have a few advices for you:", "",
              "- The system is slow to execute Redis code paths not containing system calls. "
              "This usually means the system does not provide Redis CPU time to run for long "
              "periods. You should try to:", ""]
    return Verbatim(("\n".join(lines) + "\n").encode())


def _latency_cdf(cmd: Command) -> dict:
    """fillCommandCDF: the calls and their cumulative distribution in power-of-2 us."""
    return {b"calls": sum(cmd.latency.values()),
            b"histogram_usec": dict(cdf_usec(cmd.latency))}


@command("latency|histogram")
def latency_histogram(c, argv):
    out: dict = {}
    if len(argv) == 2:
        for cmd in _all_commands():
            if cmd.latency:
                out[cmd.fullname.encode()] = _latency_cdf(cmd)
        return out
    for name in argv[2:]:
        cmd = by_fullname(name)
        if cmd is None:
            continue  # an unknown command is skipped
        for x in (cmd, *cmd.subcommands.values()):
            if x.latency:
                out[x.fullname.encode()] = _latency_cdf(x)
    return out


@command("latency|help")
def latency_help(c, argv):
    return help_reply(argv[0], [
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram "
        "for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
    ])


# -- MEMORY ----------------------------------------------------------------------------------


def estimate_usage(ks, row) -> int:
    """A plausible byte size for a key: key and value bytes plus Redis-like overheads."""
    from aki.storage.keyspace import STRING

    key_bytes = len(row.key) + 9  # sds header + NUL, rounded like jemalloc does
    base = 16 + 24 + key_bytes  # dictEntry + robj
    if row.type == STRING:
        v = row.value or b""
        if to_int(bytes(v)) is not None:
            return base
        return base + _alloc_size(len(v) + 3)
    per = 16
    n = row.len or 0
    try:
        avg = _sample_element_size(ks, row)
    except Exception:
        avg = 16
    return base + 64 + n * (per + avg)


def _alloc_size(n: int) -> int:
    """jemalloc-like size classes: round up to 8/16 and then powers of two quarters."""
    if n <= 8:
        return 8
    if n <= 128:
        return (n + 15) // 16 * 16
    p = 1 << (n - 1).bit_length()
    q = p // 4
    return (n + q - 1) // q * q


_ELEMENT_SQL = {
    1: "SELECT avg(length(value)) FROM (SELECT value FROM list_items WHERE key_id = ? LIMIT 5)",
    2: "SELECT avg(length(member)) FROM (SELECT member FROM set_members WHERE key_id = ? LIMIT 5)",
    3: "SELECT avg(length(member)) + 8 FROM (SELECT member FROM zset_members WHERE key_id = ? LIMIT 5)",
    4: "SELECT avg(length(field) + length(value)) FROM "
       "(SELECT field, value FROM hash_fields WHERE key_id = ? LIMIT 5)",
}


def _sample_element_size(ks, row) -> int:
    sql = _ELEMENT_SQL.get(row.type)
    if sql is None:
        return 32
    r = ks.cur.execute(sql, (row.id,)).fetchone()
    return int(r[0]) if r and r[0] is not None else 16


@command("memory|usage")
def memory_usage(c, argv):
    j = 3
    while j < len(argv):
        if argv[j].lower() == b"samples" and j + 1 < len(argv):
            v = to_int(argv[j + 1])
            if v is None:
                raise RedisError(errors.NOT_INTEGER)
            if v < 0:
                raise RedisError(errors.SYNTAX)
            j += 2
        else:
            raise RedisError(errors.SYNTAX)
    row = c.server.ks.lookup(c.db, argv[2])
    if row is None:
        return None
    return estimate_usage(c.server.ks, row)


@command("memory|stats")
def memory_stats(c, argv):
    server = c.server
    rss = rss_bytes()
    peak = max(server.extensions.get("peak_memory", 0), rss)
    server.extensions["peak_memory"] = peak
    startup = server.extensions.setdefault("startup_memory", rss)
    out: dict = {
        b"peak.allocated": peak,
        b"total.allocated": rss,
        b"startup.allocated": startup,
        b"replication.backlog": 0,
        b"clients.slaves": 0,
        b"clients.normal": 22272 * len(server.clients),
        b"cluster.links": 0,
        b"aof.buffer": 0,
        b"lua.caches": 0,
        b"functions.caches": 184,
    }
    total_keys = 0
    for db in range(server.engine.databases):
        keys, expires = server.ks.db_stats(db)
        if keys:
            total_keys += keys
            out[f"db.{db}".encode()] = {
                b"overhead.hashtable.main": 72 + keys * 24,
                b"overhead.hashtable.expires": 32 + expires * 24 if expires else 0,
                b"overhead.hashtable.slot-to-keys": 0,
            }
    dataset = max(rss - startup, 0)
    out.update({
        b"overhead.total": startup,
        b"keys.count": total_keys,
        b"keys.bytes-per-key": dataset // total_keys if total_keys else 0,
        b"dataset.bytes": dataset,
        b"dataset.percentage": float(dataset * 100 / rss) if rss else 0.0,
        b"peak.percentage": float(rss * 100 / peak) if peak else 100.0,
        b"allocator.allocated": rss,
        b"allocator.active": rss,
        b"allocator.resident": rss,
        b"allocator-fragmentation.ratio": 1.0,
        b"allocator-fragmentation.bytes": 0,
        b"allocator.rss-ratio": 1.0,
        b"allocator.rss-bytes": 0,
        b"rss-overhead.ratio": 1.0,
        b"rss-overhead.bytes": 0,
        b"fragmentation": 1.0,
        b"fragmentation.bytes": 0,
    })
    return out


@command("memory|doctor")
def memory_doctor(c, argv):
    text = ("Hi Sam, I can't find any memory issue in your instance. I can only account "
            "for what occurs on this base.\n")
    return Verbatim(text.encode())


@command("memory|malloc-stats")
def memory_malloc_stats(c, argv):
    return Verbatim(b"Stats not supported for the current allocator")


@command("memory|purge")
def memory_purge(c, argv):
    return OK


@command("memory|help")
def memory_help(c, argv):
    return help_reply(argv[0], [
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
    ])


# -- MONITOR ---------------------------------------------------------------------------------


@command("monitor")
def monitor(c, argv):
    server = c.server
    if c.monitor or c.kind == "replica":
        return None if c.monitor else OK
    if c.kind == "lua":
        raise RedisError("ERR MONITOR isn't allowed for DENY BLOCKING client")
    c.monitor = True
    server.monitors.append(c)
    return OK


# -- DEBUG -----------------------------------------------------------------------------------

_DEBUG_HELP = [
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "CONFIG-REWRITE-FORCE-ALL",
    "    Like CONFIG REWRITE but writes all configuration options, including",
    "    keywords not listed in original configuration file or default values.",
    "CRASH-AND-RECOVER [<milliseconds>]",
    "    Hard crash and restart after a <milliseconds> delay (default 0).",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LEAK <string>",
    "    Create a memory leak of the input string.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "REPLICATE <string>",
    "    Replicates the provided string to replicas, allowing data divergence.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "DROP-CLUSTER-PACKET-FILTER <packet-type>",
    "    Drop all packets that match the filtered type. Set to -1 allow all packets.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "RELOAD [option ...]",
    "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
    "    * MERGE: conflicting keys will be loaded from RDB.",
    "    * NOFLUSH: the existing database will not be removed before load, but",
    "      conflicting keys will generate an exception and kill the server.",
    "    * NOSAVE: the database will be loaded from an existing RDB file.",
    "    Examples:",
    "    * DEBUG RELOAD: verify that the server is able to persist, flush and reload",
    "      the database.",
    "    * DEBUG RELOAD NOSAVE: replace the current database with the contents of an",
    "      existing RDB file.",
    "    * DEBUG RELOAD NOSAVE NOFLUSH MERGE: add the contents of an existing RDB",
    "      file to the database.",
    "RESTART [<milliseconds>]",
    "    Graceful restart: save config, db, restart after a <milliseconds> delay (default 0).",
    "SDSLEN <key>",
    "    Show low level SDS string info representing `key` and value.",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "STRINGMATCH-TEST",
    "    Run a fuzz tester against the stringmatchlen() function.",
    "STRUCTSIZE",
    "    Return the size of different Redis core C structures.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "CLIENT-EVICTION",
    "    Show low level client eviction pools info (maxmemory-clients).",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "CLUSTERLINK KILL <to|from|all> <node-id>",
    "    Kills the link based on the direction to/from (both) with the provided node.",
]


def object_encoding(server, row) -> str:
    """OBJECT ENCODING's answer, from the one place that decides it (commands/keys.py)."""
    from aki.commands.keys import encoding_name

    return encoding_name(row).decode()


def _debug_object(c, key: bytes):
    # a raw dictFind, as Redis's: a logically expired key is shown, not deleted
    row = c.server.ks.stored(c.db, key)
    if row is None:
        raise RedisError(errors.NO_SUCH_KEY)
    enc = object_encoding(c.server, row)
    size = estimate_usage(c.server.ks, row)
    serialized = max(size - 40 - len(key), 1)
    lru = int(time.time()) & ((1 << 24) - 1)
    extra = ""
    if enc == "quicklist":
        nodes = max(1, (row.len + 127) // 128)
        extra = (f" ql_nodes:{nodes} ql_avg_node:{row.len / nodes:.2f} ql_listpack_max:-2 "
                 f"ql_compressed:0 ql_uncompressed_size:{serialized}")
    return Status(f"Value at:0x{id(row) & 0xFFFFFFFFFFFF:x} refcount:1 encoding:{enc} "
                  f"serializedlength:{serialized} lru:{lru} lru_seconds_idle:0{extra}")


def _debug_populate(c, argv: list[bytes]):
    """DEBUG POPULATE count [prefix] [size]: keys prefix:0.. holding "value:N" (cut or
    NUL-padded to ``size``); existing keys are left alone. Like Redis, not propagated."""
    out_of_range = "ERR value is out of range, must be positive"
    count = to_int(argv[2])
    if count is None or count < 0:
        raise RedisError(out_of_range)
    size = 0
    if len(argv) == 5:
        size = to_int(argv[4])
        if size is None or size < 0:
            raise RedisError(out_of_range)
    prefix = argv[3] if len(argv) >= 4 else b"key"
    ks = c.server.ks
    for j in range(count):
        key = (b"%s:%d" % (prefix, j))[:127]  # snprintf into a 128-byte buffer
        if ks.lookup(c.db, key) is not None:
            continue
        value = b"value:%d" % j
        if size:
            value = value[:size].ljust(size, b"\0")
        ks.set_string(c.db, key, value, row=None)
    return OK


def _die_by(sig: int) -> None:
    """End the process by ``sig`` now, as a crash would (no shutdown, no final save)."""
    for h in logging.getLogger().handlers:
        h.flush()
    os.kill(os.getpid(), sig)
    time.sleep(1)  # the handler runs at the next bytecode; never reached after that
    os.abort()


@command("debug", protected="enable_debug_command")
def debug(c, argv):
    server = c.server
    sub = argv[1].lower()
    n = len(argv)
    if sub == b"help" and n == 2:
        return help_reply(argv[0], _DEBUG_HELP)
    if sub == b"sleep" and n == 3:
        secs = to_float(argv[2])
        if secs is None:
            raise RedisError(errors.NOT_FLOAT)
        if secs > 0:
            time.sleep(secs)
        return OK
    if sub == b"object" and n == 3:
        return _debug_object(c, argv[2])
    if sub == b"set-active-expire" and n == 3:
        v = to_int(argv[2])
        if v is None:
            raise RedisError(errors.NOT_INTEGER)
        server.active_expire = bool(v)
        return OK
    if sub == b"replicate" and n >= 3:
        prim = server.extensions.get("primary")
        if prim is not None:  # replicationFeedSlaves: replicas only, data may diverge
            prim.feed_raw(list(argv[2:]))
        return OK
    if sub == b"set-disable-deny-scripts" and n == 3:
        server.script_disable_deny = bool(atoi(argv[2]))
        return OK
    if sub == b"pause-cron" and n == 3:
        server.cron_paused = bool(atoi(argv[2]))  # the periodic work stops (tests only)
        return OK
    if sub == b"populate" and 3 <= n <= 5:
        return _debug_populate(c, argv)
    if sub == b"config-rewrite-force-all" and n == 2:
        from aki.config import ConfigError

        try:
            server.config.rewrite(force_all=True)
        except (ConfigError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else exc.message
            raise RedisError(f"ERR CONFIG-REWRITE-FORCE-ALL failed: {reason}") from None
        return OK
    if sub == b"change-repl-id" and n == 2:
        server.replid2 = server.replid
        server.replid = os.urandom(20).hex()
        return OK
    if sub == b"quicklist-packed-threshold" and n == 3:
        from aki.config import parse_memory

        v = parse_memory(argv[2].decode("utf-8", "replace"))
        if v is None or v < 0 or v > 4 * 1024**3:
            raise RedisError("ERR argument must be a memory value bigger than 1 and smaller than 4gb")
        server.extensions["quicklist_packed_threshold"] = v or 1024**3
        return OK
    if sub == b"log" and n == 3:
        logging.getLogger("aki").warning("DEBUG LOG: %s", argv[2].decode("utf-8", "replace"))
        return OK
    if sub == b"set-skip-checksum-validation" and n == 3:
        server.extensions["skip_checksum_validation"] = bool(atoi(argv[2]))  # Redis's atoi
        return OK
    if sub == b"segfault" and n == 2:
        # Redis crashes on purpose (to test crash reports): the fault handler writes the
        # threads' stacks to the log (server/listener.py setup_logging), then the process
        # dies by the signal; the .aki file is left as a crash leaves it
        logging.getLogger("aki").warning("DEBUG SEGFAULT: crashing by signal 11 on request")
        _die_by(signal.SIGSEGV)
    if sub == b"panic" and n == 2:
        logging.getLogger("aki").critical("Guru Meditation: DEBUG PANIC called at Unix time %d",
                                          int(time.time()))
        _die_by(signal.SIGABRT)
    if sub == b"error" and n == 3:
        from aki.resp.types import ErrorReply

        return ErrorReply(argv[2].decode("utf-8", "surrogateescape"))
    if sub == b"reload":
        opts = {opt.lower() for opt in argv[2:]}
        if not opts <= {b"merge", b"noflush", b"nosave"}:
            raise RedisError("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and "
                             "NOSAVE options.")
        rt = server.extensions.get("scripting")
        if b"noflush" in opts and b"merge" not in opts and getattr(rt, "libraries", None):
            # Redis loads the dump over the data it kept: its libraries are already
            # there, and loading one again without MERGE fails the load
            raise RedisError("ERR Error trying to load the RDB dump")
        from aki.commands.server import after_commit

        after_commit(server, "reload")
        return OK
    if sub == b"loadaof" and n == 2:
        # Redis empties the data set and loads it from the AOF (with appendonly no, from
        # what the last BGREWRITEAOF wrote). aki's file always holds exactly the log's
        # effect (module durability/aof.py), so: make the log durable, then close and
        # reopen the file between batches, as DEBUG RELOAD does. With the log off the
        # reload is from the file alone (Redis would exit if it found no AOF at all).
        aof = server.extensions.get("aof")
        if aof is not None:
            aof.fsync_now()
        from aki.commands.server import after_commit

        after_commit(server, "reload")
        return OK
    if sub == b"protocol" and n == 3:
        return _debug_protocol(c, argv[2].lower())
    if sub == b"digest" and n == 2:
        return Status(_digest(server))
    if sub == b"digest-value":
        # per key, expired or not (Redis looks in the dict, not through lookupKey)
        rows = [server.ks.stored(c.db, k) for k in argv[2:]]
        return [Status(_NO_DIGEST if row is None else _value_digest(server, row).hex())
                for row in rows]
    raise RedisError(
        "ERR unknown subcommand or wrong number of arguments for "  # addReplySubcommandSyntaxError
        f"'{errors.cstr(argv[1], 128)}'. Try DEBUG HELP.")


_NO_DIGEST = "0" * 40  # an empty data set, or a missing key


def _value_digest(server, row) -> bytes:
    """A signature of one key's logical value (not Redis's algorithm): equal values give
    equal digests whatever their encoding (sets and unordered hashes are sorted)."""
    import hashlib

    from aki.storage import bulk

    value = bulk.read_value(server.ks.cur, row.id, row.type, row.enc, row.value)
    if row.type in (bulk.SET, bulk.HASH):
        value = sorted(value)
    elif row.type == bulk.ZSET:
        value = [(m, float(sc)) for m, sc in value]
    return hashlib.sha1(b"%d:%s" % (row.type, repr(value).encode())).digest()


def _digest(server) -> str:
    """DEBUG DIGEST: every live key, its value and its expiry, in one signature; forty
    zeros for an empty data set, as in Redis."""
    import hashlib

    h = hashlib.sha1()
    seen = False
    for db in range(server.engine.databases):
        for k in sorted(server.ks.iter_keys(db)):
            row = server.ks.lookup(db, k)
            if row is None:
                continue
            seen = True
            h.update(b"%d:%d:%s:%s:%s" % (db, len(k), k, _value_digest(server, row),
                                          str(row.expire_at).encode()))
    return h.hexdigest() if seen else _NO_DIGEST


def _replica_count(server) -> int:
    prim = server.extensions.get("primary")
    return len(prim.replicas) if prim is not None else 0


def _debug_protocol(c, kind: bytes):
    from aki.resp.types import BigNumber, Push

    if kind == b"string":
        return b"Hello World"
    if kind == b"integer":
        return 12345
    if kind == b"double":
        return 3.141
    if kind == b"bignum":
        return BigNumber(1234567999999999999999999999999999999)
    if kind == b"null":
        return None
    if kind == b"array":
        return [0, 1, 2]
    if kind == b"set":
        return RespSet([0, 1, 2])
    if kind == b"map":
        return {0: False, 1: True, 2: False}
    if kind == b"attrib":
        real = b"Some real reply following the attribute"
        if c.resp != 3:
            return real
        # an attribute map ahead of the reply, which clients skip (RESP3 only)
        return Raw(b"|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n"
                   b"$%d\r\n%s\r\n" % (len(real), real))
    if kind == b"push":
        if c.resp != 3:
            return b"RESP2 doesn't support push"
        c.send(Push([b"server-cpu-usage", 42]))
        return b"Some real reply following the push reply"
    if kind == b"true":
        return True
    if kind == b"false":
        return False
    if kind == b"verbatim":
        return Verbatim(b"This is a verbatim\nstring")
    raise RedisError("ERR Wrong protocol type name. Please use one of the following: "
                     "string|integer|double|bignum|null|array|set|map|attrib|push|"
                     "verbatim|true|false")


# -- LOLWUT ----------------------------------------------------------------------------------


@command("lolwut")
def lolwut(c, argv):
    version = "7.0.15"
    args = argv[1:]
    if len(args) >= 2 and args[0].lower() == b"version":
        v = to_int(args[1])
        if v is None:
            raise RedisError(errors.NOT_INTEGER)
        version = f"{v & 0xFFFFFFFF}.0.0"
        args = args[2:]
    if version.startswith("5.") or version.startswith("4.9"):
        return Verbatim(_lolwut5(args).encode())
    return Verbatim(b"Redis ver. 7.0.15\n")


def _lolwut5(args: list[bytes]) -> str:
    """lolwut5.c: Georg Nees' Schotter on a braille canvas."""
    import math
    import random

    vals = [66, 8, 12]
    for i, a in enumerate(args[:3]):
        v = to_int(a)
        if v is None:
            raise RedisError(errors.NOT_INTEGER)
        vals[i] = v
    cols = min(max(vals[0], 1), 1000)
    spr = min(max(vals[1], 1), 200)
    spc = min(max(vals[2], 1), 200)
    width = cols * 2
    padding = 2 if width > 4 else 0
    square_side = int((width - padding * 2) / spr)
    height = square_side * spc + padding * 2
    canvas = bytearray(width * height)

    def draw_line(x1, y1, x2, y2):
        dx, dy = abs(x2 - x1), abs(y2 - y1)
        sx = 1 if x1 < x2 else -1
        sy = 1 if y1 < y2 else -1
        err = dx - dy
        while True:
            if 0 <= x1 < width and 0 <= y1 < height:
                canvas[y1 * width + x1] = 1
            if x1 == x2 and y1 == y2:
                break
            e2 = err * 2
            if e2 > -dy:
                err -= dy
                x1 += sx
            if e2 < dx:
                err += dx
                y1 += sy

    for y in range(spc):
        for x in range(spr):
            sx = x * square_side + square_side // 2 + padding
            sy = y * square_side + square_side // 2 + padding
            angle = 0.0
            if y > 1:
                r1 = random.random() / spc * y
                r2 = random.random() / spc * y
                r3 = random.random() / spc * y
                if random.randint(0, 1):
                    r1 = -r1
                if random.randint(0, 1):
                    r2 = -r2
                if random.randint(0, 1):
                    r3 = -r3
                angle = r1
                sx += int(r2 * square_side / 3)
                sy += int(r3 * square_side / 3)
            pts = []
            k = math.pi / 4 + angle
            for _ in range(4):
                px = int(math.sin(k) * square_side / 2 * 1.4142 + sx)
                py = int(math.cos(k) * square_side / 2 * 1.4142 + sy)
                k += math.pi / 2
                pts.append((px, py))
            for j in range(3):
                draw_line(*pts[j], *pts[j + 1])
            draw_line(*pts[3], *pts[0])
    out = []
    for y in range(0, height, 4):
        line = []
        for x in range(0, width, 2):
            byte = 0
            bits = ((0, 0, 0x01), (0, 1, 0x02), (0, 2, 0x04), (1, 0, 0x08), (1, 1, 0x10),
                    (1, 2, 0x20), (0, 3, 0x40), (1, 3, 0x80))
            for dx, dy, bit in bits:
                xx, yy = x + dx, y + dy
                if xx < width and yy < height and canvas[yy * width + xx]:
                    byte |= bit
            line.append(chr(0x2800 + byte))
        out.append("".join(line))
    return ("\n".join(out) + "\n" +
            "\nGeorg Nees - schotter, plotter on paper, 1968. Redis ver. 7.0.15\n")
