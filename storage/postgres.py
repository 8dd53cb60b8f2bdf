"""PostgreSQL beside the database seam (storage/db.py): the pool's size and its check of a
connection it hands out, SQL marks in psycopg's style, rows read by position or by column name,
as SQLite's are, and a driver's error in one line without the password."""

from __future__ import annotations

import re
import select
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import pq
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool

POOL_SIZE = 10
"""PostgreSQL connections one process may hold: transactions are short, so a few suffice for
the workers and handlers; more wait for one."""


async def usable(conn: psycopg.AsyncConnection[Any]) -> None:
    """The pool's check of a connection it hands out; raises when the connection is closed.

    An idle connection has nothing to read, and a server that closes it (a restart, a
    failover, an idle timeout) sends its last message and the end of the stream: only a
    connection with input waiting is asked an empty query (one round trip), the others are
    handed out as they are."""
    poller = select.poll()
    poller.register(conn.fileno(), select.POLLIN)
    if poller.poll(0):
        await AsyncConnectionPool.check_connection(conn)


_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=512)
def for_postgres(sql: str) -> str:
    """`?` and `:name` marks as psycopg's `%s` and `%(name)s`."""
    sql = sql.replace("%", "%%").replace("?", "%s")
    return _NAMED.sub(r"%(\1)s", sql)


class Record:
    """A PostgreSQL row readable by position or by column name, as sqlite3.Row is."""

    __slots__ = ("_names", "_values")

    def __init__(self, names: dict[str, int], values: Sequence[Any]) -> None:
        self._names = names
        self._values = values

    def __getitem__(self, key: int | str, /) -> Any:
        return self._values[self._names[key] if isinstance(key, str) else key]

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._names)

    def __repr__(self) -> str:
        return f"Record({dict(zip(self._names, self._values, strict=True))!r})"


def returns_rows(cursor: psycopg.AsyncCursor[Any]) -> bool:
    """Whether the cursor's statement returned rows (a SELECT, or … RETURNING)."""
    result = cursor.pgresult
    return result is not None and result.status == pq.ExecStatus.TUPLES_OK


def record(cursor: Any) -> RowMaker[Record]:
    """psycopg's row factory for Record. The names are read from the result as psycopg's own
    dict_row reads them: cursor.description would make a Column object per column."""
    names: dict[str, int] = {}
    if returns_rows(cursor):
        result, encoding = cursor.pgresult, cursor.connection.info.encoding
        names = {result.fname(i).decode(encoding): i for i in range(result.nfields)}
    return lambda values: Record(names, values)


def one_line(exc: Exception, url: str) -> str:
    """The driver's error as one line, without the password should it appear."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return text.replace(password, "***") if password else text
