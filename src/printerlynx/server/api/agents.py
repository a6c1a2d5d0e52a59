"""``/api/v1/agents``: the account's agents and their tokens."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from printerlynx.server.api.deps import ContextDep, CurrentAccount, SessionDep
from printerlynx.server.api.schemas import ERROR_RESPONSES, StrictBody, UUIDPath
from printerlynx.server.db.models import Agent
from printerlynx.server.services import agents

router = APIRouter(prefix="/api/v1/agents", tags=["agents"], responses=ERROR_RESPONSES)

AgentName = Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")


class AgentIn(StrictBody):
    """A new agent."""

    name: str = AgentName
    description: str = Field(default="", max_length=1000)


class AgentUpdate(StrictBody):
    """Fields to change."""

    name: str | None = AgentName
    description: str | None = Field(default=None, max_length=1000)


class AgentOut(BaseModel):
    """An agent; ``online`` is live presence, shared by every instance."""

    uuid: str
    name: str
    description: str
    created_at: datetime
    last_seen_at: datetime | None
    online: bool

    @classmethod
    def of(cls, agent: Agent, online: bool) -> AgentOut:
        """From the row and its presence."""
        return cls(
            uuid=agent.uuid,
            name=agent.name,
            description=agent.description,
            created_at=agent.created_at,
            last_seen_at=agent.last_seen_at,
            online=online,
        )


class AgentWithToken(AgentOut):
    """An agent with its token: only in the answers to create and rotate."""

    token: str


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_agent(body: AgentIn, account: CurrentAccount, session: SessionDep) -> AgentWithToken:
    """Create an agent; the token is shown this once."""
    agent, token = await agents.create(session, account.uuid, body.name, body.description)
    return AgentWithToken(**AgentOut.of(agent, online=False).model_dump(), token=token)


@router.get("")
async def list_agents(account: CurrentAccount, context: ContextDep, session: SessionDep) -> list[AgentOut]:
    """The account's agents."""
    rows = await agents.list_for(session, account.uuid)
    online = await context.broker.get_presence([agent.uuid for agent in rows])
    return [AgentOut.of(agent, agent.uuid in online) for agent in rows]


@router.get("/{agent_uuid}")
async def read_agent(
    agent_uuid: UUIDPath, account: CurrentAccount, context: ContextDep, session: SessionDep
) -> AgentOut:
    """One agent."""
    agent = await agents.get(session, account.uuid, agent_uuid)
    online = await context.broker.get_presence([agent.uuid])
    return AgentOut.of(agent, agent.uuid in online)


@router.put("/{agent_uuid}")
async def update_agent(
    agent_uuid: UUIDPath, body: AgentUpdate, account: CurrentAccount, context: ContextDep, session: SessionDep
) -> AgentOut:
    """Rename or re-describe an agent."""
    agent = await agents.get(session, account.uuid, agent_uuid)
    agent = await agents.update(session, agent, body.name, body.description)
    online = await context.broker.get_presence([agent.uuid])
    return AgentOut.of(agent, agent.uuid in online)


@router.post("/{agent_uuid}/token")
async def rotate_token(
    agent_uuid: UUIDPath, account: CurrentAccount, context: ContextDep, session: SessionDep
) -> AgentWithToken:
    """Issue a new token; the old one stops working and the agent's live socket closes (4003)."""
    agent = await agents.get(session, account.uuid, agent_uuid)
    token = await agents.rotate_token(session, agent)
    await context.hub.revoke_agent(agent.uuid)
    return AgentWithToken(**AgentOut.of(agent, online=False).model_dump(), token=token)


@router.delete("/{agent_uuid}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(
    agent_uuid: UUIDPath, account: CurrentAccount, context: ContextDep, session: SessionDep
) -> None:
    """Delete an agent; its live socket closes (4003)."""
    agent = await agents.get(session, account.uuid, agent_uuid)
    await agents.delete(session, agent)
    await context.hub.revoke_agent(agent_uuid)
