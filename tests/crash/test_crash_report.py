"""A process that dies by a fatal signal leaves a crash report in the log (every thread's
stack, as Redis's bug report does) and a file the next start opens with every
acknowledged write: DEBUG SEGFAULT and DEBUG PANIC crash on purpose, as in Redis."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.conftest import RawClient, start_aki


@pytest.mark.parametrize("sub, sig, words", [
    ("SEGFAULT", signal.SIGSEGV, "Fatal Python error: Segmentation fault"),
    ("PANIC", signal.SIGABRT, "Guru Meditation: DEBUG PANIC called at Unix time"),
])
def test_fatal_signal_writes_a_crash_report_and_loses_nothing(tmp_path: Path, sub, sig, words):
    srv = start_aki(tmp_path, "--appendfsync", "always")
    c = RawClient(srv.port)
    assert c.cmd("SET", "acked", "1") == b"+OK\r\n"
    c.send(b"*2\r\n$5\r\nDEBUG\r\n$%d\r\n%s\r\n" % (len(sub), sub.encode()))
    with pytest.raises((ConnectionError, OSError)):
        c.read_reply()  # the connection dies with the process, as with Redis
    c.close()
    assert srv.proc.wait(15) == -sig
    srv.stop()
    log = (tmp_path / "aki.log").read_text()
    assert words in log, log
    assert "most recent call first" in log and "commands/introspection.py" in log, log
    srv.start()
    try:
        assert srv.client().get("acked") == b"1"
    finally:
        srv.stop()
