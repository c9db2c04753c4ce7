"""Sans-IO request parser: bytes in, argument vectors out. No sockets, no asyncio.

Two parsers cooperate:

* ``hiredis.Reader`` for the common case, a stream of well-formed multibulk
  requests (8x faster than Python here);
* a pure-Python parser that is exact about Redis's framing rules: inline
  commands, the protocol-error texts, ``proto-max-bulk-len``, unauthenticated
  limits, and the query-buffer limit.

hiredis is used only while the stream sits on a request boundary and starts
with ``*``. Whenever hiredis cannot decide (a partial request, a framing error,
an element that is not a bulk string) the parser locates the unconsumed bytes
by summing the wire length of the requests hiredis returned and hands them to
the Python parser, which reports exactly what Redis would.

``feed(data)`` returns ``(requests, error)``: every complete request before any
framing error, then the error text (``None`` when the stream is healthy). After
an error the caller replies ``-ERR Protocol error: ...`` and closes, as Redis does.
"""

from __future__ import annotations

import hiredis

INLINE_MAX = 64 * 1024
INT_MAX = 2**31 - 1


def wire_length(argv: list[bytes]) -> int:
    """Length of ``argv`` in canonical multibulk form, as every client sends it."""
    total = 3 + len(str(len(argv)))
    for a in argv:
        n = len(a)
        total += 5 + len(str(n)) + n
    return total


class QueryBufferFull(Exception):
    """The pending request exceeds ``client-query-buffer-limit``: close, no reply."""


class RequestParser:
    """Incremental parser of client requests (one per connection)."""

    __slots__ = (
        "_reader",
        "_buf",
        "_python",
        "_chunks",
        "_have",
        "_need",
        "max_bulk_len",
        "query_buffer_limit",
        "authenticated",
    )

    def __init__(
        self, max_bulk_len: int = 512 * 1024 * 1024, query_buffer_limit: int = 1 << 30
    ) -> None:
        self._reader = hiredis.Reader()
        self._buf = b""  # unconsumed bytes when the Python parser owns the stream
        self._python = False  # True while the Python parser owns the stream
        self._chunks: list[bytes] = []  # bytes waiting for a large pending request
        self._have = 0
        self._need = 0  # bytes the pending request needs before parsing is worth it
        self.max_bulk_len = max_bulk_len
        self.query_buffer_limit = query_buffer_limit
        self.authenticated = True  # cleared by the server when requirepass applies

    def feed(self, data: bytes) -> tuple[list[list[bytes]], str | None]:
        if not self._python and data[:1] == b"*":
            return self._feed_hiredis(data)
        self._python = True
        if self._need:
            self._chunks.append(data)
            self._have += len(data)
            if self._have < self._need:
                if self._have > self.query_buffer_limit:
                    raise QueryBufferFull()
                return [], None
            data = b"".join(self._chunks)
            self._chunks = []
            self._need = 0
            return self._feed_python(data)
        return self._feed_python(self._buf + data if self._buf else data)

    # -- fast path -----------------------------------------------------------------

    def _feed_hiredis(self, data: bytes) -> tuple[list[list[bytes]], str | None]:
        reader = self._reader
        reader.feed(data)
        out: list[list[bytes]] = []
        gets = reader.gets
        try:
            while True:
                item = gets()
                if item is False:
                    break
                if type(item) is list and item and all(type(a) is bytes for a in item):
                    out.append(item)
                    continue
                # Anything unusual: let the exact parser decide from this request on.
                return self._fallback(data, out)
        except hiredis.ProtocolError:
            return self._fallback(data, out)
        if reader.has_data():
            # A partial request: the exact parser validates its headers and limits.
            return self._fallback(data, out)
        return out, None

    def _fallback(
        self, data: bytes, done: list[list[bytes]]
    ) -> tuple[list[list[bytes]], str | None]:
        self._reader = hiredis.Reader()
        consumed = sum(wire_length(a) for a in done)
        self._python = True
        more, err = self._feed_python(data[consumed:])
        return done + more, err

    # -- exact path ----------------------------------------------------------------

    def _feed_python(self, buf: bytes) -> tuple[list[list[bytes]], str | None]:
        out: list[list[bytes]] = []
        pos = 0
        n = len(buf)
        err: str | None = None
        while pos < n:
            if buf[pos] == 42:  # '*'
                res = self._multibulk(buf, pos)
            else:
                res = self._inline(buf, pos)
            if isinstance(res, str):
                err = res
                break
            if res is None:
                break
            argv, pos = res
            if argv:
                out.append(argv)
        rest = buf[pos:] if err is None else b""
        if err is not None:
            self._need = 0
        if len(rest) > self.query_buffer_limit:
            raise QueryBufferFull()
        self._buf = rest
        if rest and self._need:
            # A big bulk is on its way: collect chunks instead of re-parsing each time.
            self._need -= pos
            self._chunks = [rest]
            self._have = len(rest)
            self._buf = b""
        if not rest:
            self._python = False  # back on a boundary: hiredis may take over again
        return out, err

    def _inline(self, buf: bytes, pos: int):
        end = buf.find(b"\n", pos)
        if end < 0:
            if len(buf) - pos > INLINE_MAX:
                return "too big inline request"
            return None
        line = buf[pos:end]
        if line.endswith(b"\r"):
            line = line[:-1]
        args = split_args(line)
        if args is None:
            return "unbalanced quotes in request"
        return args, end + 1

    def _multibulk(self, buf: bytes, pos: int):
        n = len(buf)
        end = buf.find(b"\r\n", pos)
        if end < 0:
            if n - pos > INLINE_MAX:
                return "too big mbulk count string"
            return None
        try:
            count = int(buf[pos + 1 : end])
        except ValueError:
            return "invalid multibulk length"
        if count > INT_MAX:
            return "invalid multibulk length"
        if not self.authenticated and count > 10:
            return "unauthenticated multibulk length"
        p = end + 2
        if count <= 0:
            return [], p
        args: list[bytes] = []
        max_bulk = self.max_bulk_len
        for _ in range(count):
            if p >= n:
                return None
            if buf[p] != 36:  # '$'
                return "expected '$', got '%s'" % chr(buf[p])
            end = buf.find(b"\r\n", p)
            if end < 0:
                if n - p > INLINE_MAX:
                    return "too big bulk count string"
                return None
            try:
                length = int(buf[p + 1 : end])
            except ValueError:
                return "invalid bulk length"
            if length < 0 or length > max_bulk:
                return "invalid bulk length"
            if not self.authenticated and length > 16384:
                return "unauthenticated bulk length"
            start = end + 2
            stop = start + length
            if stop + 2 > n:
                if length > 65536:
                    self._need = stop + 2
                return None
            args.append(buf[start:stop])
            p = stop + 2
        return args, p


_ESCAPES = {ord("n"): b"\n", ord("r"): b"\r", ord("t"): b"\t", ord("b"): b"\b", ord("a"): b"\a"}
_HEX = b"0123456789abcdefABCDEF"


def split_args(line: bytes) -> list[bytes] | None:
    """Split an inline command like Redis's ``sdssplitargs``; None on unbalanced quotes."""
    args: list[bytes] = []
    i = 0
    n = len(line)
    while True:
        while i < n and line[i] in b" \t\n\r\v\f":
            i += 1
        if i >= n:
            return args
        cur = bytearray()
        inq = False  # inside "double quotes"
        insq = False  # inside 'single quotes'
        while True:
            if inq:
                if i >= n:
                    return None
                c = line[i]
                if (
                    c == 92
                    and i + 3 < n
                    and line[i + 1] == ord("x")
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    cur.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif c == 92 and i + 1 < n:
                    i += 1
                    cur += _ESCAPES.get(line[i], bytes([line[i]]))
                elif c == 34:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None
                    inq = False
                    i += 1
                    break
                else:
                    cur.append(c)
            elif insq:
                if i >= n:
                    return None
                c = line[i]
                if c == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    cur.append(39)
                elif c == 39:
                    if i + 1 < n and line[i + 1] not in b" \t\n\r\v\f":
                        return None
                    insq = False
                    i += 1
                    break
                else:
                    cur.append(c)
            else:
                if i >= n:
                    break
                c = line[i]
                if c in b" \n\r\t\0":
                    break
                if c == 34:
                    inq = True
                elif c == 39:
                    insq = True
                else:
                    cur.append(c)
            i += 1
        args.append(bytes(cur))
