"""Status messages on their way: a job may start before its note's status message is out.

The handler queues the job first and sends the status message next, so the Mistral part of a
burst does not wait behind Telegram's 30 messages a second. Whatever edits the status message
(progress, the transcript, a refusal) asks this board for its id, waiting while it is being sent.
A status message is a courtesy (bot.telegram.pacing): one not yet on its way when the
transcript or a refusal is ready is withdrawn, and what is ready goes as a new reply instead.
"""

from __future__ import annotations

import asyncio

from bot.telegram.pacing import Courtesy


class StatusBoard:
    """The status message of each job whose handler is, or was, sending one in this process."""

    def __init__(self) -> None:
        self._ids: dict[int, asyncio.Future[int | None]] = {}
        self._courtesy: dict[int, Courtesy] = {}

    def expect(self, job_id: int) -> None:
        """The handler is about to send the job's status message."""
        self._ids[job_id] = asyncio.get_running_loop().create_future()
        self._courtesy[job_id] = Courtesy(f"status job={job_id}")

    def courtesy(self, job_id: int) -> Courtesy:
        """The rate_limit_args of the job's status message (its bound counts from expect())."""
        return self._courtesy.get(job_id) or Courtesy(f"status job={job_id}")

    def sent(self, job_id: int, message_id: int | None) -> None:
        """The status message is out (None: it could not be sent)."""
        waiter = self._ids.get(job_id)
        if waiter is not None and not waiter.done():
            waiter.set_result(message_id)

    def known(self, job_id: int) -> int | None:
        """The id if the status message is out already, else None (without waiting)."""
        waiter = self._ids.get(job_id)
        return waiter.result() if waiter is not None and waiter.done() else None

    async def wait(self, job_id: int, stored: int | None) -> int | None:
        """The status message's id once it is out; `stored` (the job row's) for a job whose
        handler ran before a restart."""
        waiter = self._ids.get(job_id)
        if waiter is None:
            return stored
        return await asyncio.shield(waiter)

    async def take(self, job_id: int, stored: int | None) -> int | None:
        """The status message for what replaces it (the transcript, a refusal): its id once
        out, as wait(); None when it was not on its way yet, and then it never will be."""
        courtesy = self._courtesy.get(job_id)
        if job_id in self._ids and courtesy is not None and courtesy.withdraw():
            self.sent(job_id, None)
        return await self.wait(job_id, stored)

    def forget(self, job_id: int) -> None:
        self._ids.pop(job_id, None)
        self._courtesy.pop(job_id, None)
