"""Starting from the command line: settings errors and `voxgram transcribe`."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import pytest

from tests import media
from tests.fakes.mistral import FakeMistral
from tests.fakes.telegram import FakeTelegram
from tests.helpers import Db, bot_env, clean_env, expected_lines


async def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_missing_api_key_stops_with_one_line(tmp_path: Path) -> None:
    code, out, err = await run([], clean_env(TELEGRAM_BOT_TOKEN="1:x"), tmp_path)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert "MISTRAL_API_KEY" in err
    assert "Traceback" not in err + out


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("UPLOAD_MODE", "ftp"),
        ("MAX_CONCURRENT_TRANSCRIPTIONS", "many"),
        ("ADMIN_IDS", "1,two"),
        ("QUOTA_PERIOD", "week"),
        ("TELEGRAM_LOCAL_MODE", "perhaps"),
    ],
)
async def test_malformed_setting_is_named(tmp_path: Path, name: str, value: str) -> None:
    env = clean_env(TELEGRAM_BOT_TOKEN="1:x", MISTRAL_API_KEY="k", **{name: value})
    code, out, err = await run([], env, tmp_path)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert name in err
    assert "Traceback" not in err + out


async def test_webhook_mode_without_a_secret_does_not_start(tmp_path: Path) -> None:
    env = clean_env(
        TELEGRAM_BOT_TOKEN="1:x", MISTRAL_API_KEY="k", WEBHOOK_URL="https://bot.example.org/hook"
    )
    code, _, err = await run([], env, tmp_path)
    assert code == 2
    assert err.strip() == (
        "voxgram: setting WEBHOOK_SECRET is invalid: "
        "Value error, is required when WEBHOOK_URL is set"
    )


@pytest.mark.parametrize(
    "url",
    [
        "mysql://bot:s3cret-pw@db.example.org/voxgram",
        "postgresql://bot:s3cret-pw@db.example.org:port/voxgram",
        "postgresql://bot:s3cret-pw@db.example.org:5432/",
    ],
)
async def test_malformed_database_url_is_named_without_its_password(
    tmp_path: Path, url: str
) -> None:
    env = clean_env(TELEGRAM_BOT_TOKEN="1:x", MISTRAL_API_KEY="k", DATABASE_URL=url)
    code, out, err = await run([], env, tmp_path)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "DATABASE_URL" in err and "bot:***@db.example.org" in err
    assert "s3cret-pw" not in err + out
    assert "Traceback" not in err + out


async def test_unreachable_database_server_stops_the_start_with_one_line(
    tg: FakeTelegram, mistral: FakeMistral, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"postgresql://bot:s3cret-pw@127.0.0.1:{port}/voxgram"
    db_path = tmp_path / "data" / "voxgram.sqlite3"
    env = bot_env(tg, mistral, Db(db_path, url))
    code, out, err = await run([], env, tmp_path)
    assert code == 2
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(f"voxgram: cannot connect to postgresql://bot:***@127.0.0.1:{port}/")
    assert "s3cret-pw" not in err + out
    assert "Traceback" not in err + out
    assert not db_path.parent.exists()  # nothing written where SQLite would be


async def test_transcribe_prints_the_timestamped_transcript(
    mistral: FakeMistral, tmp_path: Path
) -> None:
    words, total = media.script(3, first_index=20)
    audio = tmp_path / "memo.mp3"
    audio.write_bytes(media.encode(media.speech(words, total), "mp3"))
    env = clean_env(MISTRAL_API_KEY=mistral.api_key, MISTRAL_API_URL=mistral.base_url)
    code, out, err = await run(["transcribe", str(audio)], env, tmp_path)
    assert code == 0, err
    assert out.splitlines() == expected_lines(words, mistral.vocabulary)
    assert mistral.live_files == set()


async def test_transcribe_with_a_wrong_key_says_so(mistral: FakeMistral, tmp_path: Path) -> None:
    data, _, _ = media.voice_note(1)
    audio = tmp_path / "note.ogg"
    audio.write_bytes(data)
    env = clean_env(MISTRAL_API_KEY="wrong-key", MISTRAL_API_URL=mistral.base_url)
    code, _, err = await run(["transcribe", str(audio)], env, tmp_path)
    assert code == 1
    assert "API key refused" in err
    assert "wrong-key" not in err
