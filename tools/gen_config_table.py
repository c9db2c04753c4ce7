"""Extract Redis 7.0's configuration directives into aki's config table.

    python tools/gen_config_table.py REDIS_SRC/src/config.c --port 6379 \
        > src/aki/config_table.json

Reads the ``static_configs[]`` declarations (name, alias, flags, kind, range,
enum values) from Redis's config.c and the default values as a live Redis 7.0
reports them with ``CONFIG GET *``. The output is data; aki's config module
implements the parsing and validation rules.
"""

from __future__ import annotations

import argparse
import json
import re
import socket

LIMITS = {
    "INT_MAX": 2**31 - 1, "INT_MIN": -(2**31), "UINT_MAX": 2**32 - 1,
    "LONG_MAX": 2**63 - 1, "LONG_MIN": -(2**63), "LLONG_MAX": 2**63 - 1,
    "LLONG_MIN": -(2**63), "ULLONG_MAX": 2**64 - 1, "ULONG_MAX": 2**64 - 1,
    "SSIZE_MAX": 2**63 - 1, "SIZE_MAX": 2**64 - 1, "LONG_MIN+1": -(2**63) + 1,
}


def _num(text: str):
    t = text.strip()
    if t in LIMITS:
        return LIMITS[t]
    try:
        return int(t, 0) if not t.startswith("0") or t == "0" else int(t, 8)
    except ValueError:
        return t


def _split_args(s: str) -> list[str]:
    out, depth, cur, inq = [], 0, "", False
    for ch in s:
        if ch == '"':
            inq = not inq
        if not inq and ch == "(":
            depth += 1
        if not inq and ch == ")":
            if depth == 0:
                break
            depth -= 1
        if not inq and ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def _config_get_all(port: int) -> dict[str, str]:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$1\r\n*\r\n")
    f = sock.makefile("rb")
    n = int(f.readline()[1:])
    vals = []
    for _ in range(n):
        ln = int(f.readline()[1:])
        vals.append(f.read(ln + 2)[:-2].decode())
    return dict(zip(vals[::2], vals[1::2], strict=True))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config_c")
    ap.add_argument("--port", type=int, default=6379)
    opts = ap.parse_args()
    src = open(opts.config_c).read()
    enums: dict[str, list[str]] = {}
    for m in re.finditer(r"configEnum (\w+)\[\] = \{(.*?)\};", src, re.S):
        enums[m.group(1)] = re.findall(r'\{"([^"]+)"', m.group(2))
    body = src[src.index("standardConfig static_configs[] = {"):]
    body = body[: body.index("/* NULL Terminator")]
    defaults = _config_get_all(opts.port)
    table = {}
    for m in re.finditer(r"create(\w+)Config\((.*?)\),?\s*(?:/\*.*?\*/)?\s*\n", body):
        kind = m.group(1)
        args = _split_args(m.group(2) + ")")
        name = args[0].strip('"')
        alias = args[1].strip('"') if args[1] != "NULL" else None
        flags = [f.strip() for f in args[2].split("|")]
        entry: dict = {"kind": kind, "alias": alias, "flags": flags}
        if kind == "Enum":
            entry["values"] = enums[args[3]]
            entry["bitflags"] = "MULTI_ARG_CONFIG" in flags
        elif kind in ("Int", "UInt", "LongLong", "ULongLong", "SizeT", "SSizeT", "ULong",
                      "TimeT", "OffT"):
            entry["min"] = _num(args[3])
            entry["max"] = _num(args[4])
            entry["numtype"] = args[7].strip()
        elif kind in ("String", "SDS"):
            entry["empty_is_null"] = args[3].strip() == "EMPTY_STRING_IS_NULL"
        entry["default"] = defaults.get(name)
        table[name] = entry
    print(json.dumps(table, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
