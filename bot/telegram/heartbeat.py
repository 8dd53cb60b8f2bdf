"""The getUpdates client that reports every successful poll (a heartbeat for health checks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from telegram.request import HTTPXRequest


class PollRequest(HTTPXRequest):
    """The HTTP client of getUpdates alone: every successful poll is a heartbeat."""

    def __init__(self, on_success: Callable[[], None]) -> None:
        super().__init__(connection_pool_size=1)  # what PTB gives getUpdates by default
        self._on_success = on_success

    async def do_request(self, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        code, payload = await super().do_request(*args, **kwargs)
        if code == 200:
            self._on_success()
        return code, payload
