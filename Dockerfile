# Voxgram: slim Python, non-root, SQLite on the /data volume.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/voxgram.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install . && useradd --create-home --uid 10001 voxgram \
    && mkdir -p /data && chown voxgram:voxgram /data

USER voxgram
VOLUME ["/data"]
# Healthy while the database opens and Telegram answered within 30 s (three long polls);
# see "Operating it" in the README.
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["voxgram", "health"]
CMD ["python", "-m", "bot"]
