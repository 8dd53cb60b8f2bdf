"""Summaries and translations of retained transcripts: asked of Mistral's chat model in the
background, SUMMARIES_PER_DAY per user and UTC day (bot admins unlimited)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from bot.domain import digest
from storage import digests
from storage.db import Database

log = logging.getLogger(__name__)

MAX_ROUNDS = 3
"""Rounds of summaries of summaries; past them (answers that do not shrink) they are joined."""


class ChatModel(Protocol):
    async def chat(self, messages: list[dict[str, str]], *, model: str) -> str:
        """The model's answer to `messages`; raises a MistralError."""
        ...


@dataclass(frozen=True, slots=True)
class Ticket:
    """One press let through: counted on `day` once answered (None: an admin, not counted)."""

    user_id: int
    day: str | None


class Digests:
    """Holds a press before the work starts, counts it when Mistral answered, gives it back when
    not; the work runs as a background task, at most `concurrency` chat requests at a time."""

    def __init__(
        self,
        db: Database,
        chat: ChatModel,
        *,
        model: str,
        per_day: int,
        admins: frozenset[int],
        clock: Callable[[], float],
        budget: int = digest.BUDGET,
        concurrency: int = 4,
    ) -> None:
        self.db = db
        self.chat = chat
        self.model = model
        self.per_day = per_day
        self.admins = admins
        self.clock = clock
        self.budget = budget
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    def resets_at(self) -> datetime:
        """When the day's count starts again: the next 00:00 UTC."""
        return datetime.combine(self._now().date() + timedelta(days=1), datetime.min.time(), UTC)

    async def hold(self, user_id: int) -> Ticket | None:
        """Let a press through, held against today's count; None when today's are spent."""
        if user_id in self.admins:
            return Ticket(user_id, None)
        day = self._now().date().isoformat()
        if not await digests.hold(self.db, user_id, day, self.per_day):
            return None
        return Ticket(user_id, day)

    def run(
        self,
        ticket: Ticket,
        what: str,
        work: Callable[[], Awaitable[None]],
        failed: Callable[[], None],
    ) -> None:
        """Run `work` in the background: the press counts when it returns; when it raises, it is
        given back and `failed()` tells the user."""

        async def go() -> None:
            try:
                await work()
            except asyncio.CancelledError:
                await self._settle(ticket, counted=False)
                raise
            except Exception as exc:
                log.warning("user=%d %s failed: %s", ticket.user_id, what, type(exc).__name__)
                await self._settle(ticket, counted=False)
                failed()
                return
            await self._settle(ticket, counted=True)

        task = asyncio.create_task(go(), name=f"digest:{what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, ticket: Ticket, *, counted: bool) -> None:
        if ticket.day is None:
            return
        try:
            settle = digests.count if counted else digests.give_back
            await settle(self.db, ticket.user_id, ticket.day)
        except Exception:
            log.exception("user=%d digest count not settled", ticket.user_id)

    async def _ask(self, messages: digest.Messages) -> str:
        async with self._slots:
            return (await self.chat.chat(messages, model=self.model)).strip()

    async def summarize(self, lines: list[str], language: str) -> str:
        """A few lines about the transcript in `language`: a long one is summarized in parts
        of at most `budget` characters, then the parts' summaries as a whole."""
        summaries = [
            await self._ask(digest.summary_prompt("\n".join(part), language))
            for part in digest.parts(lines, self.budget)
        ]
        for _ in range(MAX_ROUNDS):
            if len(summaries) <= 1:
                break
            summaries = [
                await self._ask(digest.combined_prompt(group, language))
                for group in digest.parts(summaries, self.budget)
            ]
        return "\n".join(summaries)

    async def translate(self, lines: list[str], language: str) -> list[str]:
        """The text of each of `lines` ("m:ss text") in `language`, in parts of at most
        `budget` characters."""
        texts: list[str] = []
        for part in digest.parts(lines, self.budget, cut=False):
            answer = await self._ask(digest.translation_prompt(part, language))
            texts += digest.paired(part, answer)
        return texts

    async def close(self) -> None:
        """Cancel what still runs: its presses are given back."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
