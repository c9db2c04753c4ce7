"""The checkpointer on a real engine: the copy happens in the background, and the WAL
restarts on the loop only when that costs nothing (or the writer keeps overtaking it)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest

from aki.durability.checkpoint import Checkpointer
from aki.storage.engine import Engine

LIMIT = 1 << 20


def write(engine: Engine, kb: int) -> None:
    engine.begin()
    for _ in range(kb // 4):
        engine.cur.execute("INSERT INTO meta (name, value) VALUES (randomblob(8), randomblob(4000))")
    engine.commit()


@pytest.fixture
def engine(tmp_path: Path):
    e = Engine(tmp_path / "d.aki")
    yield e
    e.close()


def checkpointer(engine: Engine, loop) -> Checkpointer:
    server = SimpleNamespace(engine=engine, config=SimpleNamespace(checkpoint_wal_size=LIMIT))
    return Checkpointer(server, loop)  # type: ignore[arg-type]


def test_a_new_background_connection_copies_the_wal(engine: Engine):
    """A connection that has not read the file yet does not know it is in WAL mode, and
    its wal_checkpoint used to do nothing ((-1, -1)): the loop then copied it all."""
    write(engine, 2048)
    ck = checkpointer(engine, None)
    try:
        frames, copied = ck._run()
    finally:
        ck.close()
    assert frames == engine.wal_pages > 0
    assert copied == frames


def test_the_wal_restarts_when_the_background_run_has_copied_everything(engine: Engine):
    async def main() -> None:
        ck = checkpointer(engine, asyncio.get_running_loop())
        write(engine, 2048)
        ck.after_commit(True)
        assert ck.running
        while ck.running:
            await asyncio.sleep(0.01)
        ck.close()
        # no commit came in between: restarted in the callback, nothing left to copy
        assert engine.wal_pages == 0 and ck.copied is None and ck.deferred == 0

    asyncio.run(main())


@pytest.mark.parametrize("rows", [1, 400])
def test_a_writer_that_keeps_overtaking_the_background_run_is_bounded(engine: Engine,
                                                                     rows: int):
    async def main() -> None:
        ck = checkpointer(engine, asyncio.get_running_loop())
        run = ck._run

        def overtaken() -> tuple[int, int]:
            # a batch that began before the passes ended commits after them (the loop
            # awaits meanwhile, so the engine is not used by two threads at once)
            engine.begin()
            for _ in range(rows):
                engine.cur.execute(
                    "INSERT INTO meta (name, value) VALUES (randomblob(8), randomblob(4000))")
            res = run()
            engine.commit()
            return res

        ck._run = overtaken  # type: ignore[method-assign]
        write(engine, 2048)
        runs = 0
        while True:
            ck.after_commit(True)
            if not ck.running:
                break
            runs += 1
            while ck.running:
                await asyncio.sleep(0.01)
        ck.close()
        # each run was overtaken, so the loop restarted only after MAX_DEFERRED more
        assert runs == Checkpointer.MAX_DEFERRED + 1
        assert engine.wal_pages == 0

    asyncio.run(main())


def test_sqlite_restarts_the_wal_itself_after_a_complete_run(engine: Engine):
    """A write that begins after the run copied everything starts the WAL over."""
    async def main() -> None:
        ck = checkpointer(engine, asyncio.get_running_loop())
        done = ck._done

        def then_a_write(fut) -> None:
            write(engine, 16)
            done(fut)

        ck._done = then_a_write  # type: ignore[method-assign]
        write(engine, 2048)
        ck.after_commit(True)
        while ck.running:
            await asyncio.sleep(0.01)
        ck.close()
        assert 0 < engine.wal_pages < 10 and ck.copied is None

    asyncio.run(main())
