"""One database: its engine, set up for its dialect, and its migrations."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, column, event, inspect, select, table, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from export_resend.adapters.sql.connections import connected
from export_resend.adapters.sql.schema import VERSION_TABLE
from export_resend.application.check_readiness import DatabaseProbe

MIN_SECRET_LENGTH = 32
SQLITE_BEGIN = "export_resend_sqlite_begin"
"""Execution option naming how a SQLite transaction begins: IMMEDIATE (default) or DEFERRED."""

MIGRATIONS = "export_resend.adapters.sql:migrations"
HEAD_REVISION = "0007"
"""The newest migration; a test checks that it is the head of the migration scripts."""
SHARED_VERSION_TABLE = "alembic_version"
"""Alembic's own default, where revisions of ours were kept before ``VERSION_TABLE``."""
_shared_versions = table(SHARED_VERSION_TABLE, column("version_num"))


def alembic_config() -> Config:
    """Alembic's configuration, pointing at the migrations shipped in the package."""
    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


_SET_UP = "export_resend_sqlite_set_up"


def _sqlite_setup(engine: AsyncEngine, *, owned: bool) -> None:
    # pysqlite would BEGIN (deferred) only before a write; we emit BEGIN ourselves. A unit of
    # work that writes or locks first begins IMMEDIATE (it takes the write lock before it reads,
    # so it cannot be overtaken); one that only reads begins DEFERRED and blocks no one (WAL).
    # A host's engine may have pooled connections already: each is set up when first checked
    # out, and its journal mode is the host's to choose (changing it needs the write lock).
    pragmas = (
        ("journal_mode=WAL", "foreign_keys=ON", "synchronous=NORMAL")
        if owned
        else ("foreign_keys=ON",)
    )

    def set_up(dbapi_connection: Any, record: Any, *_proxy: Any) -> None:
        if record.info.get(_SET_UP):
            return
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        record.info[_SET_UP] = True

    event.listen(engine.sync_engine, "connect" if owned else "checkout", set_up)

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def _postgresql_setup(engine: AsyncEngine) -> None:
    # a connection the server closed while it sat in the pool (a restart, a failover, an
    # idle timeout) is replaced as it is taken out, before any statement finds it dead
    @event.listens_for(engine.sync_engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: object, _proxy: object) -> None:
        if dbapi_connection.driver_connection.is_closed():
            raise DisconnectionError("the server has closed this connection")


class SchemaNotCurrent(Exception):
    """The database's schema is not the one this version needs (``export-resend db upgrade``)."""


class Database(DatabaseProbe):
    """An async engine for ``url`` (``sqlite+aiosqlite://…`` or ``postgresql+asyncpg://…``),
    set up for its dialect, with the migrations of our tables. Both SQL packages' units of
    work take their connections from its pool; which one runs is the container's choice.

    Creating it opens nothing; connections open on first use. ``dispose`` closes them.
    """

    def __init__(self, url: str, *, pool_size: int = 10, pool_timeout: float = 30) -> None:
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        options: dict[str, Any] = {}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            options["connect_args"] = {"timeout": 30}
        else:
            # a steady pool: connections opened under load and closed after cost a handshake
            options.update(pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
        # an error's text never repeats a statement's values (addresses, relay replies): it
        # reaches the logs with the traceback, and a value cut short escapes any redaction
        self._setup(create_async_engine(parsed, hide_parameters=True, **options), owned=True)

    @classmethod
    def of_engine(cls, engine: AsyncEngine) -> Database:
        """A database on a host's own engine: our tables in its database, on SQLAlchemy
        Core whatever the dialect, and never disposed of by us."""
        database = cls.__new__(cls)
        database.dialect = engine.dialect.name
        database._setup(engine, owned=False)
        return database

    def _setup(self, engine: AsyncEngine, *, owned: bool) -> None:
        self.engine = engine
        self._owned = owned
        self.writers = asyncio.Lock() if self.dialect == "sqlite" else None
        """SQLite's writers queue on it, one per database in this process."""
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine, owned=owned)
        elif self.dialect == "postgresql" and owned:  # a host's engine is the host's to set up
            _postgresql_setup(self.engine)

    @property
    def file(self) -> Path | None:
        """The SQLite file, if this is one."""
        database = self.engine.url.database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return None
        return Path(database)

    async def open(self) -> None:
        """Make the database ready for use: a SQLite file is created or upgraded to the
        latest schema; any other database must already be there (``SchemaNotCurrent``).
        ``StorageUnavailable`` when it cannot be reached."""
        if self.file is not None:
            await self.upgrade()
        elif (revision := await self.revision()) != HEAD_REVISION:
            raise SchemaNotCurrent(
                f"the database schema is at {revision!r}, not "
                f"{HEAD_REVISION!r}: run 'export-resend db upgrade' first"
            )

    def kept_secret(self) -> str:
        """A secret made once and kept in a file beside the SQLite file (mode 0600), the
        same for every process; ``ValueError`` for any other database."""
        if self.file is None:
            raise ValueError("only a SQLite file keeps a secret beside it")
        path = self.file.with_name(self.file.name + ".secret")
        if not path.exists():
            # written whole under another name, then linked into place: a reader never sees
            # a half-written file, and of two processes starting together one secret wins
            draft = path.with_name(f"{path.name}.{secrets.token_hex(4)}")
            fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(32))
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
            draft.unlink()
        secret = path.read_text().strip()
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(f"{path} holds no usable secret: delete it to make a new one")
        return secret

    async def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` (first moving a revision of ours out of
        ``alembic_version``, where versions before this one kept it, into ``VERSION_TABLE``)."""
        async with connected(self.engine) as connection, connection.begin():
            await connection.run_sync(_adopt)
            await connection.run_sync(_alembic, "upgrade", revision)

    async def downgrade(self, revision: str = "base") -> None:
        """Undo the migrations down to ``revision``."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_adopt)
            await connection.run_sync(_alembic, "downgrade", revision)

    async def revision(self) -> str | None:
        """The revision the database is at, or ``None`` before any migration (a revision of
        ours still in ``alembic_version`` counts: ``upgrade`` moves it)."""
        async with connected(self.engine) as connection:
            return await connection.run_sync(_revision)

    async def dispose(self) -> None:
        """Close every pooled connection (of an engine of our own only)."""
        if self._owned:
            await self.engine.dispose()

    async def ping(self) -> None:
        """``SELECT 1`` on a pooled connection."""
        async with connected(self.engine) as connection:
            await connection.execute(text("SELECT 1"))


def _alembic(connection: Connection, action: str, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


def _revision(connection: Connection) -> str | None:
    if not inspect(connection).has_table(VERSION_TABLE):
        return _ours_in_shared_table(connection)
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _ours_in_shared_table(connection: Connection) -> str | None:
    """A revision of ours in ``alembic_version``, if our tables are there too."""
    tables = inspect(connection)
    if not (tables.has_table(SHARED_VERSION_TABLE) and tables.has_table("exports")):
        return None
    ours = {
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    }
    found = connection.execute(select(_shared_versions.c.version_num)).scalars()
    return next((revision for revision in found if revision in ours), None)


def _adopt(connection: Connection) -> None:
    """Move a revision of ours from ``alembic_version`` into ``VERSION_TABLE``, leaving any
    other there (a host's own); drop the table if nothing is left in it."""
    if inspect(connection).has_table(VERSION_TABLE):
        return
    revision = _ours_in_shared_table(connection)
    if revision is None:
        return
    _alembic(connection, "stamp", revision)
    shared = _shared_versions.c.version_num
    connection.execute(_shared_versions.delete().where(shared == revision))
    if connection.execute(select(shared).limit(1)).first() is None:
        connection.execute(text(f"DROP TABLE {SHARED_VERSION_TABLE}"))
