"""End to end with real client libraries against a real aki server: redis-py's
transactional pipeline under contention, its PubSub object, its Lock, and an RQ
worker running jobs."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from aki.commands import load_all

load_all()  # the registry tells which families this build has (scripting, streams)



def _incr_with_watch(client: redis.Redis, key: str, n: int, retries: list[int]) -> None:
    for _ in range(n):
        with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)
                    value = int(pipe.get(key) or 0)
                    pipe.multi()
                    pipe.set(key, value + 1)
                    pipe.execute()
                    break
                except redis.WatchError:
                    retries[0] += 1
                    continue


def test_watch_multi_counter_under_contention(aki_server):
    main = aki_server.client()
    main.delete("counter")
    clients = [aki_server.client() for _ in range(2)]
    retries = [0]
    threads = [threading.Thread(target=_incr_with_watch, args=(c, "counter", 200, retries))
               for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert int(main.get("counter")) == 400
    for c in clients:
        c.close()
    main.close()


def test_pipeline_transaction_reply_shapes(aki_server):
    r = aki_server.client()
    r.delete("p1", "p2")
    with r.pipeline(transaction=True) as pipe:
        pipe.set("p1", "a").incr("p2").get("p1").lpush("p1", "x")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            pipe.execute()
    assert r.get("p2") == b"1"
    with r.pipeline(transaction=True) as pipe:
        pipe.set("p1", "a").incr("p2").get("p1").lpush("p1", "x")
        res = pipe.execute(raise_on_error=False)
    assert res[:3] == [True, 2, b"a"]
    assert isinstance(res[3], redis.ResponseError)
    r.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_pubsub_round_trip(aki_server, protocol):
    sub_client = aki_server.client(protocol=protocol)
    pub_client = aki_server.client()
    ps = sub_client.pubsub()
    ps.subscribe("news")
    ps.psubscribe("log.*")
    first = ps.get_message(timeout=5)
    assert first["type"] == "subscribe" and first["channel"] == b"news"
    second = ps.get_message(timeout=5)
    assert second["type"] == "psubscribe" and second["channel"] == b"log.*"
    assert pub_client.publish("news", "hello") == 1
    assert pub_client.publish("log.err", "boom") == 1
    msg = ps.get_message(timeout=5)
    assert msg == {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"}
    msg = ps.get_message(timeout=5)
    assert msg == {"type": "pmessage", "pattern": b"log.*", "channel": b"log.err", "data": b"boom"}
    assert pub_client.pubsub_numsub("news") == [(b"news", 1)]
    assert pub_client.pubsub_numpat() == 1
    ps.unsubscribe("news")
    ps.punsubscribe()
    kinds = {ps.get_message(timeout=5)["type"] for _ in range(2)}
    assert kinds == {"unsubscribe", "punsubscribe"}
    assert pub_client.publish("news", "nobody") == 0
    # handler-based delivery through a worker thread
    got: list[bytes] = []
    ps.subscribe(**{"events": lambda m: got.append(m["data"])})
    worker = ps.run_in_thread(sleep_time=0.01)
    try:
        deadline = time.time() + 5
        while pub_client.pubsub_numsub("events")[0][1] == 0 and time.time() < deadline:
            time.sleep(0.01)
        for i in range(5):
            pub_client.publish("events", str(i))
        while len(got) < 5 and time.time() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
        worker.join(timeout=5)  # stop() only asks the thread, which then closes the PubSub
    assert got == [b"0", b"1", b"2", b"3", b"4"]
    if ps.connection is not None:
        ps.close()
    sub_client.close()
    pub_client.close()


def test_redis_py_lock(aki_server):
    r = aki_server.client()
    other = aki_server.client()
    lock = r.lock("resource", timeout=5, blocking_timeout=1)
    assert lock.acquire()
    assert not other.lock("resource", blocking_timeout=0.1).acquire()
    assert lock.extend(5)
    lock.release()
    second = other.lock("resource", timeout=5)
    assert second.acquire(blocking=False)
    second.release()
    r.close()
    other.close()


def record_result(key: str, value: int) -> int:
    """An RQ job: writes its result where the test can see it, and returns it."""
    from rq import get_current_job

    job = get_current_job()
    job.connection.set(key, value * 2)
    return value * 2


def test_rq_worker_runs_jobs(aki_server):
    rq = pytest.importorskip("rq")
    conn = aki_server.client()
    q = rq.Queue("aki-test", connection=conn)
    jobs = [q.enqueue(record_result, f"rq:result:{i}", i) for i in range(10)]
    worker = rq.SimpleWorker([q], connection=conn)
    worker.work(burst=True)
    for i, job in enumerate(jobs):
        job.refresh()
        assert job.get_status() == "finished", job.exc_info
        assert job.return_value() == i * 2
        assert conn.get(f"rq:result:{i}") == str(i * 2).encode()
    assert q.count == 0
    conn.close()
