"""``printerlynx serve | db upgrade | agent | demo | virtual-printer``."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from printerlynx.server.settings import Settings


def _settings() -> Settings | None:
    """The backend settings, or ``None`` after explaining on stderr what is wrong with them."""
    from pydantic import ValidationError

    from printerlynx.server.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            print(
                f"printerlynx: configuration error: PRINTERLYNX_{field.upper()}: {error['msg']}",
                file=sys.stderr,
            )
        return None


def _serve(args: argparse.Namespace) -> int:
    from printerlynx.server.logging import configure_logging
    from printerlynx.server.runner import serve

    settings = _settings()
    if settings is None:
        return 2
    configure_logging(settings.log_level, settings.log_format)
    serve(settings, args.host, args.port)
    return 0


def _db_upgrade(_args: argparse.Namespace) -> int:
    from printerlynx.server.db.migrate import upgrade

    settings = _settings()
    if settings is None:
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    print("database is up to date")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from printerlynx.demo import main as demo_main

    return demo_main(args.host, args.port)


def _agent(args: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from printerlynx.agent.app import AgentApp, AgentStopped
    from printerlynx.agent.config import ConfigError, load_config
    from printerlynx.server.logging import configure_logging

    try:
        config = load_config(
            config_file=args.config,
            server=args.server,
            token=args.token,
            printers=args.printer,
            state_dir=args.state_dir,
            data_dir=args.data_dir,
            log_level=args.log_level,
        )
    except ConfigError as exc:
        print(f"printerlynx agent: {exc}", file=sys.stderr)
        return 2
    configure_logging(config.log_level, args.log_format)
    log = logging.getLogger("printerlynx.agent")

    async def run() -> int:
        main_task = asyncio.current_task()
        assert main_task is not None
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, main_task.cancel)
        try:
            app = AgentApp(config, backoff_cap=args.backoff_cap)
        except (ConfigError, ValueError, TypeError) as exc:
            log.error("cannot start: %s", exc)
            return 2
        try:
            await app.run()
        except AgentStopped as exc:
            log.error("stopping: %s", exc.message)
            return exc.exit_code
        except asyncio.CancelledError:
            log.info("stopped")
        return 0

    return asyncio.run(run())


def _virtual_printer(args: argparse.Namespace) -> int:
    import asyncio

    from printerlynx.agent.pty import serve_virtual_printer
    from printerlynx.agent.virtual import VirtualOptions

    options = VirtualOptions(speed=args.speed, advanced_ok=args.advanced_ok, reset_on_connect=False)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_virtual_printer(args.link, options))
    return 0


def _add_agent_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    agent = sub.add_parser(
        "agent",
        help="run the agent next to the printers",
        description="Connect printers to a Printerlynx backend. Printers: NAME=serial:PORT[@BAUD] or "
        "NAME=virtual, on the command line (--printer, repeatable) or as [[printers]] in --config.",
    )
    agent.add_argument("--config", type=Path, help="TOML file (server, token, [[printers]], state_dir)")
    agent.add_argument("--server", help="the backend's URL, e.g. http://printerlynx.local:3000")
    agent.add_argument("--token", help="the agent token (or PRINTERLYNX_AGENT_TOKEN)")
    agent.add_argument("--printer", action="append", metavar="NAME=SPEC", help="a printer (repeatable)")
    agent.add_argument("--state-dir", type=Path, help="where printer uuids are kept")
    agent.add_argument("--data-dir", type=Path, help="where print files are downloaded")
    agent.add_argument("--log-level", help="DEBUG, INFO (default), WARNING")
    agent.add_argument("--log-format", choices=["text", "json"], default="text")
    agent.add_argument("--backoff-cap", type=float, default=30.0, help="longest wait between reconnects (s)")
    agent.set_defaults(func=_agent)

    virtual = sub.add_parser(
        "virtual-printer", help="a simulated Marlin printer on a pseudo-terminal, for trying the agent"
    )
    virtual.add_argument("--link", type=Path, help="also make this symlink to the pseudo-terminal")
    virtual.add_argument("--speed", type=float, default=1.0, help="simulated time factor (1: real time)")
    virtual.add_argument("--advanced-ok", action="store_true", help="answer ok N<line> P<planner> B<queue>")
    virtual.set_defaults(func=_virtual_printer)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="printerlynx", description="Run a fleet of 3D printers from anywhere."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the backend")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    serve.set_defaults(func=_serve)

    demo = sub.add_parser("demo", help="run the backend on the embedded default with a demo account")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=3000)
    demo.set_defaults(func=_demo)

    _add_agent_parser(sub)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply schema migrations").set_defaults(func=_db_upgrade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``printerlynx`` console script."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
