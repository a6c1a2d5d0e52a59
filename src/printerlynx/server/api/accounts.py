"""``/api/v1/accounts/me``: the signed-in account."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, model_validator
from sqlalchemy import select

from printerlynx.server.api.auth import _token_for
from printerlynx.server.api.deps import ContextDep, CurrentAccount, SessionDep
from printerlynx.server.api.schemas import ERROR_RESPONSES, Email, Password, StrictBody, TokenOut, Username
from printerlynx.server.db.models import Account, PrintFile
from printerlynx.server.services import accounts, agents

router = APIRouter(prefix="/api/v1/accounts", tags=["accounts"], responses=ERROR_RESPONSES)


class AccountOut(BaseModel):
    """An account as its owner sees it."""

    uuid: str
    username: str
    email: str

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        """From the row."""
        return cls(uuid=account.uuid, username=account.username, email=account.email)


class AccountUpdate(StrictBody):
    """Fields to change; omitted ones stay."""

    username: Username | None = None
    email: Email | None = None


class PasswordChange(StrictBody):
    """A password change."""

    old_password: Password
    password: Password
    password_confirmation: Password

    @model_validator(mode="after")
    def _passwords_match(self) -> PasswordChange:
        if self.password != self.password_confirmation:
            raise ValueError("password and password_confirmation differ")
        return self


@router.get("/me")
async def read_me(account: CurrentAccount) -> AccountOut:
    """The signed-in account."""
    return AccountOut.of(account)


@router.put("/me")
async def update_me(body: AccountUpdate, account: CurrentAccount, session: SessionDep) -> AccountOut:
    """Change username or email."""
    return AccountOut.of(await accounts.update(session, account, body.username, body.email))


@router.put("/me/password")
async def change_password(
    body: PasswordChange, account: CurrentAccount, context: ContextDep, session: SessionDep
) -> TokenOut:
    """Change the password; every earlier token is revoked and a fresh one returned."""
    await accounts.change_password(session, account, body.old_password, body.password)
    await context.hub.revoke_account(account.uuid)
    return _token_for(context, account.uuid, account.token_version)


@router.delete("/me", status_code=status.HTTP_204_NO_CONTENT)
async def delete_me(account: CurrentAccount, context: ContextDep, session: SessionDep) -> None:
    """Delete the account with everything it owns; its sockets and its agents' sockets close."""
    agent_uuids = [agent.uuid for agent in await agents.list_for(session, account.uuid)]
    keys = list(
        await session.scalars(select(PrintFile.storage_key).where(PrintFile.account_uuid == account.uuid))
    )
    await accounts.delete_account(session, account)
    await context.hub.revoke_account(account.uuid)
    for agent_uuid in agent_uuids:
        await context.hub.revoke_agent(agent_uuid)
    for key in keys:
        await context.storage.delete(key)
