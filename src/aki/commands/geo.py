"""Geo commands (geo.c), replies byte-identical to Redis 7.0.15.

A geo set is a sorted set whose scores are 52-bit geohashes (``aki.geohash`` has the
math). GEOADD is ZADD with encoded scores (same events, propagated as ZADD); searches
compute Redis's 9 geohash boxes and read each box's score range from the score index
(``storage/zsets.py``), then filter by distance, exactly as georadiusGeneric does:
same candidates, same order, same sort (glibc's stable merge sort, or Redis's pqsort
when COUNT cuts the result), same float text.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cmp_to_key

from aki import errors
from aki import geohash as G
from aki.commands.common import ld_human, to_int
from aki.commands.zsets import _store_rows, _zadd, string2d
from aki.core.dispatch import rewrite
from aki.core.registry import command
from aki.errors import RedisError
from aki.resp.types import NullArray, Raw
from aki.storage import zsets as Z
from aki.storage.keyspace import ZSET

UNIT_ERR = "ERR unsupported unit provided. please use M, KM, FT, MI"
DECODE_ERR = "ERR could not decode requested zset member"

RADIUS_COORDS = 1
RADIUS_MEMBER = 2
RADIUS_NOSTORE = 4
GEOSEARCH = 8
GEOSEARCHSTORE = 16

SORT_NONE, SORT_ASC, SORT_DESC = 0, 1, 2


def _read(c, key: bytes):
    row = c.server.ks.lookup_read(c.db, key)
    if row is not None and row.type != ZSET:
        raise RedisError(errors.WRONGTYPE)
    return row


def _double(b: bytes, message: str = errors.NOT_FLOAT) -> float:
    v = string2d(b)
    if v is None:
        raise RedisError(message)
    return v


def _lonlat(a: bytes, b: bytes) -> tuple[float, float]:
    """extractLongLatOrReply."""
    x = _double(a)
    y = _double(b)
    if x < G.LONG_MIN or x > G.LONG_MAX or y < G.LAT_MIN or y > G.LAT_MAX:
        raise RedisError("ERR invalid longitude,latitude pair %f,%f" % (x, y))
    return x, y


def _unit(b: bytes) -> float:
    u = b.lower()
    if u == b"m":
        return 1.0
    if u == b"km":
        return 1000.0
    if u == b"ft":
        return 0.3048
    if u == b"mi":
        return 1609.34
    raise RedisError(UNIT_ERR)


def _distance_arg(shape: G.Shape, argv, i: int) -> None:
    """extractDistanceOrReply: radius and unit at argv[i], argv[i+1]."""
    d = _double(argv[i], "ERR need numeric radius")
    if d < 0:
        raise RedisError("ERR radius cannot be negative")
    shape.radius = d
    shape.conversion = _unit(argv[i + 1])


def _box_arg(shape: G.Shape, argv, i: int) -> None:
    w = _double(argv[i], "ERR need numeric width")
    h = _double(argv[i + 1], "ERR need numeric height")
    if h < 0 or w < 0:
        raise RedisError("ERR height or width cannot be negative")
    shape.height = h
    shape.width = w
    shape.conversion = _unit(argv[i + 2])


def _member_xy(c, row, member: bytes) -> tuple[float, float] | None:
    s = Z.score(c.server.ks.cur, row.id, member)
    if s is None:
        return None
    return G.decode_score(s)


def _coord(c, v: float):
    """addReplyHumanLongDouble: ``%.17Lf`` trimmed, a bulk (RESP2) or a double (RESP3).

    The long double holds the double exactly, and Python's ``%.17f`` rounds the exact
    binary value as glibc's printf does; coordinates are far below the magnitudes
    where the two could differ in digit count."""
    if -1e15 < v < 1e15:
        t = ("%.17f" % v).rstrip("0").rstrip(".")
        text = b"0" if t == "-0" else t.encode()
    else:
        text = ld_human(Fraction(v))
    if c.resp == 3:
        return Raw(b"," + text + b"\r\n")
    return text


# -- GEOADD / GEOPOS / GEODIST / GEOHASH -------------------------------------------------


@command("geoadd")
def geoadd(c, argv):
    n = len(argv)
    longidx = 2
    xx = nx = False
    while longidx < n:
        opt = argv[longidx].lower()
        if opt == b"nx":
            nx = True
        elif opt == b"xx":
            xx = True
        elif opt != b"ch":
            break
        longidx += 1
    if (n - longidx) % 3 or (xx and nx):
        raise RedisError(errors.SYNTAX)
    zargv = [b"zadd", *argv[1:longidx]]
    for i in range(longidx, n, 3):
        x, y = _lonlat(argv[i], argv[i + 1])
        h = G.encode_wgs84(x, y, G.STEP_MAX)
        zargv.append(b"%d" % G.align52(h))
        zargv.append(argv[i + 2])
    ks = c.server.ks
    before = len(ks.touched)
    reply = _zadd(c, zargv, 0)
    if len(ks.touched) > before:
        rewrite(c.server, c.db, zargv)  # Redis replaces the command vector with ZADD
    return reply


@command("geopos")
def geopos(c, argv):
    row = _read(c, argv[1])
    out: list = []
    for member in argv[2:]:
        xy = None if row is None else _member_xy(c, row, member)
        if xy is None:
            out.append(NullArray)
        else:
            out.append([_coord(c, xy[0]), _coord(c, xy[1])])
    return out


@command("geodist")
def geodist(c, argv):
    to_meter = 1.0
    if len(argv) == 5:
        to_meter = _unit(argv[4])
    elif len(argv) > 5:
        raise RedisError(errors.SYNTAX)
    row = _read(c, argv[1])
    if row is None:
        return None
    cur = c.server.ks.cur
    s1 = Z.score(cur, row.id, argv[2])
    if s1 is None:
        return None
    s2 = Z.score(cur, row.id, argv[3])
    if s2 is None:
        return None
    x1, y1 = G.decode_score(s1)
    x2, y2 = G.decode_score(s2)
    return G.fixed4(G.distance(x1, y1, x2, y2) / to_meter)


@command("geohash")
def geohash(c, argv):
    row = _read(c, argv[1])
    cur = c.server.ks.cur
    out: list = []
    for member in argv[2:]:
        s = None if row is None else Z.score(cur, row.id, member)
        out.append(None if s is None else G.standard_geohash(s))
    return out


# -- searches -----------------------------------------------------------------------------


def _points(c, row, shape: G.Shape, limit: int) -> list[list]:
    """membersOfAllNeighbors: [lon, lat, dist_m, score, member] in Redis's order."""
    cur = c.server.ks.cur
    boxes = G.areas(shape)
    out: list[list] = []
    last = 0
    for i, h in enumerate(boxes):
        if h == (0, 0):
            continue
        if last and h == boxes[last]:
            continue
        if out and limit and len(out) >= limit:
            break
        lo, hi = G.box_scores(h)
        if limit:
            rows = Z.iter_score(cur, row.id, (lo, False), (hi, True))
        else:
            rows = Z.range_score(cur, row.id, (lo, False), (hi, True), False)
        for member, score in rows:
            hit = shape.within(score)
            if hit is not None:
                out.append([hit[0], hit[1], hit[2], score, member])
            if out and limit and len(out) >= limit:
                break
        last = i
    return out


def _pqsort(a: list, lo: int, n: int, cmp, lrange: int, rrange: int) -> None:
    """Redis's pqsort (pqsort.c, Bentley-McIlroy partial quicksort) over a[lo:lo+n],
    making sure positions lrange..rrange hold what a full sort would put there."""
    while True:
        if n < 7:
            for pm in range(lo + 1, lo + n):
                pl = pm
                while pl > lo and cmp(a[pl - 1], a[pl]) > 0:
                    a[pl], a[pl - 1] = a[pl - 1], a[pl]
                    pl -= 1
            return

        def med3(i, j, k):
            if cmp(a[i], a[j]) < 0:
                return j if cmp(a[j], a[k]) < 0 else (k if cmp(a[i], a[k]) < 0 else i)
            return j if cmp(a[j], a[k]) > 0 else (i if cmp(a[i], a[k]) < 0 else k)

        pm = lo + n // 2
        if n > 7:
            pl = lo
            pn = lo + n - 1
            if n > 40:
                d = n // 8
                pl = med3(pl, pl + d, pl + 2 * d)
                pm = med3(pm - d, pm, pm + d)
                pn = med3(pn - 2 * d, pn - d, pn)
            pm = med3(pl, pm, pn)
        a[lo], a[pm] = a[pm], a[lo]
        pa = pb = lo + 1
        pc = pd = lo + n - 1
        while True:
            while pb <= pc:
                r = cmp(a[pb], a[lo])
                if r > 0:
                    break
                if r == 0:
                    a[pa], a[pb] = a[pb], a[pa]
                    pa += 1
                pb += 1
            while pb <= pc:
                r = cmp(a[pc], a[lo])
                if r < 0:
                    break
                if r == 0:
                    a[pc], a[pd] = a[pd], a[pc]
                    pd -= 1
                pc -= 1
            if pb > pc:
                break
            a[pb], a[pc] = a[pc], a[pb]
            pb += 1
            pc -= 1
        pn = lo + n
        r = min(pa - lo, pb - pa)
        for k in range(r):
            a[lo + k], a[pb - r + k] = a[pb - r + k], a[lo + k]
        r = min(pd - pc, pn - pd - 1)
        for k in range(r):
            a[pb + k], a[pn - r + k] = a[pn - r + k], a[pb + k]
        r = pb - pa
        if r > 1:
            s, e = lo, lo + r - 1
            if not ((lrange < s and rrange < s) or (lrange > e and rrange > e)):
                _pqsort(a, lo, r, cmp, lrange, rrange)
        r = pd - pc
        if r > 1:
            lo = pn - r
            n = r
            s, e = lo, lo + r - 1
            if not ((lrange < s and rrange < s) or (lrange > e and rrange > e)):
                continue
        return


def _msort(a: list, cmp) -> list:
    """glibc's qsort (msort_with_tmp): top-down merge sort, left run wins ties."""
    n = len(a)
    if n <= 1:
        return a
    n1 = n // 2
    left = _msort(a[:n1], cmp)
    right = _msort(a[n1:], cmp)
    out = []
    i = j = 0
    while i < len(left) and j < len(right):
        if cmp(left[i], right[j]) <= 0:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    out.extend(left[i:])
    out.extend(right[j:])
    return out


def _cmp_asc(p, q) -> int:
    if p[2] > q[2]:
        return 1
    if p[2] == q[2]:
        return 0
    return -1


def _cmp_desc(p, q) -> int:
    return -_cmp_asc(p, q)


def _georadius(c, argv, src_idx: int, flags: int):
    """georadiusGeneric."""
    n = len(argv)
    storekey = None
    storedist = False
    row = _read(c, argv[src_idx])
    shape = G.Shape()
    if flags & RADIUS_COORDS:
        base = 6
        shape.x, shape.y = _lonlat(argv[2], argv[3])
        _distance_arg(shape, argv, 4)
    elif flags & RADIUS_MEMBER:
        base = 5
        if row is not None:
            xy = _member_xy(c, row, argv[2])
            if xy is None:
                raise RedisError(DECODE_ERR)
            shape.x, shape.y = xy
            _distance_arg(shape, argv, 3)
    else:
        base = 2
        if flags & GEOSEARCHSTORE:
            base = 3
            storekey = argv[1]
    withdist = withhash = withcoords = False
    frommember = fromloc = byradius = bybox = False
    sort = SORT_NONE
    any_ = False
    count = 0
    remaining = n - base
    i = 0
    while i < remaining:
        arg = argv[base + i].lower()
        if arg == b"withdist":
            withdist = True
        elif arg == b"withhash":
            withhash = True
        elif arg == b"withcoord":
            withcoords = True
        elif arg == b"any":
            any_ = True
        elif arg == b"asc":
            sort = SORT_ASC
        elif arg == b"desc":
            sort = SORT_DESC
        elif arg == b"count" and i + 1 < remaining:
            v = to_int(argv[base + i + 1])
            if v is None:
                raise RedisError(errors.NOT_INTEGER)
            if v <= 0:
                raise RedisError("ERR COUNT must be > 0")
            count = v
            i += 1
        elif (arg == b"store" and i + 1 < remaining and not flags & RADIUS_NOSTORE
              and not flags & GEOSEARCH):
            storekey = argv[base + i + 1]
            storedist = False
            i += 1
        elif (arg == b"storedist" and i + 1 < remaining and not flags & RADIUS_NOSTORE
              and not flags & GEOSEARCH):
            storekey = argv[base + i + 1]
            storedist = True
            i += 1
        elif arg == b"storedist" and flags & GEOSEARCH and flags & GEOSEARCHSTORE:
            storedist = True
        elif arg == b"frommember" and i + 1 < remaining and flags & GEOSEARCH and not fromloc:
            if row is not None:
                xy = _member_xy(c, row, argv[base + i + 1])
                if xy is None:
                    raise RedisError(DECODE_ERR)
                shape.x, shape.y = xy
            frommember = True
            i += 1
        elif arg == b"fromlonlat" and i + 2 < remaining and flags & GEOSEARCH and not frommember:
            shape.x, shape.y = _lonlat(argv[base + i + 1], argv[base + i + 2])
            fromloc = True
            i += 2
        elif arg == b"byradius" and i + 2 < remaining and flags & GEOSEARCH and not bybox:
            _distance_arg(shape, argv, base + i + 1)
            shape.circle = True
            byradius = True
            i += 2
        elif arg == b"bybox" and i + 3 < remaining and flags & GEOSEARCH and not byradius:
            _box_arg(shape, argv, base + i + 1)
            shape.circle = False
            bybox = True
            i += 3
        else:
            raise RedisError(errors.SYNTAX)
        i += 1
    name = argv[0].decode("utf-8", "replace")
    if storekey is not None and (withdist or withhash or withcoords):
        raise RedisError("ERR %s is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
                         % ("GEOSEARCHSTORE" if flags & GEOSEARCHSTORE
                            else "STORE option in GEORADIUS"))
    if flags & GEOSEARCH and not (frommember or fromloc):
        raise RedisError("ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for "
                         + name)
    if flags & GEOSEARCH and not (byradius or bybox):
        raise RedisError("ERR exactly one of BYRADIUS and BYBOX can be specified for " + name)
    if any_ and not count:
        raise RedisError("ERR the ANY argument requires COUNT argument")
    ks = c.server.ks
    if row is None:
        if storekey is not None:
            if ks.delete(c.db, storekey):
                ks.notify("g", "del", c.db, storekey)
            return 0
        return []
    if count and sort == SORT_NONE and not any_:
        sort = SORT_ASC
    pts = _points(c, row, shape, count if any_ else 0)
    if not pts and storekey is None:
        return []
    result_length = len(pts)
    returned = result_length if (count == 0 or result_length < count) else count
    if sort != SORT_NONE:
        cmp = _cmp_asc if sort == SORT_ASC else _cmp_desc
        if returned == result_length:
            if any(p[2] != p[2] for p in pts):
                pts = _msort(pts, cmp)  # NaN distances: only glibc's own merge order agrees
            else:
                pts.sort(key=cmp_to_key(cmp))  # glibc qsort: a stable merge sort
        else:
            _pqsort(pts, 0, result_length, cmp, 0, returned - 1)
    pts = pts[:returned]
    conv = shape.conversion
    if storekey is None:
        out: list = []
        opts = withdist or withcoords or withhash
        for p in pts:
            dist = p[2] / conv
            if not opts:
                out.append(p[4])
                continue
            item: list = [p[4]]
            if withdist:
                item.append(G.fixed4(dist))
            if withhash:
                item.append(_score_ll(p[3]))
            if withcoords:
                item.append([_coord(c, p[0]), _coord(c, p[1])])
            out.append(item)
        return out
    rows: dict[bytes, float] = {}
    for p in pts:
        rows[p[4]] = p[2] / conv if storedist else p[3]
    _store_rows(c, storekey, list(rows.items()),
                         "geosearchstore" if flags & GEOSEARCH else "georadiusstore")
    return returned


def _score_ll(score: float) -> int:
    """``addReplyLongLong(c, gp->score)``: the double truncated to long long."""
    if score != score or score >= 9.223372036854775807e18 or score < -9.223372036854775808e18:
        return -(2**63)
    return int(score)


@command("georadius")
def georadius(c, argv):
    return _georadius(c, argv, 1, RADIUS_COORDS)


@command("georadiusbymember")
def georadiusbymember(c, argv):
    return _georadius(c, argv, 1, RADIUS_MEMBER)


@command("georadius_ro")
def georadius_ro(c, argv):
    return _georadius(c, argv, 1, RADIUS_COORDS | RADIUS_NOSTORE)


@command("georadiusbymember_ro")
def georadiusbymember_ro(c, argv):
    return _georadius(c, argv, 1, RADIUS_MEMBER | RADIUS_NOSTORE)


@command("geosearch")
def geosearch(c, argv):
    return _georadius(c, argv, 1, GEOSEARCH)


@command("geosearchstore")
def geosearchstore(c, argv):
    return _georadius(c, argv, 2, GEOSEARCH | GEOSEARCHSTORE)
