"""Geo commands: the same commands to redis-server 7.0.15 and to aki, replies compared
byte for byte (coordinates, distances and hashes are float text, so this checks that
aki repeats Redis's geohash and haversine arithmetic exactly), in RESP2 and RESP3."""

from __future__ import annotations

import random

import pytest

from tests.compat.test_notifications_compat import Both

RESP = [2, 3]

SICILY = ("GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania "
          "12.758489 38.788135 edge1 17.241510 38.788135 edge2")


def hello(pair, proto: int) -> None:
    if proto == 3:
        pair.a.cmd("HELLO", "3")
        pair.r.cmd("HELLO", "3")


def cmds(text: str) -> list[list[str]]:
    return [line.split() for line in text.strip().splitlines() if line.strip()]


def run(pair, proto: int, text: str) -> None:
    hello(pair, proto)
    for cmd in cmds(text):
        pair.same(*cmd)


@pytest.mark.parametrize("proto", RESP)
def test_geoadd_and_reads(pair, proto):
    run(pair, proto, SICILY + """
        GEOADD Sicily 13.361389 38.115556 Palermo
        GEOADD Sicily CH 13.361389 38.115556 Palermo 13.4 38.1 edge1
        GEOADD Sicily NX 1 1 Palermo 2 2 newone
        GEOADD Sicily XX CH 3 3 newone 4 4 nothere
        GEOADD Sicily ch xx nx 1 1 a
        GEOADD Sicily GT 1 1 a
        GEOADD Sicily GT 1 1
        GEOADD Sicily LT CH 1 1 a
        GEOADD Sicily CH NX CH
        GEOADD Sicily 1 2 a 3
        GEOADD Sicily 200 10 a
        GEOADD Sicily 10 86 a
        GEOADD Sicily -180.1 -85.06 a
        GEOADD Sicily abc 10 a
        GEOADD Sicily 10 nan a
        GEOADD Sicily inf 10 a
        GEOADD Sicily 180 85.05112878 top -180 -85.05112878 bottom 0 0 zero
        ZRANGE Sicily 0 -1 WITHSCORES
        GEOPOS Sicily Palermo Catania top bottom zero NonExisting
        GEOPOS Sicily
        GEOPOS nokey a b
        GEOHASH Sicily Palermo Catania top bottom zero NonExisting
        GEOHASH nokey a
        GEOHASH Sicily
        GEODIST Sicily Palermo Catania
        GEODIST Sicily Palermo Catania km
        GEODIST Sicily Palermo Catania MI
        GEODIST Sicily Palermo Catania ft
        GEODIST Sicily Palermo Catania furlong
        GEODIST Sicily Palermo Catania km extra
        GEODIST Sicily Palermo nope
        GEODIST Sicily nope Palermo
        GEODIST nokey a b
        GEODIST nokey a b parsec
        GEODIST Sicily top bottom
        GEODIST Sicily Palermo Palermo
        ZADD Sicily -5 neg 1e300 huge 0.5 half
        GEOPOS Sicily neg huge half
        GEOHASH Sicily neg huge half
        GEODIST Sicily neg huge
        SET str x
        GEOADD str 1 1 a
        GEOPOS str a
        GEOHASH str a
        GEODIST str a b
        GEOSEARCH str FROMLONLAT 0 0 BYRADIUS 1 km
        GEORADIUS str 0 0 1 km
        GEOSEARCHSTORE d str FROMLONLAT 0 0 BYRADIUS 1 km
        GEOSEARCHSTORE str Sicily FROMLONLAT 15 37 BYRADIUS 200 km
        TYPE str
    """)


@pytest.mark.parametrize("proto", RESP)
def test_searches(pair, proto):
    run(pair, proto, SICILY + """
        GEORADIUS Sicily 15 37 200 km
        GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH
        GEORADIUS Sicily 15 37 200 km WITHDIST DESC
        GEORADIUS Sicily 15 37 200 km WITHDIST ASC
        GEORADIUS Sicily 15 37 200 km COUNT 1
        GEORADIUS Sicily 15 37 200 km COUNT 1 DESC WITHCOORD
        GEORADIUS Sicily 15 37 200 km COUNT 1 ANY
        GEORADIUS Sicily 15 37 2000 km COUNT 3 ANY WITHDIST
        GEORADIUS Sicily 15 37 0 km
        GEORADIUS Sicily 15 37 1 m
        GEORADIUS Sicily 15 37 20000 km
        GEORADIUS Sicily 15 37 124.5 mi WITHDIST
        GEORADIUS Sicily 15 37 600000 ft WITHDIST
        GEORADIUS_RO Sicily 15 37 200 km WITHDIST
        GEORADIUSBYMEMBER Sicily Palermo 300 km WITHDIST
        GEORADIUSBYMEMBER Sicily Palermo 300 km WITHDIST DESC COUNT 2
        GEORADIUSBYMEMBER_RO Sicily Catania 100 km WITHCOORD
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ASC
        GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 200 km DESC WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD WITHDIST WITHHASH
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 4 400 km
        GEOSEARCH Sicily FROMMEMBER Catania BYBOX 200 200 mi COUNT 2 DESC
        GEOSEARCH Sicily FROMMEMBER Catania BYBOX 200 200 mi COUNT 2 ANY ASC
        GEOSEARCH Sicily fromlonlat 15 37 byradius 200 KM withdist count 1
        GEOSEARCH nokey FROMLONLAT 15 37 BYRADIUS 200 km
        GEOSEARCH nokey FROMMEMBER x BYRADIUS 200 km
        GEORADIUSBYMEMBER nokey nomember 1 km
        GEORADIUSBYMEMBER nokey nomember -1 furlong WITHDIST
        GEORADIUS nokey 15 37 1 km
    """)


@pytest.mark.parametrize("proto", RESP)
def test_store(pair, proto):
    run(pair, proto, SICILY + """
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC STOREDIST
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST DESC COUNT 1
        ZRANGE dst 0 -1 WITHSCORES
        GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km
        EXISTS dst
        GEORADIUS Sicily 15 37 200 km STORE dst2
        ZRANGE dst2 0 -1 WITHSCORES
        GEORADIUS Sicily 15 37 200 km STOREDIST dst2
        ZRANGE dst2 0 -1 WITHSCORES
        GEORADIUSBYMEMBER Sicily Palermo 200 km STOREDIST dst3 COUNT 2 DESC
        ZRANGE dst3 0 -1 WITHSCORES
        GEORADIUSBYMEMBER Sicily Palermo 200 km STORE dst3 STOREDIST dst4
        EXISTS dst3 dst4
        GEORADIUS nokey 15 37 200 km STORE dst4
        EXISTS dst4
        GEORADIUSBYMEMBER nokey nope 200 km STORE dst4
        SET s x
        GEOSEARCHSTORE s Sicily FROMLONLAT 15 37 BYRADIUS 200 km
        ZRANGE s 0 -1 WITHSCORES
        GEOSEARCHSTORE Sicily Sicily FROMMEMBER Palermo BYRADIUS 1 km
        ZRANGE Sicily 0 -1 WITHSCORES
        OBJECT ENCODING Sicily
        GEORADIUS Sicily 15 37 200 km STORE x WITHDIST
        GEORADIUS Sicily 15 37 200 km STOREDIST x WITHHASH
        GEORADIUS_RO Sicily 15 37 200 km STORE x
        GEORADIUSBYMEMBER_RO Sicily Palermo 200 km STOREDIST x
        GEOSEARCHSTORE d Sicily FROMLONLAT 15 37 BYRADIUS 200 km WITHCOORD
        GEOSEARCHSTORE d Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE x
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km STORE x
    """)


@pytest.mark.parametrize("proto", RESP)
def test_option_errors(pair, proto):
    run(pair, proto, SICILY + """
        GEORADIUS Sicily 15 37 200 km COUNT
        GEORADIUS Sicily 15 37 200 km COUNT 0
        GEORADIUS Sicily 15 37 200 km COUNT -1
        GEORADIUS Sicily 15 37 200 km COUNT abc
        GEORADIUS Sicily 15 37 200 km ANY
        GEORADIUS Sicily 15 37 200 km BOGUS
        GEORADIUS Sicily 15 37 200 km FROMLONLAT 1 1
        GEORADIUS Sicily 15 37 -1 km
        GEORADIUS Sicily 15 37 abc km
        GEORADIUS Sicily 15 37 1 parsec
        GEORADIUS Sicily 200 37 1 km
        GEORADIUS Sicily 15 90 1 km
        GEORADIUS Sicily x 37 1 km
        GEORADIUSBYMEMBER Sicily nope 1 km
        GEORADIUSBYMEMBER Sicily Palermo -1 km
        GEORADIUSBYMEMBER Sicily Palermo x km
        GEORADIUSBYMEMBER Sicily Palermo 1 lightyear
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km ANY
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS -1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS x km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 yd
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 -1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX x 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 x km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 yd
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1
        GEOSEARCH Sicily FROMLONLAT 15 BYRADIUS 1 km
        GEOSEARCH Sicily FROMLONLAT 15 95 BYRADIUS 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYBOX 1 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 1 km BYRADIUS 1 km
        GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 1 km
        GEOSEARCH Sicily FROMMEMBER Palermo FROMLONLAT 15 37 BYRADIUS 1 km
        GEOSEARCH Sicily FROMMEMBER nope BYRADIUS 1 km
        GEOSEARCH Sicily BYRADIUS 200 km WITHDIST
        GEOSEARCH Sicily FROMLONLAT 15 37 WITHDIST
        GEOSEARCH Sicily FROMMEMBER Palermo ASC
        geosearch Sicily FROMMEMBER Palermo ASC
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 0
        GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 2 ANY WITHDIST BOGUS
        GEOSEARCH nokey BYRADIUS 200 km WITHDIST
        GEOSEARCH nokey FROMMEMBER x ASC
        GEOSEARCHSTORE d Sicily FROMMEMBER Palermo ASC
        GEOSEARCHSTORE d nokey FROMMEMBER Palermo BYRADIUS 1 km WITHDIST
    """)


@pytest.mark.parametrize("proto", RESP)
def test_ties_and_partial_sort(pair, proto):
    """Equal distances keep Redis's order: glibc's stable qsort, or pqsort under COUNT."""
    hello(pair, proto)
    args = ["GEOADD", "t"]
    for i in range(60):
        args += ["10.5" if i % 3 else "10.50001", "45.25", "m%02d" % i]
    pair.same(*args)
    for extra in ([], ["ASC"], ["DESC"], ["COUNT", "5"], ["COUNT", "17", "DESC"],
                  ["COUNT", "41"], ["COUNT", "59", "DESC"], ["COUNT", "7", "ANY"],
                  ["COUNT", "7", "ANY", "DESC"]):
        pair.same("GEOSEARCH", "t", "FROMLONLAT", "10.5", "45.25", "BYRADIUS", "10", "km",
                  "WITHDIST", *extra)
        pair.same("GEOSEARCH", "t", "FROMLONLAT", "10.49", "45.26", "BYRADIUS", "10", "km",
                  *extra)


EDGES = """
    GEOADD g 0 0 a 180 0 b -180 0 c 179.999999 0.0000001 d 0.0000001 -0.0000001 e 90 45 f
    GEOADD g -90 -45 g 45 85 h -135 -85 i 180 85.05112878 j -180 -85.05112878 k
    GEOSEARCH g FROMLONLAT 0 0 BYRADIUS inf km WITHDIST
    GEOSEARCH g FROMLONLAT 0 0 BYRADIUS 1e308 km WITHDIST
    GEOSEARCH g FROMLONLAT 0 0 BYRADIUS 20037.5 km WITHDIST DESC
    GEOSEARCH g FROMLONLAT 0 0 BYRADIUS 20037.5 km WITHDIST COUNT 3 DESC
    GEOSEARCH g FROMLONLAT 0 0 BYBOX inf inf km WITHDIST
    GEOSEARCH g FROMLONLAT 0 0 BYBOX 0 0 km WITHDIST
    GEOSEARCH g FROMLONLAT 0 0 BYRADIUS 0 km WITHDIST
    GEOSEARCH g FROMMEMBER j BYRADIUS 5000 km WITHDIST WITHCOORD
    GEOSEARCH g FROMMEMBER k BYBOX 50000 50000 km WITHDIST WITHCOORD
    GEOSEARCH g FROMLONLAT 180 0 BYRADIUS 100 km WITHDIST WITHCOORD
    GEOSEARCH g FROMLONLAT -180 0 BYBOX 100 100 km WITHDIST WITHCOORD
    GEODIST g a b
    GEODIST g d e
    GEODIST g j k
    GEORADIUS g 0 0 1e-300 m WITHDIST
    GEORADIUS g 0 0 0x10 km WITHDIST
    GEORADIUS g 0 0 1e400 km WITHDIST
    GEOADD g -0 -0 z
    GEOPOS g z j k
    ZADD g 1e20 big -1e20 small inf pinf -inf ninf 9007199254740992 p53 18014398509481983 top
    GEOPOS g big small pinf ninf p53 top
    GEOHASH g big small pinf ninf p53 top
    GEODIST g big small
    GEOSEARCH g FROMMEMBER pinf BYRADIUS 100 km WITHHASH WITHCOORD
    GEOSEARCH g FROMLONLAT 0 0 BYRADIUS 30000 km WITHHASH WITHDIST
"""


@pytest.mark.parametrize("proto", RESP)
def test_edges(pair, proto):
    """Poles, the antimeridian, infinite and huge radii, scores no GEOADD writes."""
    run(pair, proto, EDGES)


def test_random_searches(pair):
    """Random point clouds (clustered, worldwide, duplicated) and random searches."""
    rnd = random.Random(7)
    for _ in range(8):
        pair.same("DEL", "g")
        n = rnd.choice([20, 200])
        cx, cy = rnd.uniform(-180, 180), rnd.uniform(-85, 85)
        args = ["GEOADD", "g"]
        for i in range(n):
            if rnd.random() < 0.15:
                x, y = round(cx, 2), round(cy, 2)
            elif rnd.random() < 0.5:
                x = max(-180.0, min(180.0, cx + rnd.uniform(-5, 5)))
                y = max(-85.0, min(85.0, cy + rnd.uniform(-5, 5)))
            else:
                x, y = rnd.uniform(-180, 180), rnd.uniform(-85.05, 85.05)
            args += [repr(x), repr(y), "m%d" % i]
        pair.same(*args)
        for _ in range(12):
            unit = rnd.choice(["m", "km", "mi", "ft"])
            conv = {"m": 1, "km": 1000, "mi": 1609.34, "ft": 0.3048}[unit]
            rad = rnd.choice([10, 100000, 500000, 3000000, 8000000]) / conv
            opts = rnd.sample(["WITHDIST", "WITHCOORD", "WITHHASH"], rnd.randint(0, 3))
            opts += rnd.choice([[], ["ASC"], ["DESC"]])
            if rnd.random() < 0.5:
                opts += ["COUNT", str(rnd.randint(1, 20))] + (["ANY"] if rnd.random() < 0.3 else [])
            frm = (["FROMLONLAT", repr(cx), repr(cy)] if rnd.random() < 0.5
                   else ["FROMMEMBER", "m%d" % rnd.randrange(n)])
            by = (["BYRADIUS", repr(rad), unit] if rnd.random() < 0.5 else
                  ["BYBOX", repr(rad * rnd.uniform(0.5, 2)), repr(rad * rnd.uniform(0.5, 2)), unit])
            pair.same("GEOSEARCH", "g", *frm, *by, *opts)
            plain = [o for o in opts if o not in ("WITHDIST", "WITHCOORD", "WITHHASH")]
            pair.same("GEOSEARCHSTORE", "d", "g", *frm, *by, *plain, "STOREDIST")
            pair.same("ZRANGE", "d", "0", "-1", "WITHSCORES")
        members = ["m%d" % i for i in range(n)]
        pair.same("GEOPOS", "g", *members)
        pair.same("GEOHASH", "g", *members)
        for _ in range(5):
            pair.same("GEODIST", "g", rnd.choice(members), rnd.choice(members), "km")


def test_keyspace_events(aki_server, redis_server):
    both = Both(aki_server.port, redis_server.port, "KEA")
    try:
        for cmd in cmds(SICILY + """
            GEOADD Sicily 13.361389 38.115556 Palermo
            GEOADD Sicily CH 1 1 Palermo
            GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 2000 km
            GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 1 m
            GEORADIUS Sicily 15 37 2000 km STORE dst2
            GEORADIUSBYMEMBER Sicily Catania 2000 km STOREDIST dst2
            GEORADIUS Sicily 0 0 1 m STORE dst2
            GEORADIUS nokey 0 0 1 m STORE dst2
            GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 2000 km
            GEOPOS Sicily Palermo
        """):
            both.same(*cmd)
        assert not both.mismatches, "\n".join(both.mismatches)
    finally:
        both.a.close()
        both.r.close()


def test_bit_tricks_match_c():
    """The table-driven interleave/deinterleave equal geohash.c's shift-and-mask code."""
    from aki import geohash as G

    rnd = random.Random(11)
    for _ in range(20000):
        a, b, v = rnd.getrandbits(32), rnd.getrandbits(32), rnd.getrandbits(64)
        assert G.interleave64(a, b) == G._interleave64_c(a, b)
        assert G.deinterleave64(v) == G._deinterleave64_c(v)
