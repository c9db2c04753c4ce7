"""The ``aki`` command line: ``aki server``, ``aki version`` and the tools.

Tools (import, dump, check, cli, bench) register themselves in ``TOOLS`` from
their own modules so this file stays small.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from aki import __version__

TOOL_MODULES = ["aki.cli.import_", "aki.cli.dump", "aki.cli.check", "aki.cli.repl",
                "aki.cli.bench"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aki")
def cli() -> None:
    """aki: a Redis-compatible database in one crash-safe SQLite file."""


@cli.command("version")
def version_cmd() -> None:
    """Print aki's version and the Redis version it answers as."""
    click.echo(f"aki {__version__} (redis_version 7.0.15 compatible)")


@cli.command("server", context_settings={"ignore_unknown_options": True,
                                          "allow_extra_args": True})
@click.argument("conffile", required=False, type=click.Path(dir_okay=False))
@click.option("--addr", help="host:port to listen on (default 127.0.0.1:6379)")
@click.option("--bind", help="address(es) to bind, space separated")
@click.option("--port", type=int, help="TCP port (0 = no TCP listener)")
@click.option("--dbfile", help="the aki database file (default ./data.aki)")
@click.option("--unixsocket", help="also listen on this unix socket")
@click.option("--requirepass", help="password clients must AUTH with")
@click.option("--maxclients", type=int)
@click.option("--databases", type=int, help="number of databases (when the file is created)")
@click.option("--appendfsync", type=click.Choice(["always", "everysec", "no"]))
@click.option("--loglevel", type=click.Choice(["debug", "verbose", "notice", "warning"]))
@click.option("--logfile")
@click.pass_context
def server_cmd(ctx: click.Context, conffile: str | None, **opts: str | int | None) -> None:
    """Run the RESP server (any redis.conf directive also works as --name value)."""
    from aki.commands import load_all
    from aki.config import Config, ConfigError, StartupConfigError
    from aki.server.listener import run

    load_all()
    cfg = Config()
    inert: list[str] = []
    extra = list(ctx.args)
    if conffile and conffile.startswith("--"):
        # Without a config file click takes the first unknown --directive for it.
        extra.insert(0, conffile)
        conffile = None
    if conffile:
        try:
            inert = cfg.load_file(conffile)
        except StartupConfigError as exc:
            click.echo(exc.text, err=True)
            sys.exit(1)
        except OSError as exc:
            click.echo(f"Fatal error, can't open config file '{conffile}': {exc.strerror}", err=True)
            sys.exit(1)
    directives: list[tuple[str, str]] = []
    addr = opts.pop("addr")
    if addr:
        host, _, port = str(addr).rpartition(":")
        if host:
            directives.append(("bind", host.strip("[]")))
        directives.append(("port", port))
    for name, value in opts.items():
        if value is not None:
            directives.append((name, str(value)))
    while extra:
        flag = extra.pop(0)
        if not flag.startswith("--"):
            raise click.UsageError(f"unexpected argument {flag!r}")
        values = []
        if any(ch.isspace() for ch in flag):
            # "--maxmemory 700mb" in one argument, as redis-server takes it: the rest is
            # read like a config-file line (quotes allowed)
            from aki.resp.parser import split_args

            words = split_args(flag[2:].encode("utf-8", "surrogateescape"))
            if not words:
                raise click.UsageError(f"unbalanced quotes in {flag!r}")
            flag = "--" + words[0].decode("utf-8", "surrogateescape")
            values = [w.decode("utf-8", "surrogateescape") for w in words[1:]]
        while extra and not extra[0].startswith("--"):
            values.append(extra.pop(0))
        if flag[2:].lower() == "rename-command":  # --rename-command FLUSHDB "" (two words)
            if len(values) != 2:
                raise click.UsageError(f"{flag} {' '.join(values)}: wrong number of arguments")
            cfg.renames.append((*values, "the command line", 0,
                                "rename-command " + " ".join(values)))
            continue
        directives.append((flag[2:], " ".join(values)))
    for name, value in directives:
        if name == "user":  # --user "alice on >pw ~* +@all", as redis-server takes it
            from aki.resp.parser import split_args

            words = split_args(value.encode("utf-8", "surrogateescape")) or []
            if words:
                cfg.acl_user_lines.append(words)
            continue
        if not Config.known(name):
            raise click.UsageError(f"unknown directive --{name}")
        try:
            cfg.set(name, value, startup=True)
        except ConfigError as exc:
            raise click.UsageError(f"--{name} {value}: {exc.message}") from None
    if cfg.renames:
        from aki.core.dispatch import forget_spellings
        from aki.core.registry import rename_command

        for old, new, where, lineno, line in cfg.renames:
            error = rename_command(old, new)
            if error is not None:
                click.echo(StartupConfigError(where, lineno, line, error).text, err=True)
                sys.exit(1)
        forget_spellings()
    from aki.storage.engine import FileRefused

    if cfg.load_rdb:  # a path typed in the shell: relative to where aki was started
        cfg.set("load-rdb", os.path.abspath(cfg.load_rdb), startup=True)
    # Redis changes to `dir` while reading its config: every file it keeps (dbfilename,
    # the AOF, pidfile, a relative logfile) lives there; aki's dbfile does too
    try:
        os.chdir(cfg.dir)
    except OSError as exc:
        click.echo(f"Can't chdir to '{cfg.dir}': {exc.strerror}", err=True)
        sys.exit(1)
    cfg.set("dir", os.getcwd(), startup=True)
    if cfg.load_rdb:
        from aki.cli.import_ import load_rdb_on_first_open

        load_rdb_on_first_open(cfg)
    try:
        code = run(cfg, inert)
    except FileRefused as exc:
        click.echo(f"aki: {exc}", err=True)
        sys.exit(2)
    sys.exit(code)


def _load_tools() -> None:
    for mod in TOOL_MODULES:
        m = importlib.import_module(mod)  # a missing tool is a packaging bug: fail loudly
        register = getattr(m, "register", None)
        if register is not None:
            register(cli)


def main() -> None:
    _load_tools()
    cli()


if __name__ == "__main__":
    main()
