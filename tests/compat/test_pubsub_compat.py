"""Pub/sub against real redis-server: the same commands to both, the raw bytes compared
(confirmations, RESP2 subscribed mode, RESP3 pushes interleaved with replies)."""

from __future__ import annotations

import socket
import time

import pytest

from tests.conftest import RawClient, encode_command


def both(pair, *args) -> bytes:
    return pair.same(*args)


def read_both(pair) -> bytes:
    got, want = pair.a.read_reply(), pair.r.read_reply()
    assert got == want, f"aki {got!r} != redis {want!r}"
    return got


def read_both_unordered(pair, n: int) -> list[bytes]:
    """n messages whose order Redis leaves to its hash table (patterns, channels)."""
    got = sorted(pair.a.read_reply() for _ in range(n))
    want = sorted(pair.r.read_reply() for _ in range(n))
    assert got == want
    return got


def send_both(pair, *args) -> None:
    pair.a.send(encode_command(*args))
    pair.r.send(encode_command(*args))


class Pubs:
    """A second raw client per server, to publish from."""

    def __init__(self, pair, aki_port: int, redis_port: int) -> None:
        self.pair = pair
        self.a = RawClient(aki_port)
        self.r = RawClient(redis_port)

    def same(self, *args) -> bytes:
        got, want = self.a.cmd(*args), self.r.cmd(*args)
        assert got == want, f"{args!r}: aki {got!r} != redis {want!r}"
        return got

    def close(self) -> None:
        self.a.close()
        self.r.close()


@pytest.fixture
def pub(pair, aki_server, redis_server):
    p = Pubs(pair, aki_server.port, redis_server.port)
    yield p
    p.close()


def test_subscribe_confirmations_one_per_channel(pair):
    send_both(pair, "SUBSCRIBE", "a", "b", "a")
    for _ in range(3):
        read_both(pair)
    send_both(pair, "UNSUBSCRIBE", "a", "zz")
    assert read_both(pair) == b"*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n"
    read_both(pair)
    send_both(pair, "SUBSCRIBE", "c")
    read_both(pair)
    # from every channel, in the order of Redis's hash table: compare as a set
    send_both(pair, "UNSUBSCRIBE")
    got = sorted(pair.a.read_reply()[:-4] for _ in range(2))
    want = sorted(pair.r.read_reply()[:-4] for _ in range(2))
    assert got == want
    # nothing left: the null-channel shape
    send_both(pair, "UNSUBSCRIBE")
    assert read_both(pair) == b"*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n"
    send_both(pair, "PUNSUBSCRIBE")
    assert read_both(pair) == b"*3\r\n$12\r\npunsubscribe\r\n$-1\r\n:0\r\n"
    send_both(pair, "SUNSUBSCRIBE")
    assert read_both(pair) == b"*3\r\n$12\r\nsunsubscribe\r\n$-1\r\n:0\r\n"
    both(pair, "PING")


def test_resp2_subscribed_mode_restricts_commands(pair):
    send_both(pair, "PSUBSCRIBE", "news.*")
    read_both(pair)
    both(pair, "GET", "x")
    both(pair, "SET", "x", "1")
    both(pair, "PING")
    both(pair, "PING", "hello")
    send_both(pair, "SUBSCRIBE", "c1")
    read_both(pair)
    send_both(pair, "SSUBSCRIBE", "s1")
    assert read_both(pair) == b"*3\r\n$10\r\nssubscribe\r\n$2\r\ns1\r\n:1\r\n"
    send_both(pair, "PUNSUBSCRIBE", "news.*", "other")
    read_both(pair)
    read_both(pair)
    send_both(pair, "UNSUBSCRIBE")
    read_both(pair)
    send_both(pair, "SUNSUBSCRIBE", "s1")
    read_both(pair)
    both(pair, "GET", "x")


def test_messages_patterns_and_counts(pair, pub):
    send_both(pair, "SUBSCRIBE", "news.tech")
    read_both(pair)
    send_both(pair, "PSUBSCRIBE", "news.*", "n?ws.[st]ech", "*")
    for _ in range(3):
        read_both(pair)
    assert pub.same("PUBLISH", "news.tech", "hello") == b":4\r\n"
    read_both(pair)  # the channel subscription comes first
    read_both_unordered(pair, 3)
    assert pub.same("PUBLISH", "other", "x") == b":1\r\n"
    read_both(pair)
    pub.same("PUBSUB", "NUMPAT")
    pub.same("PUBSUB", "NUMSUB", "news.tech", "nothing")
    pub.same("PUBSUB", "NUMSUB")
    pub.same("PUBSUB", "CHANNELS")
    pub.same("PUBSUB", "CHANNELS", "news.*")
    pub.same("PUBSUB", "CHANNELS", "zz*")
    pub.same("PUBSUB", "CHANNELS", "a", "b")
    pub.same("PUBSUB", "SHARDCHANNELS")
    pub.same("PUBSUB", "SHARDNUMSUB", "x")
    pub.same("PUBSUB", "HELP")
    pub.same("PUBSUB", "NOPE")
    pub.same("PUBSUB", "NUMPAT", "x")
    pub.same("PUBLISH", "a")
    send_both(pair, "PUNSUBSCRIBE", "*")
    read_both(pair)
    send_both(pair, "RESET")
    read_both(pair)
    pub.same("PUBSUB", "NUMPAT")
    pub.same("PUBSUB", "CHANNELS")


def test_glob_patterns_match_as_redis(pair, pub):
    patterns = ["h[ae]llo", "h[^e]llo", "h[a-b]llo", "h\\*llo", "*[", "a*b*c", "[]"]
    send_both(pair, "PSUBSCRIBE", *patterns)
    for _ in patterns:
        read_both(pair)
    for ch in ["hello", "hallo", "hxllo", "hbllo", "h*llo", "x[", "aXbYc", "ab", "]"]:
        n = pub.same("PUBLISH", ch, "m")
        read_both_unordered(pair, int(n[1:-2]))


def test_shard_channels(pair, pub):
    send_both(pair, "SSUBSCRIBE", "s1", "s2")
    read_both(pair)
    read_both(pair)
    pub.same("SPUBLISH", "s1", "hi")
    assert read_both(pair) == b"*3\r\n$8\r\nsmessage\r\n$2\r\ns1\r\n$2\r\nhi\r\n"
    pub.same("PUBLISH", "s1", "not-shard")
    pub.same("PUBSUB", "SHARDCHANNELS", "*1")
    pub.same("PUBSUB", "SHARDNUMSUB", "s1", "s3")
    send_both(pair, "SUNSUBSCRIBE", "s1")
    read_both(pair)
    pub.same("PUBSUB", "SHARDNUMSUB", "s1")


def test_resp3_pushes_interleave_with_replies(pair, pub):
    pair.both("HELLO", "3")
    send_both(pair, "SUBSCRIBE", "ch")
    assert read_both(pair) == b">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    both(pair, "SET", "k", "v")
    both(pair, "GET", "k")
    both(pair, "PING")
    pub.same("PUBLISH", "ch", "m1")
    read_both(pair)
    # publish to itself: the message comes before the reply
    send_both(pair, "PUBLISH", "ch", "self")
    assert read_both(pair) == b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$4\r\nself\r\n"
    assert read_both(pair) == b":1\r\n"
    send_both(pair, "UNSUBSCRIBE")
    assert read_both(pair) == b">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:0\r\n"
    send_both(pair, "UNSUBSCRIBE")
    assert read_both(pair) == b">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"


def test_client_reply_off_still_gets_confirmations(pair, pub):
    pair.both("HELLO", "3")
    send_both(pair, "CLIENT", "REPLY", "OFF")
    send_both(pair, "SUBSCRIBE", "channel")
    read_both(pair)
    send_both(pair, "PSUBSCRIBE", "ch*")
    read_both(pair)
    assert pub.same("PUBLISH", "channel", "hello") == b":2\r\n"
    read_both(pair)
    read_both(pair)
    send_both(pair, "UNSUBSCRIBE", "channel")
    read_both(pair)
    send_both(pair, "CLIENT", "REPLY", "ON")
    both(pair, "GET", "x")


def test_subscribe_inside_multi(pair, pub):
    both(pair, "MULTI")
    both(pair, "SUBSCRIBE", "a", "b")
    both(pair, "PING")
    send_both(pair, "EXEC")
    # EXEC's array counts two commands; SUBSCRIBE's two confirmations fill it, so
    # PING's (subscribed-mode) reply trails after it, exactly as Redis writes it
    assert read_both(pair).startswith(b"*2\r\n*3\r\n$9\r\nsubscribe")
    assert read_both(pair) == b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
    pub.same("PUBSUB", "NUMSUB", "a", "b")


def test_pubsub_arity_errors(pair):
    both(pair, "SUBSCRIBE")
    both(pair, "PSUBSCRIBE")
    both(pair, "SSUBSCRIBE")
    both(pair, "PUBLISH", "a", "b", "c")
    both(pair, "SPUBLISH", "a")
    both(pair, "PUBSUB")


def test_slow_subscriber_is_disconnected(aki_server):
    r = aki_server.client()
    try:
        r.config_set("client-output-buffer-limit", "pubsub 256kb 128kb 1")
        sub = socket.create_connection(("127.0.0.1", aki_server.port))
        sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sub.sendall(encode_command("SUBSCRIBE", "flood"))
        time.sleep(0.2)
        assert r.pubsub_numsub("flood") == [(b"flood", 1)]
        payload = b"x" * 10000
        deadline = time.time() + 20
        while time.time() < deadline:
            if r.publish("flood", payload) == 0:
                break
        assert r.pubsub_numsub("flood") == [(b"flood", 0)]
        sub.close()
    finally:
        r.config_set("client-output-buffer-limit", "pubsub 32mb 8mb 60")
        r.close()


def test_soft_limit_needs_its_seconds(aki_server):
    r = aki_server.client()
    try:
        r.config_set("client-output-buffer-limit", "pubsub 0 64kb 2")
        sub = socket.create_connection(("127.0.0.1", aki_server.port))
        sub.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sub.sendall(encode_command("SUBSCRIBE", "soft"))
        time.sleep(0.2)
        payload = b"y" * 100000
        start = time.time()
        for _ in range(100):
            r.publish("soft", payload)
        # over the soft limit, but not for 2 seconds yet: still connected
        assert r.pubsub_numsub("soft") == [(b"soft", 1)]
        deadline = time.time() + 10
        while time.time() < deadline and r.publish("soft", payload):
            time.sleep(0.05)
        assert r.pubsub_numsub("soft") == [(b"soft", 0)]
        assert time.time() - start >= 1.9
        sub.close()
    finally:
        r.config_set("client-output-buffer-limit", "pubsub 32mb 8mb 60")
        r.close()
