"""The naive bot: the smallest python-telegram-bot program that walks Voxgram's flow for a note.

`python -m bench.naive`, aimed at the fakes as `python -m bot` is (TELEGRAM_BOT_TOKEN,
TELEGRAM_API_URL, MISTRAL_API_KEY, MISTRAL_API_URL). It is the benchmark's baseline: one
MessageHandler on voice notes, every update handled at once (`concurrent_updates(True)`, no bound
on Mistral calls), the file downloaded into memory, uploaded to Mistral's Files API
(purpose=audio), a signed URL taken, the transcription asked for with `file_url` and segment
timestamps, and the text sent back as a reply. No status message, no database, no quotas, no
retries, no pacing of Telegram messages, no deletion of the uploaded file.
"""

from __future__ import annotations

import io
import logging
import os

import httpx
from telegram import Update
from telegram.ext import Application, ContextTypes, MessageHandler, filters

MODEL = "voxtral-mini-latest"
TIMEOUT = httpx.Timeout(connect=10.0, read=600.0, write=120.0, pool=600.0)
UNBOUNDED = httpx.Limits(max_connections=None, max_keepalive_connections=None)


class Naive:
    """The bot's one dependency besides PTB: an httpx client for Mistral."""

    def __init__(self, base_url: str, api_key: str) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=TIMEOUT,
            limits=UNBOUNDED,
        )

    async def transcribe(self, audio: bytes) -> str:
        upload = await self.http.post(
            "/v1/files",
            data={"purpose": "audio"},
            files={"file": ("voice.ogg", audio, "audio/ogg")},
        )
        upload.raise_for_status()
        file_id = upload.json()["id"]
        signed = await self.http.get(f"/v1/files/{file_id}/url", params={"expiry": 1})
        signed.raise_for_status()
        answer = await self.http.post(
            "/v1/audio/transcriptions",
            data={
                "model": MODEL,
                "file_url": signed.json()["url"],
                "timestamp_granularities": ["segment"],
            },
        )
        answer.raise_for_status()
        return str(answer.json()["text"]).strip()

    async def on_voice(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message is None or message.voice is None:
            return
        buffer = io.BytesIO()
        voice_file = await message.voice.get_file()
        await voice_file.download_to_memory(buffer)
        text = await self.transcribe(buffer.getvalue())
        # Quoted, as a reply to the note: that is how the benchmark tells whose transcript it is.
        await message.reply_text(text or "…", do_quote=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    telegram_url = os.environ.get("TELEGRAM_API_URL", "https://api.telegram.org").rstrip("/")
    naive = Naive(
        os.environ.get("MISTRAL_API_URL", "https://api.mistral.ai").rstrip("/"),
        os.environ["MISTRAL_API_KEY"],
    )

    async def close(application: object) -> None:
        await naive.http.aclose()

    application = (
        Application.builder()
        .token(os.environ["TELEGRAM_BOT_TOKEN"])
        .base_url(f"{telegram_url}/bot")
        .base_file_url(f"{telegram_url}/file/bot")
        .concurrent_updates(True)
        .post_shutdown(close)
        .build()
    )
    application.add_handler(MessageHandler(filters.VOICE, naive.on_voice))
    application.run_polling(allowed_updates=[Update.MESSAGE])


if __name__ == "__main__":
    main()
