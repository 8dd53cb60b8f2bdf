"""PostgreSQL beside the database seam (storage/db.py): the pool's size, SQL marks in
psycopg's style, and rows read by position or by column name, as SQLite's are."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

from psycopg.rows import RowMaker

POOL_SIZE = 10
"""PostgreSQL connections one process may hold: transactions are short, so a few suffice for
the workers and handlers; more wait for one."""

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


def record(cursor: Any) -> RowMaker[Record]:
    """psycopg's row factory for Record."""
    names = {column.name: i for i, column in enumerate(cursor.description or ())}
    return lambda values: Record(names, values)
