"""``/api/v1/agent/jobs/{job_uuid}/file``: an agent fetches the print file of a job it was sent.

Authenticated with the agent's own token (user tokens are refused); only the agent the job went to may
fetch it, anyone else gets 404. ``Range`` is honoured, so a dropped download resumes where it stopped.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from printerlynx.server.api.deps import ContextDep, CurrentAgent, SessionDep
from printerlynx.server.api.printfiles import stream_print_file
from printerlynx.server.api.schemas import ERROR_RESPONSES, UUIDPath
from printerlynx.server.services import printfiles

router = APIRouter(prefix="/api/v1/agent", tags=["agent"], responses=ERROR_RESPONSES)


@router.get(
    "/jobs/{job_uuid}/file",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The job's print file"},
        206: {"content": {"application/octet-stream": {}}, "description": "The requested range"},
    },
)
async def download_job_file(
    job_uuid: UUIDPath, request: Request, agent: CurrentAgent, context: ContextDep, session: SessionDep
) -> Response:
    """The print file of one of this agent's jobs, with ``Range`` support."""
    print_file = await printfiles.for_agent_job(session, agent.uuid, job_uuid)
    return await stream_print_file(request, context.storage, print_file)
