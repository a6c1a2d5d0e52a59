"""Agents: creation, token rotation and token authentication, always scoped to one account."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from printerlynx.server.db.models import Agent, utcnow
from printerlynx.server.errors import NotFound, Unauthenticated
from printerlynx.server.services import security


async def create(session: AsyncSession, account_uuid: str, name: str, description: str) -> tuple[Agent, str]:
    """A new agent and its token (the only time the token is seen in clear)."""
    token = security.new_agent_token()
    agent = Agent(
        account_uuid=account_uuid,
        name=name,
        description=description,
        token_hash=security.hash_agent_token(token),
    )
    session.add(agent)
    await session.commit()
    return agent, token


async def list_for(session: AsyncSession, account_uuid: str) -> list[Agent]:
    """The account's agents, oldest first."""
    result = await session.scalars(
        select(Agent).where(Agent.account_uuid == account_uuid).order_by(Agent.created_at, Agent.uuid)
    )
    return list(result)


async def get(session: AsyncSession, account_uuid: str, agent_uuid: str) -> Agent:
    """The account's agent, or ``NotFound`` (also for another account's agent)."""
    agent = await session.get(Agent, agent_uuid)
    if agent is None or agent.account_uuid != account_uuid:
        raise NotFound("agent not found")
    return agent


async def update(session: AsyncSession, agent: Agent, name: str | None, description: str | None) -> Agent:
    """Rename or re-describe an agent."""
    if name is not None:
        agent.name = name
    if description is not None:
        agent.description = description
    await session.commit()
    return agent


async def rotate_token(session: AsyncSession, agent: Agent) -> str:
    """Replace the agent's token; the old one stops working at once."""
    token = security.new_agent_token()
    agent.token_hash = security.hash_agent_token(token)
    await session.commit()
    return token


async def delete(session: AsyncSession, agent: Agent) -> None:
    """Delete the agent (its printers go with it; job history stays)."""
    await session.delete(agent)
    await session.commit()


async def authenticate(session: AsyncSession, token: str) -> Agent:
    """The agent holding this token, or ``Unauthenticated`` (user JWTs never match)."""
    if not token.startswith(security.AGENT_TOKEN_PREFIX):
        raise Unauthenticated("Invalid token")
    agent = await session.scalar(select(Agent).where(Agent.token_hash == security.hash_agent_token(token)))
    if agent is None:
        raise Unauthenticated("Invalid token")
    return agent


async def touch(session: AsyncSession, agent_uuid: str) -> None:
    """Record that the agent was seen now."""
    agent = await session.get(Agent, agent_uuid)
    if agent is not None:
        agent.last_seen_at = utcnow()
        await session.commit()
