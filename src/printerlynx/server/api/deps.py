"""Dependency aliases shared by the REST routers (``SessionDep``, ``CurrentAccount``, …)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from printerlynx.server.context import AppContext
from printerlynx.server.db.models import Account, Agent
from printerlynx.server.errors import Unauthenticated
from printerlynx.server.services import accounts, agents


def get_context(request: Request) -> AppContext:
    """The shared objects the lifespan built."""
    context: AppContext = request.app.state.context
    return context


ContextDep = Annotated[AppContext, Depends(get_context)]


async def get_session(context: ContextDep) -> AsyncIterator[AsyncSession]:
    """One database session per request."""
    async with context.sessionmaker() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer …`` header, or ``Unauthenticated``."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("missing bearer token")
    return token.strip()


async def current_account(request: Request, context: ContextDep, session: SessionDep) -> Account:
    """The account of the request's user token (agent tokens are refused)."""
    return await accounts.authenticate(session, context.jwt_secret, bearer_token(request))


CurrentAccount = Annotated[Account, Depends(current_account)]


async def current_agent(request: Request, session: SessionDep) -> Agent:
    """The agent of the request's agent token (user tokens are refused)."""
    return await agents.authenticate(session, bearer_token(request))


CurrentAgent = Annotated[Agent, Depends(current_agent)]
