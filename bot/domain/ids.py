"""Ids and amounts typed into commands: ASCII digits only, within what storage can hold."""

from __future__ import annotations

import re

_ID = re.compile(r"-?[0-9]{1,19}")
_SECONDS = re.compile(r"[0-9]{1,11}")
_INT64 = 2**63 - 1


def parse_id(value: str) -> int | None:
    """A user id, or a negative chat id (a channel or group that posts as itself); None when
    `value` is anything else (other digits than 0-9, signs, spaces, zero, past 64 bits)."""
    if _ID.fullmatch(value) is None:
        return None
    number = int(value)
    return number if number != 0 and -_INT64 <= number <= _INT64 else None


def parse_seconds(value: str) -> int | None:
    """A number of seconds (0 included); None unless `value` is ASCII digits, at most 11."""
    return int(value) if _SECONDS.fullmatch(value) is not None else None
