"""(c) fastapi-users with its database strategy and (d) with its JWT strategy.

Built as fastapi-users' documentation builds it: SQLAlchemy 2 async engine on asyncpg, the
`user` and `accesstoken` tables of fastapi-users-db-sqlalchemy (in their own Postgres schema),
a CookieTransport, and a route behind `Depends(current_active_user)` answering `hello <email>`.
BENCH_FAU_STRATEGY=db (default) or jwt picks the strategy.
"""

# FastAPI's dependency idiom, exactly as fastapi-users documents it.
# ruff: noqa: B008

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncGenerator, AsyncIterator

from fastapi import Depends, FastAPI
from fastapi.responses import PlainTextResponse
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin, schemas
from fastapi_users.authentication import AuthenticationBackend, CookieTransport, JWTStrategy
from fastapi_users.authentication.strategy.db import AccessTokenDatabase, DatabaseStrategy
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from fastapi_users_db_sqlalchemy.access_token import SQLAlchemyAccessTokenDatabase, SQLAlchemyBaseAccessTokenTableUUID
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from bench.common import ACCESS_LIFETIME_SECONDS, DATABASE_URL, FAU_SCHEMA, SECRET

STRATEGY = os.environ.get("BENCH_FAU_STRATEGY", "db")
SQLALCHEMY_URL = DATABASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1)


class Base(DeclarativeBase):
    pass


class User(SQLAlchemyBaseUserTableUUID, Base):
    pass


class AccessToken(SQLAlchemyBaseAccessTokenTableUUID, Base):
    pass


class UserRead(schemas.BaseUser[uuid.UUID]):
    pass


class UserCreate(schemas.BaseUserCreate):
    pass


engine = create_async_engine(SQLALCHEMY_URL, connect_args={"server_settings": {"search_path": FAU_SCHEMA}})
async_session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    async with async_session_maker() as session:
        yield session


async def get_user_db(
    session: AsyncSession = Depends(get_async_session),
) -> AsyncGenerator[SQLAlchemyUserDatabase, None]:
    yield SQLAlchemyUserDatabase(session, User)


async def get_access_token_db(
    session: AsyncSession = Depends(get_async_session),
) -> AsyncGenerator[SQLAlchemyAccessTokenDatabase[AccessToken], None]:
    yield SQLAlchemyAccessTokenDatabase(session, AccessToken)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    reset_password_token_secret = SECRET
    verification_token_secret = SECRET


async def get_user_manager(user_db: SQLAlchemyUserDatabase = Depends(get_user_db)) -> AsyncGenerator[UserManager, None]:
    yield UserManager(user_db)


def get_database_strategy(
    access_token_db: AccessTokenDatabase[AccessToken] = Depends(get_access_token_db),
) -> DatabaseStrategy:
    return DatabaseStrategy(access_token_db, lifetime_seconds=ACCESS_LIFETIME_SECONDS)


def get_jwt_strategy() -> JWTStrategy:
    return JWTStrategy(secret=SECRET, lifetime_seconds=ACCESS_LIFETIME_SECONDS)


cookie_transport = CookieTransport(
    cookie_name="fastapiusersauth", cookie_max_age=ACCESS_LIFETIME_SECONDS, cookie_secure=False
)
backend = AuthenticationBackend(
    name=STRATEGY,
    transport=cookie_transport,
    get_strategy=get_database_strategy if STRATEGY == "db" else get_jwt_strategy,
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [backend])
current_active_user = fastapi_users.current_user(active=True)


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)
app.include_router(fastapi_users.get_auth_router(backend), prefix=f"/auth/{STRATEGY}")
app.include_router(fastapi_users.get_register_router(UserRead, UserCreate), prefix="/auth")


@app.get("/api/private", response_class=PlainTextResponse)
async def private(user: User = Depends(current_active_user)) -> str:
    return f"hello {user.email}"
