"""Geohash math of Redis 7.0.15 (geohash.c, geohash_helper.c), operation for operation.

Every step is the same IEEE double arithmetic as the C code (x86-64 SSE, glibc's
libm, which CPython's ``math`` also calls), and the integer parts reproduce the
C unsigned 64-bit wrap-around, so scores, decoded coordinates and distances are
bit-identical to Redis's.
"""

from __future__ import annotations

import math

LAT_MIN = -85.05112878
LAT_MAX = 85.05112878
LONG_MIN = -180.0
LONG_MAX = 180.0
STEP_MAX = 26

D_R = math.pi / 180.0
EARTH_RADIUS_IN_METERS = 6372797.560856
MERCATOR_MAX = 20037726.37

U64 = (1 << 64) - 1
_TWO63 = 9223372036854775808.0

# A hash is (bits, step); (0, 0) is the "zeroed" box (GZERO / HASHISZERO).
Hash = tuple[int, int]
Area = tuple[float, float, float, float]  # lon_min, lon_max, lat_min, lat_max

_B = (0x5555555555555555, 0x3333333333333333, 0x0F0F0F0F0F0F0F0F, 0x00FF00FF00FF00FF,
      0x0000FFFF0000FFFF, 0x00000000FFFFFFFF)


def _spread8(b: int) -> int:
    out = 0
    for k in range(8):
        out |= ((b >> k) & 1) << (2 * k)
    return out


_SPREAD = [_spread8(b) for b in range(256)]  # byte -> its bits on even positions
_EVEN8 = [sum(((b >> (2 * k)) & 1) << k for k in range(4)) for b in range(256)]
_EVEN16 = bytes(_EVEN8[i & 255] | (_EVEN8[i >> 8] << 4) for i in range(65536))


def interleave64(xlo: int, ylo: int) -> int:
    """Bits of x (32 low bits) on even positions, of y on odd ones (the C bit tricks)."""
    s = _SPREAD
    x = xlo & 0xFFFFFFFF
    y = ylo & 0xFFFFFFFF
    sx = s[x & 255] | s[(x >> 8) & 255] << 16 | s[(x >> 16) & 255] << 32 | s[x >> 24] << 48
    sy = s[y & 255] | s[(y >> 8) & 255] << 16 | s[(y >> 16) & 255] << 32 | s[y >> 24] << 48
    return sx | (sy << 1)


def deinterleave64(v: int) -> int:
    """Even bits of ``v`` in the low 32 bits of the result, odd bits in the high 32."""
    e = _EVEN16
    y = v >> 1
    x = (e[v & 0xFFFF] | e[(v >> 16) & 0xFFFF] << 8 | e[(v >> 32) & 0xFFFF] << 16
         | e[(v >> 48) & 0xFFFF] << 24)
    y = (e[y & 0xFFFF] | e[(y >> 16) & 0xFFFF] << 8 | e[(y >> 32) & 0xFFFF] << 16
         | e[(y >> 48) & 0xFFFF] << 24)
    return x | (y << 32)


def _interleave64_c(xlo: int, ylo: int) -> int:
    x = xlo & 0xFFFFFFFF
    y = ylo & 0xFFFFFFFF
    for s, b in ((16, _B[4]), (8, _B[3]), (4, _B[2]), (2, _B[1]), (1, _B[0])):
        x = (x | (x << s)) & b
        y = (y | (y << s)) & b
    return (x | (y << 1)) & U64


def _deinterleave64_c(v: int) -> int:
    x = v
    y = v >> 1
    for s, b in ((0, _B[0]), (1, _B[1]), (2, _B[2]), (4, _B[3]), (8, _B[4]), (16, _B[5])):
        x = (x | (x >> s)) & b
        y = (y | (y >> s)) & b
    return (x | (y << 32)) & U64


def double_to_u64(d: float) -> int:
    """C ``(uint64_t)d`` as GCC compiles it for x86-64 (cvttsd2si, indefinite on overflow)."""
    if not d < _TWO63:  # also NaN takes the signed path below in C (comisd unordered)
        if d != d:
            return 1 << 63
        t = d - _TWO63
        if t >= _TWO63:
            return 0
        return (int(t) & U64) ^ (1 << 63)
    if d <= -_TWO63 or d != d:
        return 1 << 63
    return int(d) & U64


def encode(long_min: float, long_max: float, lat_min: float, lat_max: float,
           longitude: float, latitude: float, step: int) -> Hash | None:
    """geohashEncode: None where the C function returns 0."""
    if step > 32 or step == 0:
        return None
    if (longitude > LONG_MAX or longitude < LONG_MIN or latitude > LAT_MAX
            or latitude < LAT_MIN):
        return None
    if latitude < lat_min or latitude > lat_max or longitude < long_min or longitude > long_max:
        return (0, step)
    lat_offset = (latitude - lat_min) / (lat_max - lat_min)
    long_offset = (longitude - long_min) / (long_max - long_min)
    lat_offset *= float(1 << step)
    long_offset *= float(1 << step)
    return (interleave64(int(lat_offset), int(long_offset)), step)


def encode_wgs84(longitude: float, latitude: float, step: int = STEP_MAX) -> Hash | None:
    return encode(LONG_MIN, LONG_MAX, LAT_MIN, LAT_MAX, longitude, latitude, step)


def align52(h: Hash) -> int:
    return (h[0] << (52 - h[1] * 2)) & U64


def decode(h: Hash, long_min: float = LONG_MIN, long_max: float = LONG_MAX,
           lat_min: float = LAT_MIN, lat_max: float = LAT_MAX) -> Area | None:
    bits, step = h
    if bits == 0 and step == 0:
        return None
    sep = deinterleave64(bits)
    lat_scale = lat_max - lat_min
    long_scale = long_max - long_min
    ilato = sep & 0xFFFFFFFF
    ilono = (sep >> 32) & 0xFFFFFFFF
    div = float(1 << step)
    return (long_min + (ilono * 1.0 / div) * long_scale,
            long_min + (((ilono + 1) & 0xFFFFFFFF) * 1.0 / div) * long_scale,
            lat_min + (ilato * 1.0 / div) * lat_scale,
            lat_min + (((ilato + 1) & 0xFFFFFFFF) * 1.0 / div) * lat_scale)


def decode_score(score: float) -> tuple[float, float]:
    """decodeGeohash: a zset score (a double) to (longitude, latitude)."""
    area = decode((double_to_u64(score), STEP_MAX))
    assert area is not None
    x = (area[0] + area[1]) / 2
    if x > LONG_MAX:
        x = LONG_MAX
    if x < LONG_MIN:
        x = LONG_MIN
    y = (area[2] + area[3]) / 2
    if y > LAT_MAX:
        y = LAT_MAX
    if y < LAT_MIN:
        y = LAT_MIN
    return x, y


_ALPHABET = b"0123456789bcdefghjkmnpqrstuvwxyz"


def standard_geohash(score: float) -> bytes:
    """GEOHASH's 11-character string: decode, re-encode with latitude in [-90, 90]."""
    x, y = decode_score(score)
    h = encode(-180.0, 180.0, -90.0, 90.0, x, y, 26)
    bits = h[0] if h is not None else 0
    out = bytearray()
    for i in range(11):
        idx = 0 if i == 10 else (bits >> (52 - (i + 1) * 5)) & 0x1F
        out.append(_ALPHABET[idx])
    return bytes(out)


# -- neighbors ----------------------------------------------------------------------------

_AA = 0xAAAAAAAAAAAAAAAA
_55 = 0x5555555555555555


def _move_x(h: Hash, d: int) -> Hash:
    bits, step = h
    if d == 0:
        return h
    x = bits & _AA
    y = bits & _55
    zz = _55 >> (64 - step * 2)
    if d > 0:
        x = (x + (zz + 1)) & U64
    else:
        x = x | zz
        x = (x - (zz + 1)) & U64
    x &= _AA >> (64 - step * 2)
    return (x | y, step)


def _move_y(h: Hash, d: int) -> Hash:
    bits, step = h
    if d == 0:
        return h
    x = bits & _AA
    y = bits & _55
    zz = _AA >> (64 - step * 2)
    if d > 0:
        y = (y + (zz + 1)) & U64
    else:
        y = y | zz
        y = (y - (zz + 1)) & U64
    y &= _55 >> (64 - step * 2)
    return (x | y, step)


def neighbors(h: Hash) -> dict[str, Hash]:
    return {
        "east": _move_x(h, 1),
        "west": _move_x(h, -1),
        "south": _move_y(h, -1),
        "north": _move_y(h, 1),
        "north_west": _move_y(_move_x(h, -1), 1),
        "north_east": _move_y(_move_x(h, 1), 1),
        "south_east": _move_y(_move_x(h, 1), -1),
        "south_west": _move_y(_move_x(h, -1), -1),
    }


# -- distances and search areas -------------------------------------------------------------
# libm answers NaN where Python's math raises (cos(inf), asin(1 + ulp) for antipodes).

_NAN = float("nan")


def _nsin(x: float) -> float:
    try:
        return math.sin(x)
    except ValueError:
        return _NAN


def _ncos(x: float) -> float:
    try:
        return math.cos(x)
    except ValueError:
        return _NAN


def _nasin(x: float) -> float:
    try:
        return math.asin(x)
    except ValueError:
        return _NAN


def _nsqrt(x: float) -> float:
    try:
        return math.sqrt(x)
    except ValueError:
        return _NAN


def deg_rad(a: float) -> float:
    return a * D_R


def rad_deg(a: float) -> float:
    return a / D_R


def lat_distance(lat1d: float, lat2d: float) -> float:
    return EARTH_RADIUS_IN_METERS * abs(deg_rad(lat2d) - deg_rad(lat1d))


def distance(lon1d: float, lat1d: float, lon2d: float, lat2d: float,
             _sin=math.sin, _cos=math.cos, _asin=math.asin, _sqrt=math.sqrt) -> float:
    """geohashGetDistance: haversine on Redis's sphere (deg_rad inlined)."""
    try:
        lon1r = lon1d * D_R
        lon2r = lon2d * D_R
        v = _sin((lon2r - lon1r) / 2)
        if v == 0.0:
            return EARTH_RADIUS_IN_METERS * abs(lat1d * D_R - lat2d * D_R)
        lat1r = lat1d * D_R
        lat2r = lat2d * D_R
        u = _sin((lat2r - lat1r) / 2)
        a = u * u + _cos(lat1r) * _cos(lat2r) * v * v
        return 2.0 * EARTH_RADIUS_IN_METERS * _asin(_sqrt(a))
    except ValueError:  # libm's NaN: sin/cos of infinities, asin just past 1
        return _distance_nan(lon1d, lat1d, lon2d, lat2d)


def _distance_nan(lon1d: float, lat1d: float, lon2d: float, lat2d: float) -> float:
    lon1r = deg_rad(lon1d)
    lon2r = deg_rad(lon2d)
    v = _nsin((lon2r - lon1r) / 2)
    if v == 0.0:
        return lat_distance(lat1d, lat2d)
    lat1r = deg_rad(lat1d)
    lat2r = deg_rad(lat2d)
    u = _nsin((lat2r - lat1r) / 2)
    a = u * u + _ncos(lat1r) * _ncos(lat2r) * v * v
    return 2.0 * EARTH_RADIUS_IN_METERS * _nasin(_nsqrt(a))


def in_rectangle(width_m: float, height_m: float, x1: float, y1: float, x2: float,
                 y2: float) -> float | None:
    """geohashGetDistanceIfInRectangle: the distance, or None when outside the box."""
    if lat_distance(y2, y1) > height_m / 2:
        return None
    if distance(x2, y2, x1, y2) > width_m / 2:
        return None
    return distance(x1, y1, x2, y2)


def estimate_steps(range_meters: float, lat: float) -> int:
    if range_meters == 0:
        return 26
    step = 1
    while range_meters < MERCATOR_MAX:
        range_meters *= 2
        step += 1
    step -= 2
    if lat > 66 or lat < -66:
        step -= 1
        if lat > 80 or lat < -80:
            step -= 1
    if step < 1:
        step = 1
    if step > 26:
        step = 26
    return step


class Shape:
    """GeoShape: a circle (radius) or a box (width, height), in units of ``conversion``."""

    __slots__ = ("x", "y", "circle", "radius", "width", "height", "conversion")

    def __init__(self) -> None:
        self.x = self.y = 0.0
        self.circle = True
        self.radius = self.width = self.height = 0.0
        self.conversion = 0.0

    def bounds(self) -> tuple[float, float, float, float]:
        longitude, latitude = self.x, self.y
        height = self.conversion * (self.radius if self.circle else self.height / 2)
        width = self.conversion * (self.radius if self.circle else self.width / 2)
        lat_delta = rad_deg(height / EARTH_RADIUS_IN_METERS)
        long_delta_top = rad_deg(width / EARTH_RADIUS_IN_METERS
                                 / _ncos(deg_rad(latitude + lat_delta)))
        long_delta_bottom = rad_deg(width / EARTH_RADIUS_IN_METERS
                                    / _ncos(deg_rad(latitude - lat_delta)))
        south = latitude < 0
        return (longitude - long_delta_bottom if south else longitude - long_delta_top,
                latitude - lat_delta,
                longitude + long_delta_bottom if south else longitude + long_delta_top,
                latitude + lat_delta)

    def within(self, score: float) -> tuple[float, float, float] | None:
        """geoWithinShape: (lon, lat, distance in meters) of a score inside the shape."""
        x, y = decode_score(score)
        if self.circle:
            d = distance(self.x, self.y, x, y)
            if d > self.radius * self.conversion:
                return None
            return x, y, d
        d = in_rectangle(self.width * self.conversion, self.height * self.conversion,
                         self.x, self.y, x, y)
        if d is None:
            return None
        return x, y, d


def areas(shape: Shape) -> list[Hash]:
    """geohashCalculateAreasByShapeWGS84, as the 9 boxes membersOfAllNeighbors walks:
    center, N, S, E, W, NE, NW, SE, SW; (0, 0) for excluded ones."""
    min_lon, min_lat, max_lon, max_lat = shape.bounds()
    longitude, latitude = shape.x, shape.y
    if shape.circle:
        radius_meters = shape.radius
    else:
        radius_meters = _nsqrt((shape.width / 2) * (shape.width / 2)
                                  + (shape.height / 2) * (shape.height / 2))
    radius_meters *= shape.conversion
    steps = estimate_steps(radius_meters, latitude)
    h = encode_wgs84(longitude, latitude, steps)
    nb = neighbors(h)
    area = decode(h)
    north, south = decode(nb["north"]), decode(nb["south"])
    east, west = decode(nb["east"]), decode(nb["west"])
    decrease = (north[3] < max_lat or south[2] > min_lat or east[1] < max_lon
                or west[0] > min_lon)
    if steps > 1 and decrease:
        steps -= 1
        h = encode_wgs84(longitude, latitude, steps)
        nb = neighbors(h)
        area = decode(h)
    if steps >= 2:
        zero = (0, 0)
        if area[2] < min_lat:
            nb["south"] = nb["south_west"] = nb["south_east"] = zero
        if area[3] > max_lat:
            nb["north"] = nb["north_east"] = nb["north_west"] = zero
        if area[0] < min_lon:
            nb["west"] = nb["south_west"] = nb["north_west"] = zero
        if area[1] > max_lon:
            nb["east"] = nb["south_east"] = nb["north_east"] = zero
    return [h, nb["north"], nb["south"], nb["east"], nb["west"], nb["north_east"],
            nb["north_west"], nb["south_east"], nb["south_west"]]


def box_scores(h: Hash) -> tuple[float, float]:
    """scoresOfGeoHashBox: [min, max) of the scores inside the box, as doubles."""
    lo = align52(h)
    hi = align52(((h[0] + 1) & U64, h[1]))
    return float(lo), float(hi)


def fixed4(d: float) -> bytes:
    """fixedpoint_d2string(d, 4): ``llrint(d * 10000)`` written with 4 decimals."""
    if d == 0:
        return b"0.0000"
    t = d * 10000.0
    if t != t or not -9.223372036854775808e18 <= t < 9.223372036854775808e18:
        v = -(2**63)  # llrint's "indefinite" result
    else:
        v = round(t)
    neg = v < 0
    s = str(abs(v)).rjust(5, "0")
    text = s[:-4] + "." + s[-4:]
    return (("-" if neg else "") + text).encode()
