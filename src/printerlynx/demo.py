"""``printerlynx demo``: the backend on the embedded default with a demo account, ready to click.

Besides the backend it runs, in the same process, an agent ("Demo agent", created once for the demo
account; its token is kept in the data directory) with two virtual printers, so the dashboard has
something to show and to print on. Every step is idempotent: running the demo again reuses all of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import uvicorn

from printerlynx.server.logging import configure_logging
from printerlynx.server.runner import uvicorn_config
from printerlynx.server.settings import Settings

logger = logging.getLogger("printerlynx.demo")

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "printerlynx-demo"
DEMO_AGENT_NAME = "Demo agent"
# Simulated time runs 4x: bed and hotend heat in seconds, moves look like a sped-up print.
DEMO_PRINTERS = ["Virtual MK3=virtual:speed=4,advanced_ok=true", "Virtual Ender=virtual:speed=4"]
TOKEN_FILE = "demo-agent-token"


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


async def ensure_demo_agent(settings: Settings) -> str:
    """The demo account's "Demo agent" and a token for it: reused when still valid, else made (once)."""
    from sqlalchemy import select

    from printerlynx.server.db.models import Account
    from printerlynx.server.db.session import create_engine, create_sessionmaker
    from printerlynx.server.errors import Unauthenticated
    from printerlynx.server.services import agents

    token_path = settings.data_dir / TOKEN_FILE
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            account = await session.scalar(select(Account).where(Account.username == DEMO_USERNAME))
            if account is None:
                raise RuntimeError("the demo account is missing")
            if token_path.exists():
                with contextlib.suppress(Unauthenticated):
                    agent = await agents.authenticate(session, token_path.read_text().strip())
                    if agent.account_uuid == account.uuid:
                        return token_path.read_text().strip()
            existing = [a for a in await agents.list_for(session, account.uuid) if a.name == DEMO_AGENT_NAME]
            if existing:  # its token was lost (data dir copied?): rotate rather than make a second agent
                token = await agents.rotate_token(session, existing[0])
            else:
                _, token = await agents.create(session, account.uuid, DEMO_AGENT_NAME, "Two virtual printers")
    finally:
        await engine.dispose()
    _write_secret(token_path, token)
    return token


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text + "\n")


async def run_demo_agent(settings: Settings, server_url: str, token: str) -> None:
    """The demo agent with its two virtual printers, in this process, until cancelled."""
    from printerlynx.agent.app import AgentApp, AgentStopped
    from printerlynx.agent.config import load_config

    config = load_config(
        server=server_url,
        token=token,
        printers=DEMO_PRINTERS,
        state_dir=settings.data_dir / "demo-agent",
        environ={},
    )
    try:
        await AgentApp(config, backoff_cap=5.0).run()
    except AgentStopped as exc:  # e.g. someone rotated the demo agent's token in the dashboard
        logger.warning("demo agent stopped: %s (restart the demo to get a new token)", exc.message)


async def run_demo(host: str, port: int) -> None:
    """Serve the backend, create the demo account and agent once it is up, and run the agent."""
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
    token = await ensure_demo_agent(settings)
    local_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    agent = asyncio.create_task(run_demo_agent(settings, f"http://{local_host}:{port}", token))
    url = f"http://{host}:{port}/"
    print(
        f"\n  Printerlynx is running at {url}\n"
        f"  Log in as {DEMO_USERNAME!r} with password {DEMO_PASSWORD!r}.\n"
        f"  {DEMO_AGENT_NAME!r} is connected with two virtual printers: "
        f"{', '.join(p.split('=')[0] for p in DEMO_PRINTERS)}.\n"
        f"  Data lives in {settings.data_dir.resolve()}. Stop with Ctrl-C.\n",
        flush=True,
    )
    try:
        await serving
    finally:
        agent.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await agent


def main(host: str, port: int) -> int:
    """Run until interrupted."""
    # uvicorn shuts down gracefully on Ctrl-C, then re-raises the signal: that is a normal stop.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_demo(host, port))
    return 0
