"""Progress of a long note, shown by editing its status message."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from bot.telegram.pacing import Courtesy, Skipped

log = logging.getLogger(__name__)

Edit = Callable[[int, str, Courtesy], Coroutine[Any, Any, object]]
"""Edits the status message (by id) into a plain text, paced as the courtesy given."""


class StatusProgress:
    """Edits a long note's status message as its parts come back, at most once per `every`
    seconds and one edit at a time."""

    def __init__(
        self,
        job_id: int,
        every: float,
        edit: Edit,
        text: Callable[[int, int], str],
        *,
        status_id: Callable[[], int | None],
    ) -> None:
        self._job_id = job_id
        self._status_id = status_id
        self._every = every
        self._send_edit = edit
        self._text = text
        self._last = time.monotonic()
        self._edit: asyncio.Task[object] | None = None
        self._courtesy: Courtesy | None = None
        self._shown: tuple[int, int] | None = None

    def update(self, done: int, total: int) -> None:
        status_id = self._status_id()
        if status_id is None:
            return
        now = time.monotonic()
        if now - self._last < self._every:
            return
        if self._edit is not None:
            if not self._edit.done():
                return
            self._retire(self._edit)
        if (done, total) == self._shown or done >= total:
            return  # the transcript itself is the next edit
        self._last, self._shown = now, (done, total)
        self._courtesy = Courtesy(f"progress job={self._job_id}")
        self._edit = asyncio.create_task(
            self._send_edit(status_id, self._text(done, total), self._courtesy)
        )

    async def settle(self) -> None:
        """What follows goes next: an edit not yet on its way is withdrawn, one on its way is
        waited for; its failure only costs a progress line."""
        if self._edit is None:
            return
        if self._courtesy is not None:
            self._courtesy.withdraw()
        await asyncio.wait({self._edit})
        self._retire(self._edit)

    def _retire(self, edit: asyncio.Task[object]) -> None:
        """Collect a finished edit's outcome, so no failure goes unretrieved."""
        error = None if edit.cancelled() else edit.exception()
        if error is not None and not isinstance(error, Skipped):
            log.info("job=%d progress edit failed: %s", self._job_id, type(error).__name__)


class NoProgress:
    """A group's auto mode shows none."""

    def update(self, done: int, total: int) -> None:
        return None

    async def settle(self) -> None:
        return None
