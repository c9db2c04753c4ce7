"""Capture COMMAND INFO and COMMAND DOCS from a real Redis 7.0 into aki's command table.

Run against the Debian redis-server 7.0.15 the compatibility tests use:

    python tools/gen_command_table.py --port 6379 > src/aki/core/command_table.json

The table is data (what Redis reports about itself); aki serves an entry only
for commands it implements, so COMMAND always matches the registry.
Values are stored with RESP3 type tags so both protocols can be encoded.
"""

from __future__ import annotations

import argparse
import json
import socket


def _read_line(f) -> bytes:
    line = f.readline()
    return line[:-2]


def _parse(f):
    """Parse one RESP3 value, keeping the type of every aggregate."""
    line = _read_line(f)
    t, rest = line[:1], line[1:]
    if t in (b"+",):
        return {"t": "status", "v": rest.decode()}
    if t == b":":
        return int(rest)
    if t == b"$":
        n = int(rest)
        data = f.read(n + 2)[:-2]
        return data.decode()
    if t == b"_":
        return None
    if t in (b"*", b"~"):
        items = [_parse(f) for _ in range(int(rest))]
        return items if t == b"*" else {"t": "set", "v": items}
    if t == b"%":
        pairs = [[_parse(f), _parse(f)] for _ in range(int(rest))]
        return {"t": "map", "v": pairs}
    if t == b"-":
        raise RuntimeError(rest.decode())
    if t == b"#":
        return rest == b"t"
    raise RuntimeError(f"unexpected type {t!r}")


def _command(sock_file, sock, *args: str):
    out = b"*%d\r\n" % len(args)
    for a in args:
        b = a.encode()
        out += b"$%d\r\n%s\r\n" % (len(b), b)
    sock.sendall(out)
    return _parse(sock_file)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=6379)
    opts = ap.parse_args()
    sock = socket.create_connection(("127.0.0.1", opts.port))
    f = sock.makefile("rb")
    _command(f, sock, "HELLO", "3")
    info = _command(f, sock, "COMMAND", "INFO")
    docs = _command(f, sock, "COMMAND", "DOCS")
    table: dict[str, dict] = {}
    for entry in info:
        table[entry[0]] = {"info": entry}
    for name, doc in docs["v"]:
        table.setdefault(name, {})["docs"] = doc
    print(json.dumps(table, sort_keys=True))


if __name__ == "__main__":
    main()
