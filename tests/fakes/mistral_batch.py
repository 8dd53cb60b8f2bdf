"""The fake Mistral's batch API: `/v1/batch/jobs` as the spec describes it.

A job is created with inline `requests` or `input_files` (.jsonl files of purpose `batch`, one
`{custom_id, body}` per line) for the endpoint `/v1/audio/transcriptions`. It stays `QUEUED`
for `queued_seconds`, then `RUNNING`: each line is really transcribed, in order, by the fake's
own transcription logic on the audio its `file_id` (or signed `file_url`) names — a file deleted
meanwhile fails its line with 404. After `running_seconds` more it ends with `outcome`:
`SUCCESS` (every line run), `FAILED` (no line run) or `TIMEOUT_EXCEEDED` (only the first
`lines_before_timeout` lines run). `lose` names custom_ids whose lines fail with a 500.

An ended job has an `output_file` (JSONL `{id, custom_id, response{status_code, body},
error}` of the lines that succeeded) and, when lines failed, an `error_file` (the others);
both are files of purpose `batch` the client must delete. `GET /v1/batch/jobs/{id}?inline=true`
gives every line in `outputs` once the job has ended. The list filters by `metadata` (a JSON
object in the query) and `status`; cancel moves a job that has not ended to `CANCELLED`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from tests.fakes.mistral import FakeMistral

ENDED = ("SUCCESS", "FAILED", "TIMEOUT_EXCEEDED", "CANCELLED")
ENDPOINTS = (
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/fim/completions",
    "/v1/moderations",
    "/v1/chat/moderations",
    "/v1/ocr",
    "/v1/classifications",
    "/v1/audio/transcriptions",
)


@dataclass
class FakeBatchJob:
    """One batch job as the fake keeps it."""

    id: str
    endpoint: str
    model: str | None
    metadata: dict[str, str] | None
    input_files: list[str]
    requests: list[dict[str, Any]]
    created_at: int
    status: str = "QUEUED"
    started_at: int | None = None
    completed_at: int | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    output_file: str | None = None
    error_file: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)

    def body(self, *, inline: bool) -> dict[str, Any]:
        succeeded = sum(1 for line in self.lines if line["error"] is None)
        return {
            "id": self.id,
            "object": "batch",
            "input_files": self.input_files,
            "metadata": self.metadata,
            "endpoint": self.endpoint,
            "model": self.model,
            "agent_id": None,
            "output_file": self.output_file,
            "error_file": self.error_file,
            "errors": self.errors,
            "outputs": list(self.lines) if inline and self.status in ENDED else None,
            "status": self.status,
            "created_at": self.created_at,
            "total_requests": len(self.requests),
            "completed_requests": len(self.lines),
            "succeeded_requests": succeeded,
            "failed_requests": len(self.lines) - succeeded,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
        }


class FakeBatches:
    """The batch routes of one FakeMistral, and the knobs tests turn."""

    def __init__(self, mistral: FakeMistral) -> None:
        self.mistral = mistral
        self.queued_seconds = 0.0
        self.running_seconds = 0.0
        self.outcome = "SUCCESS"
        self.lines_before_timeout = 1
        self.lose: set[str] = set()
        self.jobs: dict[str, FakeBatchJob] = {}
        self.created: list[FakeBatchJob] = []
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/batch/jobs", self._create)
        app.router.add_get("/v1/batch/jobs", self._list)
        app.router.add_get("/v1/batch/jobs/{job_id}", self._get)
        app.router.add_post("/v1/batch/jobs/{job_id}/cancel", self._cancel)

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _create(self, request: web.Request) -> web.Response:
        from tests.fakes.mistral import _error, _validation_error

        try:
            body = await request.json()
        except ValueError:
            return _validation_error(["body"], "JSON decode error", "json_invalid", None)
        if not isinstance(body, dict):
            return _validation_error(["body"], "Input should be an object", "dict_type", body)
        endpoint = body.get("endpoint")
        if endpoint not in ENDPOINTS:
            return _validation_error(
                ["body", "endpoint"], "Input should be an endpoint", "enum", endpoint
            )
        metadata = body.get("metadata")
        if metadata is not None and (
            not isinstance(metadata, dict)
            or not all(isinstance(v, str) and 0 < len(v) <= 512 for v in metadata.values())
            or not all(0 < len(k) <= 32 for k in metadata)
        ):
            return _validation_error(
                ["body", "metadata"], "Invalid metadata", "value_error", metadata
            )
        requests = body.get("requests")
        input_files = body.get("input_files") or []
        if (requests is None) == (not input_files):
            return _validation_error(
                ["body"], "Give one of requests and input_files", "value_error", None
            )
        if input_files:
            requests = []
            for file_id in input_files:
                if file_id not in self.mistral.live_files:
                    return _error(404, f"File {file_id} not found", "invalid_request_file", "3311")
                if self.mistral.upload_purposes[file_id] != "batch":
                    return _error(
                        400, "Input files must have purpose batch", "invalid_request_file", "3312"
                    )
                for line in self.mistral.uploads[file_id].decode().splitlines():
                    if line.strip():
                        requests.append(json.loads(line))
        if (
            not isinstance(requests, list)
            or not 0 < len(requests) <= 10000
            or not all(isinstance(r, dict) and isinstance(r.get("body"), dict) for r in requests)
        ):
            return _validation_error(["body", "requests"], "Invalid requests", "value_error", None)
        job = FakeBatchJob(
            id=str(uuid.uuid4()),
            endpoint=str(endpoint),
            model=body.get("model"),
            metadata=metadata,
            input_files=list(input_files),
            requests=requests,
            created_at=int(time.time()),
        )
        self.jobs[job.id] = job
        self.created.append(job)
        self._tasks[job.id] = asyncio.create_task(self._run(job))
        return web.json_response(job.body(inline=False))

    async def _run(self, job: FakeBatchJob) -> None:
        await asyncio.sleep(self.queued_seconds)
        job.status, job.started_at = "RUNNING", int(time.time())
        await self.mistral._notify()
        outcome = self.outcome
        runs = {"SUCCESS": len(job.requests), "FAILED": 0}.get(outcome, self.lines_before_timeout)
        for request in job.requests[:runs]:
            job.lines.append(await self._line(job, request))
        await asyncio.sleep(self.running_seconds)
        if outcome == "FAILED":
            job.errors.append({"message": "Batch job failed", "count": 1})
        self._end(job, outcome)

    def _end(self, job: FakeBatchJob, status: str) -> None:
        ok = [line for line in job.lines if line["error"] is None]
        failed = [line for line in job.lines if line["error"] is not None]
        if ok:
            job.output_file = self._file(job, ok, "output")
        if failed:
            job.error_file = self._file(job, failed, "error")
        job.status, job.completed_at = status, int(time.time())

    def _file(self, job: FakeBatchJob, lines: list[dict[str, Any]], kind: str) -> str:
        data = "".join(json.dumps(line) + "\n" for line in lines).encode()
        file_id = str(uuid.uuid4())
        m = self.mistral
        m.uploads[file_id] = data
        m.upload_purposes[file_id] = "batch"
        m.upload_filenames[file_id] = f"{job.id}_{kind}.jsonl"
        m._created[file_id] = int(time.time())
        m.live_files.add(file_id)
        return file_id

    async def _line(self, job: FakeBatchJob, request: dict[str, Any]) -> dict[str, Any]:
        from tests.fakes.mistral import TranscriptionCall

        custom_id = request.get("custom_id")
        line_id = f"batchreq-{uuid.uuid4()}"
        if custom_id in self.lose:
            body = {"object": "error", "message": "Internal server error", "code": "3000"}
            return _result(line_id, custom_id, 500, body)
        texts = _as_form(request["body"])
        texts.setdefault("model", [job.model or ""])
        texts.pop("stream", None)
        call = TranscriptionCall({}, None, "", None, None, 0)
        self.mistral.batch_transcriptions.append(call)
        sources = self.mistral._sources(texts, {}, call)
        response = await self.mistral._answer(texts, sources, call, None)
        assert isinstance(response, web.Response) and response.text is not None
        call.status = response.status
        return _result(line_id, custom_id, response.status, json.loads(response.text))

    async def _get(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"detail": "Batch job not found"}, status=404)
        inline = request.query.get("inline", "false").lower() in ("1", "true")
        return web.json_response(job.body(inline=inline))

    async def _list(self, request: web.Request) -> web.Response:
        jobs = list(self.jobs.values())
        raw = request.query.get("metadata")
        if raw:
            wanted = json.loads(raw)
            jobs = [
                j for j in jobs if all((j.metadata or {}).get(k) == v for k, v in wanted.items())
            ]
        statuses = request.query.getall("status", [])
        if statuses:
            jobs = [j for j in jobs if j.status in statuses]
        reverse = request.query.get("order_by", "-created") == "-created"
        jobs.sort(key=lambda j: (j.created_at, self.created.index(j)), reverse=reverse)
        data = [j.body(inline=False) for j in jobs]
        return web.json_response({"data": data, "object": "list", "total": len(data)})

    async def _cancel(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return web.json_response({"detail": "Batch job not found"}, status=404)
        if job.status not in ENDED:
            task = self._tasks.get(job.id)
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._end(job, "CANCELLED")
        return web.json_response(job.body(inline=False))


def _result(line_id: str, custom_id: Any, status: int, body: Any) -> dict[str, Any]:
    error = None if status == 200 else {"message": str(body.get("message", "")), "code": status}
    return {
        "id": line_id,
        "custom_id": custom_id,
        "response": {"status_code": status, "body": body},
        "error": error,
    }


def _as_form(body: dict[str, Any]) -> dict[str, list[str]]:
    """A JSON request body as the form fields a synchronous request would send."""
    texts: dict[str, list[str]] = {}
    for key, value in body.items():
        values = value if isinstance(value, list) else [value]
        texts[key] = [("true" if v else "false") if isinstance(v, bool) else str(v) for v in values]
    return texts
