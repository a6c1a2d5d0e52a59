"""Write what agents report to the database in the background, at most once a second per printer.

The relay never waits on the database: ``printer_status`` only marks a printer dirty; this loop writes the
latest status of dirty printers (and the job state it carries) in one transaction per agent. A flood of
changing statuses therefore costs one write per printer per interval, not one per message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from printerlynx.server.services import jobs, printers

if TYPE_CHECKING:
    from printerlynx.server.context import AppContext
    from printerlynx.server.ws.hub import AgentConnection

logger = logging.getLogger("printerlynx.persist")
FLUSH_INTERVAL = 1.0


async def flush(context: AppContext, agent: AgentConnection) -> None:
    """Write the agent's dirty printers now."""
    # One flush per agent at a time: the loop's and the disconnect's must not both insert a new printer.
    async with agent.persist_lock:
        if not agent.dirty:
            return
        dirty, agent.dirty = agent.dirty, {}
        async with context.sessionmaker() as session:
            for status in dirty.values():
                wire = status.wire(agent.agent_uuid)
                await printers.record_status(session, agent.account_uuid, agent.agent_uuid, wire)
                await _apply_job(session, agent.agent_uuid, wire)


async def _apply_job(session: Any, agent_uuid: str, wire: dict[str, Any]) -> None:
    job = wire.get("job") or {}
    if not job.get("job_uuid"):
        return
    await jobs.apply_report(
        session,
        agent_uuid=agent_uuid,
        job_uuid=job["job_uuid"],
        state=job.get("state"),
        progress=job.get("progress"),
        message=job.get("message"),
        started_at=job.get("started_at"),
        ended_at=job.get("ended_at"),
    )


async def persist_loop(context: AppContext, agents: dict[str, AgentConnection]) -> None:
    """Flush every agent's dirty printers once per interval, forever."""
    while True:
        await asyncio.sleep(FLUSH_INTERVAL)
        for agent in list(agents.values()):
            try:
                await flush(context, agent)
            except Exception:  # a database hiccup must not stop persistence for everyone
                logger.warning("could not persist status of agent %s", agent.agent_uuid, exc_info=True)
