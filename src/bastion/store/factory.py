"""The store a storage URL names: a SQLite file (the default) or a PostgreSQL database."""

from __future__ import annotations

from bastion.store.base import Store, StoreError, redact_secrets

_POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")


def open_store(url: str, *, pool_max_size: int = 10, pool_min_size: int = 1) -> Store:
    """The store for ``url``, not yet opened (call ``await store.open()``).

    ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``, a plain path ending in
    ``.db``, or ``postgresql://user@host:5432/db`` (``postgres://`` too; needs the ``scale`` extra).
    ``pool_max_size`` bounds the PostgreSQL connections of this process; ``pool_min_size`` stay open.
    """
    url = url.strip()
    if url.startswith(_POSTGRES_SCHEMES):
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise StoreError("PostgreSQL storage needs asyncpg: install bastion-gateway[scale]") from None
        from bastion.store.postgres import PostgresStore

        dsn = "postgresql://" + url.split("://", 1)[1]
        return PostgresStore(dsn, min_size=min(pool_min_size, pool_max_size), max_size=pool_max_size)
    if url.startswith("sqlite:"):
        path = _sqlite_path(url)
    elif url.endswith(".db") and "://" not in url:
        path = url
    else:
        raise StoreError(
            f"unsupported storage URL {redact_secrets(url)!r}: expected sqlite:///relative.db, "
            "sqlite:////absolute.db, a path ending in .db, or postgresql://user@host/db"
        )
    from bastion.store.sqlite import SQLiteStore

    return SQLiteStore(path)


def _sqlite_path(url: str) -> str:
    # SQLAlchemy's convention: sqlite:/// + relative path, sqlite://// + absolute path
    if not url.startswith("sqlite:///") or len(url) == len("sqlite:///"):
        raise StoreError(
            f"unsupported SQLite URL {url!r}: expected sqlite:///relative/path.db or sqlite:////absolute/path.db"
        )
    return url[len("sqlite:///") :]
