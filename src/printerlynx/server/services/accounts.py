"""Accounts: registration, login with throttling, profile changes, revocation."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from printerlynx.server.db.models import Account, LoginAttempt, utcnow
from printerlynx.server.errors import Conflict, InvalidInput, NotFound, RateLimited, Unauthenticated
from printerlynx.server.services import security

THROTTLE_WINDOW = timedelta(minutes=1)
# A shared address (NAT, office) is allowed more failures than one account.
ADDRESS_LIMIT_FACTOR = 3


async def _unique_or_conflict(session: AsyncSession, username: str, email: str, exclude: str | None) -> None:
    query = select(Account.username, Account.email).where(
        or_(func.lower(Account.username) == username.lower(), func.lower(Account.email) == email.lower())
    )
    if exclude is not None:
        query = query.where(Account.uuid != exclude)
    for taken_username, taken_email in (await session.execute(query)).all():
        if taken_username.lower() == username.lower():
            raise Conflict("username is already taken")
        if taken_email.lower() == email.lower():
            raise Conflict("email is already registered")


async def register(session: AsyncSession, username: str, email: str, password: str) -> Account:
    """Create an account; username and email are unique without regard to case."""
    security.check_password_rules(password)
    await _unique_or_conflict(session, username, email, exclude=None)
    account = Account(username=username, email=email, password_hash=await security.hash_password(password))
    session.add(account)
    try:
        await session.commit()
    except IntegrityError as exc:  # a concurrent registration won the race
        await session.rollback()
        raise Conflict("username or email is already taken") from exc
    return account


async def _check_throttle(session: AsyncSession, keys: dict[str, int]) -> None:
    since = utcnow() - THROTTLE_WINDOW
    for key, limit in keys.items():
        count = await session.scalar(
            select(func.count())
            .select_from(LoginAttempt)
            .where(LoginAttempt.key == key, LoginAttempt.at > since)
        )
        if (count or 0) >= limit:
            raise RateLimited("too many failed login attempts; try again in a minute", retry_after=60)


async def login(session: AsyncSession, username: str, password: str, client: str, per_minute: int) -> Account:
    """The account for these credentials; the same error for an unknown user and a wrong password."""
    keys = {f"user:{username.lower()}": per_minute, f"addr:{client}": per_minute * ADDRESS_LIMIT_FACTOR}
    await _check_throttle(session, keys)
    account = await session.scalar(select(Account).where(func.lower(Account.username) == username.lower()))
    if not await security.verify_password(password, account.password_hash if account else None):
        session.add_all([LoginAttempt(key=key) for key in keys])
        await session.execute(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - THROTTLE_WINDOW * 10))
        await session.commit()
        raise Unauthenticated("invalid username or password")
    assert account is not None
    return account


async def get(session: AsyncSession, account_uuid: str) -> Account:
    """The account, or ``NotFound``."""
    account = await session.get(Account, account_uuid)
    if account is None:
        raise NotFound("account not found")
    return account


async def authenticate(session: AsyncSession, secret: str, token: str) -> Account:
    """The account a user token belongs to, if the token is valid and not revoked."""
    claims = security.decode_user_token(secret, token)
    account = await session.get(Account, claims.account_uuid)
    if account is None or account.token_version != claims.token_version:
        raise Unauthenticated("token revoked")
    return account


async def update(session: AsyncSession, account: Account, username: str | None, email: str | None) -> Account:
    """Change username and/or email, keeping them unique."""
    new_username = username if username is not None else account.username
    new_email = email if email is not None else account.email
    await _unique_or_conflict(session, new_username, new_email, exclude=account.uuid)
    account.username, account.email = new_username, new_email
    try:
        await session.commit()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("username or email is already taken") from exc
    return account


async def revoke_tokens(session: AsyncSession, account: Account) -> None:
    """Invalidate every token issued to the account so far (on every instance: it lives in the database)."""
    account.token_version += 1
    await session.commit()


async def change_password(
    session: AsyncSession, account: Account, old_password: str, password: str
) -> Account:
    """Set a new password after checking the old one; revokes all earlier tokens."""
    if not await security.verify_password(old_password, account.password_hash):
        raise InvalidInput("old password is wrong")
    security.check_password_rules(password)
    account.password_hash = await security.hash_password(password)
    account.token_version += 1
    await session.commit()
    return account


async def delete_account(session: AsyncSession, account: Account) -> None:
    """Delete the account and, by cascade, its agents, files, printers and jobs rows."""
    await session.delete(account)
    await session.commit()
