"""``printerlynx demo``: the backend on the embedded default with a demo account, ready to click."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn

from printerlynx.server.logging import configure_logging
from printerlynx.server.runner import uvicorn_config
from printerlynx.server.settings import Settings

logger = logging.getLogger("printerlynx.demo")

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "printerlynx-demo"


async def ensure_demo_account(settings: Settings) -> None:
    """Create the demo account once (idempotent)."""
    from printerlynx.server.db.session import create_engine, create_sessionmaker
    from printerlynx.server.errors import Conflict
    from printerlynx.server.services import accounts

    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            with contextlib.suppress(Conflict):
                await accounts.register(session, DEMO_USERNAME, "demo@example.com", DEMO_PASSWORD)
    finally:
        await engine.dispose()


async def run_demo(host: str, port: int) -> None:
    """Serve the backend and create the demo account once it is up."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    server = uvicorn.Server(uvicorn_config(settings, host, port))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            return
        await asyncio.sleep(0.05)
    await ensure_demo_account(settings)
    url = f"http://{host}:{port}/"
    print(
        f"\n  Printerlynx is running at {url}\n"
        f"  Log in as {DEMO_USERNAME!r} with password {DEMO_PASSWORD!r}.\n"
        f"  Data lives in {settings.data_dir.resolve()}. Stop with Ctrl-C.\n",
        flush=True,
    )
    await serving


def main(host: str, port: int) -> int:
    """Run until interrupted."""
    asyncio.run(run_demo(host, port))
    return 0
