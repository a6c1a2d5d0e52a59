"""``/api/v1/auth``: register, login, logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import model_validator

from printerlynx.server.api.deps import ContextDep, CurrentAccount, SessionDep
from printerlynx.server.api.schemas import ERROR_RESPONSES, Email, Password, StrictBody, TokenOut, Username
from printerlynx.server.errors import InvalidInput
from printerlynx.server.services import accounts
from printerlynx.server.services.security import issue_user_token

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)


class RegisterIn(StrictBody):
    """A new account."""

    username: Username
    email: Email
    password: Password
    password_confirmation: Password

    @model_validator(mode="after")
    def _passwords_match(self) -> RegisterIn:
        if self.password != self.password_confirmation:
            raise ValueError("password and password_confirmation differ")
        return self


class LoginIn(StrictBody):
    """Credentials."""

    username: str
    password: Password


def _token_for(context: ContextDep, account_uuid: str, token_version: int) -> TokenOut:
    ttl = context.settings.jwt_ttl
    return TokenOut(
        token=issue_user_token(context.jwt_secret, account_uuid, token_version, ttl), expires_in=ttl
    )


@router.post("/register", status_code=status.HTTP_201_CREATED)
async def register(body: RegisterIn, context: ContextDep, session: SessionDep) -> TokenOut:
    """Create an account and return a token for it."""
    account = await accounts.register(session, body.username, body.email, body.password)
    return _token_for(context, account.uuid, account.token_version)


@router.post("/login")
async def login(body: LoginIn, request: Request, context: ContextDep, session: SessionDep) -> TokenOut:
    """Exchange username and password for a token (throttled per account and per address)."""
    if len(body.username) > 320:
        raise InvalidInput("username is too long")
    client = request.client.host if request.client else "unknown"
    account = await accounts.login(
        session, body.username, body.password, client, context.settings.login_attempts_per_minute
    )
    return _token_for(context, account.uuid, account.token_version)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(account: CurrentAccount, context: ContextDep, session: SessionDep) -> None:
    """Revoke the account's tokens and close its live WebSockets (on every instance)."""
    await accounts.revoke_tokens(session, account)
    await context.hub.revoke_account(account.uuid)
