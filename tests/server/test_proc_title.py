"""The process title (set-proc-title, proc-title-template) read back from
/proc/<pid>/cmdline, as Redis's unit/other "Process title set as expected" reads it, and
compared with what redis-server sets for the same template."""

from __future__ import annotations

import sys

import pytest
import redis

from tests.conftest import start_aki, start_aki_from_config, start_redis

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc")


def _title(pid: int) -> list[str]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().replace(b"\0", b" ").decode().split()


def test_the_default_title_names_the_program_and_address(tmp_path):
    srv = start_aki(tmp_path)
    try:
        assert _title(srv.proc.pid) == ["aki", f"127.0.0.1:{srv.port}"]  # python -m aki
    finally:
        srv.stop()


def test_a_template_set_live_expands_as_redis_does(tmp_path):
    template = "TEST {title} {listen-addr} {port} {tls-port} {unixsocket} {config-file}"
    titles = []
    for start in (start_aki, start_redis):
        d = tmp_path / start.__name__
        d.mkdir()
        sock = str(d / "s.sock")
        srv = start(d, "--unixsocket", sock)
        try:
            c = srv.client()
            c.config_set("proc-title-template", template)
            titles.append((srv.port, sock, _title(srv.proc.pid)))
            # an unknown variable is refused and the title stays
            with pytest.raises(redis.ResponseError) as err:
                c.config_set("proc-title-template", "{nope}")
            assert "template format is invalid or contains unknown variables" in str(err.value)
            assert _title(srv.proc.pid) == titles[-1][2]
        finally:
            srv.stop()
    for port, sock, words in titles:
        # {title} is the program (aki, /usr/bin/redis-server); no config file: "-"
        assert words[0] == "TEST" and words[2:] == [f"127.0.0.1:{port}", str(port), "0", sock,
                                                    "-"]
    assert titles[0][2][1] == "aki"


def test_set_proc_title_no_leaves_the_command_line(tmp_path):
    srv = start_aki_from_config(tmp_path, "set-proc-title no\n")
    try:
        words = _title(srv.proc.pid)
        assert words[1:4] == ["-m", "aki", "server"]  # the interpreter's own argv
        # a CONFIG SET of the template sets it all the same (updateProcTitleTemplate)
        srv.client().config_set("proc-title-template", "{title} {config-file}")
        assert _title(srv.proc.pid) == ["aki", str(tmp_path / "aki.conf")]
    finally:
        srv.stop()
