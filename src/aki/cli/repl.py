"""``aki cli data.aki [COMMAND ...]``: a redis-cli-like prompt on a file, no server.

Replies are printed the way redis-cli prints them on a terminal
(``(integer) 1``, ``(nil)``, ``1) "a"`` ...). History and completion of command
names use readline when the terminal has it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from aki.core.dispatch import repr_bytes
from aki.resp.types import (
    BigNumber,
    ErrorReply,
    NullArray,
    Push,
    Raw,
    RespSet,
    Status,
    Verbatim,
)
from aki.scripting.convert import parse_raw


def _quote(b: bytes) -> str:
    return '"' + repr_bytes(b) + '"'


def format_reply(value: object, indent: int = 0) -> str:
    """Render a reply value as redis-cli does in its interactive (tty) mode."""
    t = type(value)
    if value is None or value is NullArray:
        return "(nil)"
    if t is ErrorReply:
        return f"(error) {value.message}"  # type: ignore[union-attr]
    if t is Status:
        return str(value)
    if t is bool:
        return "(true)" if value else "(false)"
    if t is int or t is BigNumber:
        return f"(integer) {value}"
    if t is float:
        from aki.resp.encoder import format_double

        return f"(double) {format_double(value).decode()}"  # type: ignore[arg-type]
    if t is bytes or t is Verbatim:
        return _quote(bytes(value))  # type: ignore[arg-type]
    if t is dict:
        items = []
        for k, v in value.items():  # type: ignore[union-attr]
            items.append((k, v))
        if not items:
            return "(empty hash)"
        lines = []
        width = len(str(len(items)))
        for i, (k, v) in enumerate(items, 1):
            prefix = f"{str(i).rjust(width)}# "
            lines.append(prefix + format_reply(k, indent + len(prefix)) + " => "
                         + format_reply(v, indent + len(prefix) + 4))
        return ("\n" + " " * indent).join(lines)
    if t in (list, tuple, RespSet, Push):
        seq = list(value)  # type: ignore[call-overload]
        if not seq:
            return "(empty array)" if t is not RespSet else "(empty set)"
        width = len(str(len(seq)))
        lines = []
        for i, item in enumerate(seq, 1):
            prefix = f"{str(i).rjust(width)}) "
            lines.append(prefix + format_reply(item, indent + len(prefix)))
        return ("\n" + " " * indent).join(lines)
    return str(value)


def resp2_shape(value: object) -> object:
    """What a RESP2 client sees: maps flattened to arrays, sets as arrays."""
    if type(value) is dict:
        flat: list = []
        for k, v in value.items():
            flat += [resp2_shape(k), resp2_shape(v)]
        return flat
    if type(value) in (list, tuple, RespSet):
        return [resp2_shape(v) for v in value]  # type: ignore[union-attr]
    if type(value) is float:
        from aki.resp.encoder import format_double

        return format_double(value)
    if type(value) is bool:
        return int(value)
    return value


def _show(client, reply: object) -> str:
    if isinstance(reply, Raw):  # wire bytes a handler built (LRANGE, GEO ...): the value
        reply = parse_raw(bytes(reply))
    return format_reply(reply if client.resp == 3 else resp2_shape(reply))


def _setup_readline(names: list[str]) -> None:
    try:
        import readline
    except ImportError:  # pragma: no cover - platform without readline
        return
    history = Path(os.environ.get("AKI_HISTFILE", Path.home() / ".aki_history"))
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    import atexit

    atexit.register(lambda: _save_history(readline, history))

    def complete(text: str, state: int) -> str | None:
        matches = [n for n in names if n.startswith(text.lower())]
        matches += [n.upper() for n in names if n.upper().startswith(text)]
        matches = sorted(set(matches))
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.parse_and_bind("tab: complete")


def _save_history(readline, path: Path) -> None:
    try:
        readline.write_history_file(path)
    except OSError:
        pass


def run_cli(path: str, args: tuple[str, ...]) -> int:
    from aki.core.registry import implemented
    from aki.embedded import Core
    from aki.resp.parser import split_args

    core = Core.acquire(path, {})
    from aki.core.session import Client

    client = Client(core.server, addr="cli:0")
    code = 0
    try:
        if args:
            reply = core.run(client, [a.encode("utf-8", "surrogateescape") for a in args])
            click.echo(_show(client, reply))
            return 1 if isinstance(reply, ErrorReply) else 0
        interactive = sys.stdin.isatty()
        if interactive:
            _setup_readline(sorted(c.name for c in implemented()))
        while True:
            prompt = f"aki:{Path(path).name}" + (f"[{client.db}]" if client.db else "") + "> "
            try:
                line = input(prompt) if interactive else sys.stdin.readline()
            except EOFError:
                break
            if not interactive and line == "":
                break
            argv = split_args(line.strip().encode("utf-8", "surrogateescape"))
            if argv is None:
                click.echo("Invalid argument(s)")
                continue
            if not argv:
                continue
            if argv[0].lower() in (b"quit", b"exit") and interactive:
                break
            reply = core.run(client, argv)
            if isinstance(reply, ErrorReply):
                code = 1
            click.echo(_show(client, reply))
            if client.close_after_reply:
                break
    finally:
        core.release()
    return code


def register(cli: click.Group) -> None:
    @cli.command("cli", context_settings={"ignore_unknown_options": True})
    @click.argument("dbfile", type=click.Path(dir_okay=False))
    @click.argument("command", nargs=-1, type=click.UNPROCESSED)
    def cli_cmd(dbfile: str, command: tuple[str, ...]) -> None:
        """Open DBFILE directly (no server) and run COMMAND, or a prompt."""
        from aki.storage.engine import FileRefused

        try:
            sys.exit(run_cli(dbfile, command))
        except FileRefused as exc:
            click.echo(f"aki: {exc}", err=True)
            sys.exit(2)
