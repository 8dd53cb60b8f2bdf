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
CMD ["python", "-m", "bot"]
