"""Unit-test fixtures: a Server without a network, one committed batch per call."""

from __future__ import annotations

import pytest

from aki.commands import load_all
from aki.config import Config
from aki.core.dispatch import call, resolve
from aki.core.session import Client
from aki.core.state import Server


@pytest.fixture
def run(tmp_path):
    load_all()
    cfg = Config()
    cfg.dbfile = str(tmp_path / "m.aki")
    server = Server(cfg)
    client = Client(server)
    eng = server.engine

    def run(*args):
        argv = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        eng.begin()
        reply = call(client, resolve(client, argv), argv)
        eng.commit()
        return reply

    run.server = server
    yield run
    server.engine.close()
