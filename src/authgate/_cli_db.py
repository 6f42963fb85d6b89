"""The database side of the `authgate` command: migrate (with --dry-run and --sql), cleanup, and
the schema-version probe `authgate check` uses. Every failure is a DatabaseUnavailable or a
Configuration whose message names the cause and the fix; cli.py turns it into an exit code."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from ._config import utc_now
from ._errors import Configuration, DatabaseUnavailable
from .schema import LATEST_VERSION, MIGRATIONS, VERSION_TABLE, Migration, _postgres, _sqlite
from .stores import SQLiteStore
from .stores.base import Store
from .stores.sqlite import apply_schema, database_path, schema_version

__all__ = ["DatabaseTarget", "cleanup", "migrate", "probe"]


@dataclass(frozen=True)
class DatabaseTarget:
    """A database URL (postgresql:// or sqlite://) and, for Postgres, the schema authgate's tables live in."""

    url: str
    schema: str | None = None

    @property
    def dialect(self) -> str:
        scheme = self.url.partition(":")[0].lower()
        if scheme in ("postgres", "postgresql"):
            return "postgres"
        if scheme == "sqlite":
            return "sqlite"
        raise Configuration(f"the database URL must start with postgresql:// or sqlite:///, not {scheme}://")

    @property
    def sqlite_path(self) -> str:

        return database_path(self.url)

    def describe(self) -> str:
        if self.dialect == "sqlite":
            return f"SQLite {self.sqlite_path}"
        from .stores.postgres import describe_location

        return f"PostgreSQL {describe_location(self.url)}" + (f' schema "{self.schema}"' if self.schema else "")


async def probe(target: DatabaseTarget) -> int | None:
    """The schema version in the database (None: no authgate schema); DatabaseUnavailable when it cannot be read."""
    if target.dialect == "sqlite":
        return await schema_version(target.sqlite_path)
    from .stores.postgres import connect
    from .stores.postgres import schema_version as pg_version

    conn = await connect(target.url, schema=target.schema)
    try:
        return await pg_version(conn)
    finally:
        await conn.close()


def _migration_sql(dialect: str, migration: Migration) -> str:
    """One migration as a transaction for psql or sqlite3, recording itself like apply_schema does."""

    now = "CURRENT_TIMESTAMP" if dialect == "postgres" else "strftime('%Y-%m-%dT%H:%M:%f000+00:00', 'now')"
    version_table = (_postgres if dialect == "postgres" else _sqlite).VERSION_TABLE_SQL
    lines = [f"-- {migration.version}: {migration.name}", "BEGIN;", version_table + ";"]
    lines += [statement.rstrip().rstrip(";") + ";" for statement in migration.statements]
    # Both values are authgate's own constants, never input.
    record = f"({migration.version}, '{migration.name}', {now})"
    lines += [f"INSERT INTO {VERSION_TABLE} (version, name, applied_at) VALUES {record};", "COMMIT;"]  # noqa: S608
    return "\n".join(lines)


async def migrate(target: DatabaseTarget, *, dry_run: bool, sql: bool) -> int:
    """Apply (or, with dry_run/sql, only list or print) the pending migrations; returns the exit code."""
    current = await probe(target)
    pending = [m for m in MIGRATIONS[target.dialect] if current is None or m.version > current]
    where = target.describe()
    if sql:
        if target.dialect == "postgres" and target.schema:
            print(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}";\nSET search_path TO "{target.schema}";')
        for migration in pending:
            print(_migration_sql(target.dialect, migration))
        if not pending:
            print(f"-- {where} is at version {current}: nothing to apply")
        return 0
    state = "no authgate schema" if current is None else f"version {current}"
    print(f"authgate migrate: {where}: {state}; this authgate needs version {LATEST_VERSION}")
    if not pending:
        print("authgate migrate: nothing to apply")
        return 0
    if dry_run:
        for migration in pending:
            print(f"would apply {migration.version} {migration.name}")
        print(f"authgate migrate: dry run: {len(pending)} migration(s) pending, nothing written")
        return 0
    applied = await _apply(target)
    names = {m.version: m.name for m in MIGRATIONS[target.dialect]}
    for version in applied:
        print(f"applied {version} {names[version]}")
    print(f"authgate migrate: {len(applied)} migration(s) applied; now at version {LATEST_VERSION}")
    return 0


async def _apply(target: DatabaseTarget) -> list[int]:
    if target.dialect == "sqlite":
        return await apply_schema(target.sqlite_path)
    from .stores.postgres import apply_schema as pg_apply
    from .stores.postgres import connect

    conn = await connect(target.url, schema=target.schema)
    try:
        if target.schema:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{target.schema}"')  # name checked by connect()
        return await pg_apply(conn)
    finally:
        await conn.close()


async def cleanup(target: DatabaseTarget, *, batch_size: int) -> int:
    """Delete sessions whose refresh lifetime is over; never creates or migrates a schema."""
    current = await probe(target)
    if current is None or current < LATEST_VERSION:
        state = "no authgate schema" if current is None else f"schema version {current} (needs {LATEST_VERSION})"
        raise DatabaseUnavailable(
            f"{target.describe()} has {state}; nothing to clean up. Run `authgate migrate` first", reachable=True
        )
    store: Store
    if target.dialect == "sqlite":
        store = SQLiteStore(target.url)
    else:
        from .stores.postgres import PostgresStore

        store = PostgresStore(target.url, schema=target.schema, apply_schema=False, min_size=1, max_size=1)
    await store.open()
    try:
        total = 0
        while True:
            deleted = await store.delete_expired_sessions(now=utc_now(), limit=batch_size)
            total += deleted
            if deleted < batch_size:
                break
    finally:
        await store.close()
    print(f"authgate cleanup: deleted {total} expired session(s) from {target.describe()}", file=sys.stderr)
    return 0
