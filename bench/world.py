"""One scenario's world: the two fakes in this process, a bot as a child process.

The bot runs as operators start it, `python -m bot` with environment variables, so its CPU time
and peak memory are its own and can be read from /proc (Linux only). The naive baseline
(`python -m bench.naive`) runs the same way, with the same environment. Its database is a SQLite
file in the scenario's scratch folder, or PostgreSQL when given a URL (start_postgresql() starts
a throwaway server).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, bot_env, job_statuses
from tests.postgres import PostgresServer, find_binaries

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0
# Quotas must never refuse a benchmark note; the quota code still runs for every one.
UNLIMITED_QUOTA = 10**9
FIRST_USER_ID = 10_000
ROOT = Path(__file__).resolve().parent.parent  # the checkout: bench/ is not an installed package
VOXGRAM = "bot"
NAIVE = "bench.naive"


@dataclass(frozen=True)
class Usage:
    """CPU time and memory of a process, read from /proc."""

    cpu_seconds: float  # user + system, all threads
    rss: int  # bytes now
    peak_rss: int  # bytes, the most it ever held (VmHWM)


def usage_of(pid: int) -> Usage:
    """The process's CPU seconds so far, its RSS and its peak RSS."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # Fields after the command name, which may hold spaces: state is field 3, utime 14, stime 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    status: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    return Usage(
        cpu_seconds=cpu,
        rss=int(status["VmRSS"].split()[0]) * 1024,
        peak_rss=int(status["VmHWM"].split()[0]) * 1024,
    )


@dataclass
class World:
    """The fakes, the bot's process and the files of one scenario."""

    tg: FakeTelegram
    mistral: FakeMistral
    process: asyncio.subprocess.Process
    workdir: Path
    db: Db  # a SQLite file in workdir, or PostgreSQL when db.url is set
    log_path: Path

    def usage(self) -> Usage:
        return usage_of(self.process.pid)

    def users(self, count: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """`count` users, each with their private chat: (user, chat)."""
        pairs = []
        for n in range(count):
            user = self.tg.user(FIRST_USER_ID + n, f"User{n}")
            pairs.append((user, self.tg.private_chat(user)))
        return pairs

    async def wait_jobs_finished(self, count: int, timeout: float) -> list[str]:  # noqa: ASYNC109
        """Wait until `count` jobs are done or failed, reading the bot's database.

        Polling here only decides when to stop waiting: the times measured come from the
        requests the fakes recorded, not from when this loop noticed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            statuses = await asyncio.to_thread(job_statuses, self.db)
            finished = [s for s in statuses if s in ("done", "failed")]
            if len(finished) >= count:
                return statuses
            if loop.time() > deadline:
                raise TimeoutError(
                    f"jobs not finished in {timeout:.0f} s: {statuses}\n{self.tail()}"
                )
            await asyncio.sleep(0.2)

    def tail(self, lines: int = 30) -> str:
        """The end of the bot's log, for a report of what went wrong."""
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(["bot log (last lines):", *text[-lines:]])


@asynccontextmanager
async def world(
    *,
    latency: float,
    latency_per_audio_second: float = 0.0,
    local_mode: bool = False,
    module: str = VOXGRAM,
    database_url: str = "",
    **settings: int | str,
) -> AsyncIterator[World]:
    """Start the fakes and `python -m <module>` aimed at them; yields once it polls for updates.

    `module` is VOXGRAM (`bot`) or NAIVE (`bench.naive`); `database_url` a PostgreSQL database
    for the bot (DATABASE_URL; "" for a SQLite file); `settings` are the bot's environment
    variables (e.g. MAX_CONCURRENT_TRANSCRIPTIONS=16); the rest keep their defaults (live
    transcripts on), but for an unlimited quota.
    """
    with tempfile.TemporaryDirectory(prefix="voxgram-bench-") as tmp:
        workdir = Path(tmp)
        async with FakeTelegram(local_mode=local_mode) as tg, FakeMistral() as mistral:
            mistral.latency = latency
            mistral.latency_per_audio_second = latency_per_audio_second
            db = Db(workdir / "voxgram.sqlite3", database_url)
            values = {
                "DEFAULT_QUOTA_SECONDS": str(UNLIMITED_QUOTA),
                "TELEGRAM_LOCAL_MODE": "true" if local_mode else "false",
                "SHUTDOWN_GRACE_SECONDS": "5",
                # The bot's default (bot_env turns it off for the tests).
                "LIVE_TRANSCRIPTS": "true",
                **{name: str(value) for name, value in settings.items()},
            }
            env = bot_env(tg, mistral, db, **values)
            if module != VOXGRAM:
                env["PYTHONPATH"] = os.pathsep.join(
                    p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p
                )
            log_path = workdir / "bot.log"
            with log_path.open("wb") as log:
                # cwd is the scratch folder, so a developer's .env never leaks into the run.
                process = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", module, env=env, cwd=workdir, stdout=log, stderr=log
                )
            w = World(tg, mistral, process, workdir, db, log_path)
            try:
                await _wait_ready(w)
                yield w
            finally:
                await _stop(process)


async def _wait_ready(w: World) -> None:
    polling = asyncio.ensure_future(
        w.tg.wait_for(lambda: w.tg.calls("getUpdates"), timeout=READY_TIMEOUT)
    )
    exited = asyncio.ensure_future(w.process.wait())
    done, _ = await asyncio.wait({polling, exited}, return_when=asyncio.FIRST_COMPLETED)
    if exited in done:
        polling.cancel()
        raise RuntimeError(f"the bot exited with {w.process.returncode}\n{w.tail()}")
    exited.cancel()
    polling.result()


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()


class PostgresUnavailable(Exception):
    """No PostgreSQL server could be started: no binaries, or initdb or pg_ctl failed."""


def start_postgresql() -> PostgresServer:
    """A throwaway PostgreSQL server as the tests start one (tests/postgres.py: initdb and pg_ctl,
    as the `postgres` user when root, on a temporary folder and a free port); stop() removes it.
    Blocks for a few seconds."""
    binaries = find_binaries()
    if binaries is None:
        raise PostgresUnavailable("no PostgreSQL server binaries (initdb, pg_ctl)")
    server = PostgresServer(binaries)
    try:
        server.start()
    except (RuntimeError, OSError, LookupError, psycopg.Error) as exc:  # LookupError: no such user
        server.stop()
        raise PostgresUnavailable(str(exc)) from exc
    return server
