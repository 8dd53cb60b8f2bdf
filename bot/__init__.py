"""Voxgram: a Telegram bot that transcribes voice notes with Mistral's Voxtral API."""

import os

# Durations as timedelta, the PTB 22.2+ behaviour (an int read warns otherwise).
os.environ.setdefault("PTB_TIMEDELTA", "1")
