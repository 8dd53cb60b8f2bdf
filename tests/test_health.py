"""`voxgram health`: 0 while the bot hears from Telegram, non-zero when it
has not for longer than the window, or when the database does not open."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.conftest import RunBot
from tests.fakes.telegram import FakeTelegram
from tests.helpers import clean_env

# The window, shrunk: the bot under test long-polls with a 1 s timeout (10 s in production,
# where the window is 30 s), so a healthy bot's heartbeat is never older than about 1 s.
MAX_AGE = 3


async def health(db_path: Path, max_age: float = MAX_AGE, url: str = "") -> tuple[int, str]:
    """Run `python -m bot health` as the Docker HEALTHCHECK does; its exit code and words."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "health",
        "--max-age",
        str(max_age),
        env=clean_env(DATABASE_PATH=str(db_path), DATABASE_URL=url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def health_turns(db_path: Path, *, healthy: bool, deadline: float = 30) -> str:
    """Run the check until it gives the wanted verdict (or the deadline passes)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + deadline
    while True:
        code, said = await health(db_path)
        if (code == 0) == healthy:
            return said
        if loop.time() > until:
            raise AssertionError(f"health still says {code}: {said}")


async def test_health_is_ok_while_telegram_answers_and_fails_when_it_stops(
    tg: FakeTelegram, run_bot: RunBot, db_path: Path
) -> None:
    code, said = await health(db_path)
    assert code != 0
    assert "no database" in said
    async with run_bot():
        code, said = await health(db_path)
        assert code == 0, said
        assert said.startswith("voxgram health: ok")

        tg.stop_answering()
        said = await health_turns(db_path, healthy=False)
        assert "last answer from Telegram" in said
        # Telegram is back: so is the bot, without a restart.
        tg.answer_again()
        await health_turns(db_path, healthy=True)


async def test_health_fails_when_the_database_does_not_open(tmp_path: Path) -> None:
    broken = tmp_path / "voxgram.sqlite3"
    broken.write_bytes(b"this is not an SQLite database, whatever its name says" * 100)
    broken.with_name(broken.name + ".heartbeat").touch()  # even with a fresh heartbeat
    code, said = await health(broken)
    assert code != 0
    assert "database does not open" in said


async def test_the_check_loads_no_heavy_library(tmp_path: Path) -> None:
    """A container runs the check every 30 s: it must not import the bot's I/O libraries."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['voxgram', 'health', '--max-age', '1']\n"
        "try:\n"
        "    runpy.run_module('bot', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('telegram', 'av', 'numpy', 'httpx', 'psycopg', 'tenacity', 'srt')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        probe,
        env=clean_env(DATABASE_PATH=str(tmp_path / "voxgram.sqlite3")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert out.decode().strip().splitlines()[-1] == "[]"
