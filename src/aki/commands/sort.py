"""SORT and SORT_RO (sort.c): BY, LIMIT, GET, ASC/DESC, ALPHA, STORE.

SORT must see every element of the key (that is what it does in Redis too), so
the elements are read in one query; BY/GET patterns are one key lookup each.
"""

from __future__ import annotations

import functools
import math
import re

from aki import errors
from aki.commands.common import to_int
from aki.core.registry import Command, command
from aki.errors import RedisError
from aki.storage import lists
from aki.storage.keyspace import HASH, LIST, SET, STRING, ZSET


def _sort_keys(argv: list[bytes]) -> list[int]:
    """Key positions: the sorted key and, after STORE, the destination."""
    out = [1]
    j = 2
    while j < len(argv):
        opt = argv[j].lower()
        if opt == b"limit":
            j += 3
            continue
        if opt in (b"by", b"get"):
            j += 2
            continue
        if opt == b"store" and j + 1 < len(argv):
            out.append(j + 1)
            j += 2
            continue
        j += 1
    return out


def _lookup_by_pattern(c, pattern: bytes, subst: bytes) -> bytes | None:
    """lookupKeyByPattern: '#' is the element; '*' is replaced; '->field' reads a hash."""
    if pattern == b"#":
        return subst
    star = pattern.find(b"*")
    if star < 0:
        return None
    arrow = pattern.find(b"->", star + 1)
    field = None
    if arrow >= 0 and arrow + 2 < len(pattern):
        field = pattern[arrow + 2:]
        keyname = pattern[:star] + subst + pattern[star + 1:arrow]
    else:
        keyname = pattern[:star] + subst + pattern[star + 1:]
    ks = c.server.ks
    row = ks.lookup_read(c.db, keyname)
    if row is None:
        return None
    if field is not None:
        if row.type != HASH:
            return None
        r = ks.cur.execute("SELECT value FROM hash_fields WHERE key_id = ? AND field = ?",
                           (row.id, field)).fetchone()
        return r[0] if r else None
    if row.type != STRING:
        return None
    return row.value


_HEX_FLOAT = re.compile(r"\s*[+-]?0[xX]")


def _strtod(b: bytes) -> float | None:
    """C strtod over the whole string: leading blanks allowed, trailing junk and NaN not."""
    text = b.decode("latin-1")
    if not text or text != text.rstrip() or "_" in text:
        return None
    try:
        v = float(text)
    except ValueError:
        if not _HEX_FLOAT.match(text):
            return None
        try:
            v = float.fromhex(text)
        except ValueError:
            return None
    return None if math.isnan(v) else v


def _full_key_access(c, argv: list[bytes]) -> bool:
    """BY and GET read keys no ACL check saw: the user must be able to read every key."""
    acl = c.server.extensions.get("acl")
    if acl is None or "guard" not in c.server.extensions:
        return True
    from aki.core.dispatch import resolve

    cmd = resolve(c, argv)
    return not isinstance(cmd, Command) or acl.full_key_access(c, cmd, argv)


def _sort(c, argv: list[bytes], readonly: bool):
    desc = alpha = False
    limit_start, limit_count = 0, -1
    sortby: bytes | None = None
    dontsort = False
    storekey: bytes | None = None
    gets: list[bytes] = []
    j = 2
    n = len(argv)
    while j < n:
        opt = argv[j].lower()
        left = n - j - 1
        if opt == b"asc":
            desc = False
        elif opt == b"desc":
            desc = True
        elif opt == b"alpha":
            alpha = True
        elif opt == b"limit" and left >= 2:
            a, b = to_int(argv[j + 1]), to_int(argv[j + 2])
            if a is None or b is None:
                raise RedisError(errors.NOT_INTEGER)
            limit_start, limit_count = a, b
            j += 2
        elif not readonly and opt == b"store" and left >= 1:
            storekey = argv[j + 1]
            j += 1
        elif opt == b"by" and left >= 1:
            sortby = argv[j + 1]
            if b"*" not in sortby:
                dontsort = True
            elif not _full_key_access(c, argv):
                raise RedisError("ERR BY option of SORT denied due to insufficient ACL "
                                 "permissions.")
            j += 1
        elif opt == b"get" and left >= 1:
            if not _full_key_access(c, argv):
                raise RedisError("ERR GET option of SORT denied due to insufficient ACL "
                                 "permissions.")
            gets.append(argv[j + 1])
            j += 1
        else:
            raise RedisError(errors.SYNTAX)
        j += 1

    ks = c.server.ks
    row = ks.lookup_read(c.db, argv[1])
    if row is not None and row.type not in (SET, LIST, ZSET):
        raise RedisError(errors.WRONGTYPE)
    type_ = row.type if row is not None else LIST
    if dontsort and type_ == SET and (storekey is not None or c.kind == "lua"):
        # a set has no order: make the result deterministic for replication
        dontsort = False
        alpha = True
        sortby = None
    length = row.len if row is not None else 0
    start = min(max(limit_start, 0), length)
    count = min(max(limit_count, -1), length)
    end = length - 1 if count < 0 else start + count - 1
    if start >= length:
        start, end = length - 1, length - 2
    if end >= length:
        end = length - 1

    cur = ks.cur
    elements: list[bytes]
    if row is None:
        elements = []
    elif type_ == LIST and dontsort:
        elements = []
        if end >= start:
            if desc:
                hi = row.head + length - 1 - start
                lo = hi - (end - start)
                elements = [v for (v,) in cur.execute(
                    "SELECT value FROM list_items WHERE key_id = ? AND pos BETWEEN ? AND ? "
                    "ORDER BY pos DESC", (row.id, lo, hi))]
            else:
                elements = lists.range_(ks, row, start, end)
            end -= start
            start = 0
    elif type_ == LIST:
        elements = lists.range_(ks, row, 0, length - 1)
    elif type_ == SET:
        elements = [m for (m,) in cur.execute(
            "SELECT member FROM set_members WHERE key_id = ?", (row.id,))]
    elif dontsort:  # zset in score order, LIMIT applied while reading
        rangelen = end - start + 1 if end >= start else 0
        order = "DESC" if desc else "ASC"
        elements = [m for (m,) in cur.execute(
            f"SELECT member FROM zset_members WHERE key_id = ? ORDER BY score {order}, member {order} "
            "LIMIT ? OFFSET ?", (row.id, rangelen, start))]
        end -= start
        start = 0
    else:
        elements = [m for (m,) in cur.execute(
            "SELECT member FROM zset_members WHERE key_id = ?", (row.id,))]

    if not dontsort and elements:
        conversion_error = False
        keyed = []
        for el in elements:
            if sortby is not None:
                byval = _lookup_by_pattern(c, sortby, el)
            else:
                byval = el
            if alpha:
                keyed.append((el, byval if sortby is not None else None, 0.0))
                continue
            score = 0.0
            if byval is not None:
                v = _strtod(byval)
                if v is None:
                    conversion_error = True
                else:
                    score = v
            keyed.append((el, None, score))
        if conversion_error:
            raise RedisError("ERR One or more scores can't be converted into double")
        bypattern = sortby is not None

        def compare(a, b) -> int:
            if not alpha:
                if a[2] != b[2]:
                    return 1 if a[2] > b[2] else -1
                return (a[0] > b[0]) - (a[0] < b[0])
            if bypattern:
                x, y = a[1], b[1]
                if x is None or y is None:
                    if x is y:
                        return 0
                    return -1 if x is None else 1
                return (x > y) - (x < y)
            return (a[0] > b[0]) - (a[0] < b[0])

        keyed.sort(key=functools.cmp_to_key(compare), reverse=desc)
        elements = [k[0] for k in keyed]

    selected = elements[start:end + 1] if end >= start else []
    if storekey is None:
        out: list = []
        for el in selected:
            if not gets:
                out.append(el)
            for pattern in gets:
                out.append(_lookup_by_pattern(c, pattern, el))
        return out
    values: list[bytes] = []
    for el in selected:
        if not gets:
            values.append(el)
        for pattern in gets:
            v = _lookup_by_pattern(c, pattern, el)
            values.append(v if v is not None else b"")
    if values:
        dest = lists.create(ks, c.db, storekey)
        lists.push(ks, dest, values, left=False)
        ks.notify("l", "sortstore", c.db, storekey)
    elif ks.delete(c.db, storekey):
        ks.notify("g", "del", c.db, storekey)
    return len(values)


@command("sort", key_finder=_sort_keys)
def sort(c, argv):
    return _sort(c, argv, readonly=False)


@command("sort_ro")
def sort_ro(c, argv):
    return _sort(c, argv, readonly=True)
