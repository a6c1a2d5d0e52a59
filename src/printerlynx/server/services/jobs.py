"""Jobs: created when a START is relayed, then moved along by what the agent reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from printerlynx.server.db.models import Job, utcnow
from printerlynx.server.errors import NotFound

ACTIVE_STATES = ("created", "printing", "paused")
FINAL_STATES = ("completed", "cancelled", "failed")
# Which reported states may follow which: a finished job never comes back to life.
_ALLOWED = {
    "created": {"printing", "paused", "completed", "cancelled", "failed"},
    "printing": {"paused", "completed", "cancelled", "failed"},
    "paused": {"printing", "completed", "cancelled", "failed"},
}


async def create(
    session: AsyncSession,
    *,
    account_uuid: str,
    agent_uuid: str,
    printer_uuid: str,
    print_file_uuid: str,
    file_name: str,
    file_size: int,
) -> Job:
    """A new job in state ``created``."""
    job = Job(
        account_uuid=account_uuid,
        agent_uuid=agent_uuid,
        printer_uuid=printer_uuid,
        print_file_uuid=print_file_uuid,
        file_name=file_name,
        file_size=file_size,
    )
    session.add(job)
    await session.commit()
    return job


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


async def apply_report(
    session: AsyncSession,
    *,
    agent_uuid: str,
    job_uuid: str,
    state: str | None,
    progress: float | None,
    message: str | None = None,
    started_at: str | None = None,
    ended_at: str | None = None,
) -> Job | None:
    """Move a job of this agent along as reported; unknown jobs and impossible moves are ignored."""
    job = await session.get(Job, job_uuid)
    if job is None or job.agent_uuid != agent_uuid:
        return None
    now = utcnow()
    if state is not None and state != job.state and state in _ALLOWED.get(job.state, set()):
        job.state = state
        if state == "printing" and job.started_at is None:
            job.started_at = _parse_time(started_at) or now
        if state in FINAL_STATES:
            job.ended_at = _parse_time(ended_at) or now
            if job.started_at is None and state == "completed":
                job.started_at = _parse_time(started_at) or now
    if progress is not None and job.state not in ("cancelled", "failed"):
        job.progress = 1.0 if job.state == "completed" else max(0.0, min(1.0, progress))
    # The agent's message describes the job as it is now ("downloading…", why it failed): keep the latest.
    job.message = message[:1000] if message else None
    job.updated_at = now
    await session.commit()
    return job


async def fail(session: AsyncSession, job_uuid: str, message: str) -> None:
    """Mark a job that never started as failed (the agent refused or did not answer)."""
    job = await session.get(Job, job_uuid)
    if job is not None and job.state not in FINAL_STATES:
        job.state, job.message, job.ended_at = "failed", message[:1000], utcnow()
        await session.commit()


async def list_for(
    session: AsyncSession,
    account_uuid: str,
    *,
    printer_uuid: str | None = None,
    state: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Job], int]:
    """The account's jobs, newest first, with the total matching."""
    query = select(Job).where(Job.account_uuid == account_uuid)
    if printer_uuid is not None:
        query = query.where(Job.printer_uuid == printer_uuid)
    if state is not None:
        query = query.where(Job.state == state)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Job.created_at.desc(), Job.uuid).limit(limit).offset(offset))
    return list(rows), total


async def get(session: AsyncSession, account_uuid: str, job_uuid: str) -> Job:
    """The account's job, or ``NotFound``."""
    job = await session.get(Job, job_uuid)
    if job is None or job.account_uuid != account_uuid:
        raise NotFound("job not found")
    return job
