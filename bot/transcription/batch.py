"""Mistral's batch API for transcriptions: create a job of inline requests, look at it, find it
by its metadata, cancel it, read its results (inline or from its output file).

The calls go through MistralClient's retries and typed errors; a batch costs half what the
same synchronous requests cost, and its results come only once the whole job has ended.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from bot.domain.transcript import Transcript
from bot.transcription.mistral import (
    MistralBadResponse,
    MistralClient,
    _parse_transcription,
)

log = logging.getLogger(__name__)

ENDPOINT = "/v1/audio/transcriptions"
ENDED = frozenset({"SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED"})
"""Statuses after which no line of the job runs any more."""
TIMEOUT_HOURS = 24
"""How long Mistral may take before it gives the job up (TIMEOUT_EXCEEDED)."""


@dataclass(frozen=True, slots=True)
class BatchJob:
    """The fields of a batch job the bot reads."""

    id: str
    status: str
    output_file: str | None
    error_file: str | None
    outputs: list[dict[str, Any]] | None

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    @classmethod
    def of(cls, body: Any) -> BatchJob:
        if not isinstance(body, dict) or not body.get("id") or not body.get("status"):
            raise MistralBadResponse("batch job answer lacks id or status")
        outputs = body.get("outputs")
        return cls(
            id=str(body["id"]),
            status=str(body["status"]),
            output_file=str(body["output_file"]) if body.get("output_file") else None,
            error_file=str(body["error_file"]) if body.get("error_file") else None,
            outputs=[o for o in outputs if isinstance(o, dict)]
            if isinstance(outputs, list)
            else None,
        )


def request_body(model: str, file_id: str, language: str | None) -> dict[str, Any]:
    """One line's body: the fields of a synchronous request, the audio named by its file id."""
    body: dict[str, Any] = {"model": model, "file_id": file_id}
    if language:
        # As synchronous requests: no timestamps with a pinned language (the API answers
        # an empty transcript for the two together).
        body["language"] = language
    else:
        body["timestamp_granularities"] = ["segment"]
    return body


class BatchClient:
    """The batch calls, on the MistralClient's connection, retries and errors."""

    def __init__(self, mistral: MistralClient) -> None:
        self.mistral = mistral
        self.model = mistral.model

    async def _json(self, what: str, method: str, url: str, **kwargs: Any) -> Any:
        http = self.mistral._http  # the client's connection pool, base URL and key

        async def send() -> httpx.Response:
            return await http.request(method, url, **kwargs)

        return await self.mistral._call(what, send)

    async def create(self, requests: list[dict[str, Any]], metadata: dict[str, str]) -> BatchJob:
        """Create one job of these `{custom_id, body}` requests, tagged with `metadata`."""
        payload = {
            "endpoint": ENDPOINT,
            "model": self.model,
            "requests": requests,
            "metadata": metadata,
            "timeout_hours": TIMEOUT_HOURS,
        }
        return BatchJob.of(await self._json("batch_create", "POST", "/v1/batch/jobs", json=payload))

    async def get(self, batch_id: str) -> BatchJob:
        """The job now, with its results inline once it has ended."""
        body = await self._json(
            "batch_get", "GET", f"/v1/batch/jobs/{batch_id}", params={"inline": "true"}
        )
        return BatchJob.of(body)

    async def find(self, metadata: dict[str, str]) -> BatchJob | None:
        """The newest job tagged with `metadata`, if Mistral has one."""
        body = await self._json(
            "batch_list",
            "GET",
            "/v1/batch/jobs",
            params={"metadata": json.dumps(metadata), "order_by": "-created"},
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise MistralBadResponse("batch job list holds no data")
        for item in data:
            if isinstance(item, dict) and all(
                (item.get("metadata") or {}).get(k) == v for k, v in metadata.items()
            ):
                return BatchJob.of(item)
        return None

    async def cancel(self, batch_id: str) -> BatchJob:
        return BatchJob.of(
            await self._json("batch_cancel", "POST", f"/v1/batch/jobs/{batch_id}/cancel")
        )

    async def content(self, file_id: str) -> bytes:
        """The content of a file (a job's output or error file)."""
        http = self.mistral._http

        async def send() -> httpx.Response:
            response = await http.get(f"/v1/files/{file_id}/content")
            if response.status_code == 200:
                # _call decodes JSON: hand it the bytes as a JSON string.
                return httpx.Response(200, json=response.text, request=response.request)
            return response

        text = await self.mistral._call("file_content", send)
        return str(text).encode()

    async def results(self, job: BatchJob, *, timestamps: bool) -> dict[str, Transcript]:
        """Each line that succeeded, by custom_id: inline outputs, else the output file's."""
        lines = job.outputs
        if lines is None and job.output_file is not None:
            raw = await self.content(job.output_file)
            lines = [json.loads(line) for line in raw.decode().splitlines() if line.strip()]
        found: dict[str, Transcript] = {}
        for line in lines or ():
            parsed = _line(line, timestamps)
            if parsed is not None:
                found[parsed[0]] = parsed[1]
        return found


def _line(line: Any, timestamps: bool) -> tuple[str, Transcript] | None:
    """(custom_id, transcript) of one result line that succeeded; None for any other."""
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        return None
    response = line.get("response")
    if not isinstance(response, dict) or response.get("status_code") != 200:
        return None
    body = response.get("body")
    if not isinstance(body, dict):
        return None
    try:
        return line["custom_id"], _parse_transcription(body, timestamps=timestamps)
    except MistralBadResponse:
        log.warning("batch line custom_id=%s malformed: sent again", line["custom_id"])
        return None
