"""What the job runtime needs from the messenger, as protocols: the Telegram side implements
them, so jobs/ never imports telegram."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from bot.domain.transcript import Transcript
from storage.job_rows import Job


class DownloadTooBig(Exception):
    """The messenger refuses to hand over a file this big."""


class DownloadFailed(Exception):
    """The file could not be fetched (after retries)."""


class DeliveryDeferred(Exception):
    """The messenger cannot take the message now (flood control, a 5xx, a timeout, a dropped
    connection): try again later."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        """Seconds the messenger asked to wait; None when it did not say."""


class DeliveryRefused(Exception):
    """The messenger refused the message for good: retrying it would not help."""

    def __init__(self, reason: str, *, gone: bool) -> None:
        super().__init__(reason)
        self.gone = gone
        """Nobody is there to read it: the bot was blocked or removed, or the chat is gone."""


class Downloader(Protocol):
    async def download(self, file_id: str, dest: Path) -> Path:
        """The file at `dest` (or where it already lies on this machine); raises DownloadTooBig
        or DownloadFailed."""
        ...

    def discard(self, path: Path) -> None:
        """Delete a file `download` returned in place (not at `dest`): the job is over."""
        ...


class Progress(Protocol):
    def update(self, done: int, total: int) -> None:
        """`done` of `total` parts are transcribed; shown when it is worth an edit."""
        ...

    async def settle(self) -> None:
        """Wait for a progress edit in flight, so none lands on top of what follows."""
        ...


class Preview(Protocol):
    """The transcript shown while it is being made, as a courtesy: never waited for."""

    def show(self, partial: Transcript) -> None:
        """`partial` is what is transcribed so far; shown when the messenger can take it."""
        ...

    def close(self) -> None:
        """The transcript is made (or failed): drop what is pending, at once."""
        ...


class Delivery(Protocol):
    """Everything a job says to its chat."""

    def progress(self, job: Job) -> Progress: ...

    def preview(self, job: Job) -> Preview | None:
        """The live preview of the job's transcript, where it has one (None: the transcript
        need not be streamed)."""
        ...

    async def deliver(
        self, job: Job, transcript: Transcript | None, retained_id: int | None
    ) -> None:
        """Send what of the transcript (None: nothing was heard) has not gone out yet, with
        buttons for `retained_id`; raises DeliveryDeferred or DeliveryRefused. Which parts went
        out is remembered until forget(job.id), so the next call goes on from there."""
        ...

    async def announce(self, job: Job, text: str) -> None:
        """Show `text` in the job's status message (a batch's wait), if it has one."""
        ...

    async def report(self, job: Job, reply: str) -> None:
        """Tell the job's chat why it failed (quiet in a group's auto mode)."""
        ...

    def forget(self, job_id: int) -> None:
        """The job has ended in this process."""
        ...
