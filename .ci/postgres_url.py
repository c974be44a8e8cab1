"""Print the DATABASE_URL of a fresh PostgreSQL database for the test suite, or nothing.

    python .ci/postgres_url.py [NAME]   (default linli_ci)

When PostgreSQL answers at 127.0.0.1:5432 (user postgres, trust), drops and creates database NAME
and prints its URL; the suite's fixtures start it from an empty schema. When nothing answers, prints
nothing and says on stderr that the suite runs on SQLite only. Exits 0 either way.
"""

from __future__ import annotations

import asyncio
import sys

SERVER = "postgresql://postgres@127.0.0.1:5432"


async def fresh_database(name: str) -> str | None:
    """The URL of database ``name``, made empty, or None when no server answers."""
    import asyncpg

    try:
        conn = await asyncpg.connect(f"{SERVER}/postgres", timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL does not answer at {SERVER} ({type(exc).__name__}: {exc}); "
              "the test suite runs on SQLite only", file=sys.stderr)
        return None
    try:
        # A name from this script's caller, never from outside: quoted as an identifier all the same.
        quoted = '"' + name.replace('"', '""') + '"'
        await conn.execute(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")
        await conn.execute(f"CREATE DATABASE {quoted}")
    finally:
        await conn.close()
    return f"{SERVER}/{name}"


def main() -> int:
    url = asyncio.run(fresh_database(sys.argv[1] if len(sys.argv) > 1 else "linli_ci"))
    if url:
        print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
