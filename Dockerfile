# Voxgram: a wheel built in a first stage, installed alone in a slim, non-root image.

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    DATABASE_PATH=/data/voxgram.sqlite3
COPY --from=build /wheels /wheels
# Only the installed package: no source tree beside it for `python -m bot` to pick up instead.
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && useradd --create-home --uid 10001 voxgram \
    && mkdir -p /data && chown voxgram:voxgram /data
WORKDIR /home/voxgram
USER voxgram
VOLUME ["/data"]
# Healthy while the database opens and Telegram answered within 30 s (three long polls);
# `voxgram health` imports only the standard library and the settings: see "Operating it".
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 CMD ["voxgram", "health"]
# SIGTERM goes to PID 1, which is the bot itself: running jobs get SHUTDOWN_GRACE_SECONDS.
STOPSIGNAL SIGTERM
CMD ["voxgram"]
