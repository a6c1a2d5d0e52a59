"""``/api/v1/jobs``: job history, filterable by printer and state."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from printerlynx.server.api.deps import CurrentAccount, SessionDep
from printerlynx.server.api.schemas import ERROR_RESPONSES, Page, UUIDPath
from printerlynx.server.db.models import Job
from printerlynx.server.services import jobs

router = APIRouter(prefix="/api/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)

JobStateFilter = Literal["created", "printing", "paused", "completed", "cancelled", "failed"]


class JobOut(BaseModel):
    """A job and where it stands."""

    uuid: str
    agent_uuid: str
    printer_uuid: str
    print_file_uuid: str | None
    file_name: str
    file_size: int
    state: str
    progress: float
    message: str | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    duration: float | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        """From the row."""
        duration = (
            (job.ended_at - job.started_at).total_seconds() if job.ended_at and job.started_at else None
        )
        return cls(
            uuid=job.uuid,
            agent_uuid=job.agent_uuid,
            printer_uuid=job.printer_uuid,
            print_file_uuid=job.print_file_uuid,
            file_name=job.file_name,
            file_size=job.file_size,
            state=job.state,
            progress=job.progress,
            message=job.message,
            created_at=job.created_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            duration=duration,
        )


@router.get("")
async def list_jobs(
    account: CurrentAccount,
    session: SessionDep,
    printer_uuid: Annotated[str | None, Query(max_length=36)] = None,
    state: JobStateFilter | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[JobOut]:
    """The account's jobs, newest first."""
    rows, total = await jobs.list_for(
        session, account.uuid, printer_uuid=printer_uuid, state=state, limit=limit, offset=offset
    )
    return Page[JobOut](items=[JobOut.of(row) for row in rows], total=total, limit=limit, offset=offset)


@router.get("/{job_uuid}")
async def read_job(job_uuid: UUIDPath, account: CurrentAccount, session: SessionDep) -> JobOut:
    """One job."""
    return JobOut.of(await jobs.get(session, account.uuid, job_uuid))
