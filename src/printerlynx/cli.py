"""``printerlynx serve | db upgrade | agent | demo | virtual-printer``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _serve(args: argparse.Namespace) -> int:
    from printerlynx.server.logging import configure_logging
    from printerlynx.server.runner import serve
    from printerlynx.server.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    serve(settings, args.host, args.port)
    return 0


def _db_upgrade(_args: argparse.Namespace) -> int:
    from printerlynx.server.db.migrate import upgrade
    from printerlynx.server.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    print("database is up to date")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from printerlynx.demo import main as demo_main

    return demo_main(args.host, args.port)


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
