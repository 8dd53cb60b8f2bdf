"""Mistral's request slots, shared fairly: by chat first, then by note."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Hashable


class Stopping(Exception):
    """The bot is stopping: no new Mistral request starts; the job goes back to the queue."""


Owner = tuple[Hashable, ...]
"""Who asks for a slot, from the widest level to the narrowest: (chat, note)."""


class FairSlots:
    """A semaphore that hands a freed slot to the waiter whose owner holds the fewest slots,
    level by level: first the chat holding the fewest, then within it the note holding the
    fewest; ties go first come, first served.

    A long note's chunks may use every idle slot, yet a note arriving meanwhile takes the next
    slot that frees up instead of queueing behind the chunks still waiting; and a burst in one
    group does not keep a private chat waiting behind all of it. One long file never holds
    everyone else back for more than one chunk's time.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._free = limit
        self._held: Counter[Owner] = Counter()  # by every prefix of an owner
        self._waiters: list[tuple[int, Owner, asyncio.Future[None]]] = []
        self._seq = 0
        self._closed = False
        self.stopped = asyncio.Event()
        """Set by close(): what only waits (a batch's polling) goes back to the queue."""

    def held(self, owner: Owner) -> int:
        return self._held[owner]

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def hold(self, owner: Owner) -> AsyncIterator[None]:
        await self._acquire(owner)
        try:
            yield
        finally:
            self._release(owner)

    def close(self) -> None:
        """Stopping: whoever waits for a slot, and whoever asks later, gets Stopping. Requests
        in flight go on (the grace period is theirs)."""
        self._closed = True
        self.stopped.set()
        waiters, self._waiters = self._waiters, []
        for _, _, waiter in waiters:
            if not waiter.done():
                waiter.set_exception(Stopping())

    async def _acquire(self, owner: Owner) -> None:
        if self._closed:
            raise Stopping
        if self._free and not self._waiters:
            self._grant(owner)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._seq += 1
        entry = (self._seq, owner, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except asyncio.CancelledError:
            if entry in self._waiters:
                self._waiters.remove(entry)
            elif not waiter.cancelled():
                self._release(owner)  # granted just as it was cancelled: hand the slot on
            raise

    def _grant(self, owner: Owner) -> None:
        self._free -= 1
        for level in range(1, len(owner) + 1):
            self._held[owner[:level]] += 1

    def _release(self, owner: Owner) -> None:
        for level in range(1, len(owner) + 1):
            self._held[owner[:level]] -= 1
            if not self._held[owner[:level]]:
                del self._held[owner[:level]]
        self._free += 1
        self._wake()

    def _rank(self, entry: tuple[int, Owner, asyncio.Future[None]]) -> tuple[int, ...]:
        seq, owner, _ = entry
        return (*(self._held[owner[:level]] for level in range(1, len(owner) + 1)), seq)

    def _wake(self) -> None:
        while self._free and self._waiters:
            entry = min(self._waiters, key=self._rank)
            self._waiters.remove(entry)
            _, owner, waiter = entry
            if waiter.done():
                continue
            self._grant(owner)
            waiter.set_result(None)


READY_BYTES = 2_000_000
"""Files up to this size take a turn to get ready (ReadyTurns)."""
MIN_READYING = 4
"""Turns to get ready there are at least: with few slots, a download that stalls must not
hold every other note back."""


class ReadyTurns:
    """Turns to get a note ready to send (download, probe, checks, its early upload): as many
    at once as there are slots (at least MIN_READYING), handed out fairly between chats as the
    slots are, so that in a burst the first notes are at Mistral within moments, not all of
    them late. A file over READY_BYTES, or of unknown size, takes no turn: a long download
    must not hold short notes back."""

    def __init__(self, slots: int) -> None:
        self._turns = FairSlots(max(slots, MIN_READYING))

    def turn(
        self, size: int | None, chat: Hashable
    ) -> contextlib.AbstractAsyncContextManager[object]:
        if size is None or size > READY_BYTES:
            return contextlib.nullcontext()
        return self._turns.hold((chat, object()))

    def close(self) -> None:
        """Stopping: whoever waits for a turn, and whoever asks later, gets Stopping."""
        self._turns.close()
