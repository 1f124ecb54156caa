"""A Python client of ``segflow serve``, sync and async, on httpx.

    from segflow.client import Client
    with Client("http://box:8765", token) as client:
        result = client.run("coffee-stones", "frame.png")[0]
        stones = result.detections()
        pipeline = client.start(workflow="coffee-stones")
        for event in client.events(pipeline.id):
            ...

Images are paths, encoded bytes, or numpy arrays (encoded as PNG here).
Answers are typed (:mod:`segflow.client.models`); a server error is raised as
:class:`ServerError` with the server's own message and status.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx

from segflow.client.models import ImageResult, PipelineInfo, ReloadResult, RunResponse, UpdateResult, WorkflowInfo

TIMEOUT = httpx.Timeout(300.0, connect=10.0)
Image = str | Path | bytes | Any


class ServerError(Exception):
    """The server refused or failed a request; ``str()`` is the server's message."""

    def __init__(self, status: int, message: str, issues: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.issues = issues or []


def _check(response: httpx.Response) -> httpx.Response:
    if response.is_success:
        return response
    try:
        body = response.json()
        message, issues = str(body.get("error", body)), body.get("issues", [])
    except ValueError:
        message, issues = response.text or response.reason_phrase, []
    if issues:
        message += "\n" + "\n".join(i.get("text", str(i)) for i in issues)
    raise ServerError(response.status_code, f"{response.status_code}: {message}", issues)


def _encoded(image: Image, index: int) -> tuple[str, bytes, str]:
    if isinstance(image, (str, Path)):
        path = Path(image)
        return path.name, path.read_bytes(), "application/octet-stream"
    if isinstance(image, (bytes, bytearray)):
        return f"image-{index}", bytes(image), "application/octet-stream"
    import cv2  # a numpy array: BGR pixels, as OpenCV and segflow hold them

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise ValueError(f"image {index}: cannot encode the array as PNG")
    return f"image-{index}.png", data.tobytes(), "image/png"


def _run_form(images: Image | list[Image], inputs: dict[str, Any] | None, annotated: bool) -> dict[str, Any]:
    many = images if isinstance(images, list) else [images]
    return {"files": [("image", _encoded(img, i)) for i, img in enumerate(many)],
            "data": {"inputs": json.dumps(inputs or {}), "annotated": "true" if annotated else "false"}}


class _EventParser:
    """Server-sent events, line by line: :meth:`feed` returns an event once its blank line arrives."""

    END: dict[str, Any] = {}

    def __init__(self) -> None:
        self.name, self.data = "", ""

    def feed(self, line: str) -> dict[str, Any] | None:
        if line.startswith("event:"):
            self.name = line[6:].strip()
        elif line.startswith("data:"):
            self.data += line[5:].strip()
        elif not line and self.name:
            name, data = self.name, self.data
            self.name, self.data = "", ""
            return self.END if name == "end" else dict(json.loads(data))
        return None


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _start_body(workflow: str | None, yaml: str | None, inputs: dict[str, Any] | None) -> dict[str, Any]:
    return {"workflow": workflow, "yaml": yaml, "inputs": inputs or {}}


class Client:
    """Blocking client; use as a context manager or call :meth:`close`."""

    def __init__(self, url: str, token: str | None = None, timeout: httpx.Timeout | float = TIMEOUT) -> None:
        self.http = httpx.Client(base_url=url, headers=_headers(token), timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def health(self) -> dict[str, Any]:
        return dict(_check(self.http.get("/healthz")).json())

    def workflows(self) -> list[WorkflowInfo]:
        return [WorkflowInfo.model_validate(w) for w in _check(self.http.get("/workflows")).json()]

    def reload(self, workflow: str) -> ReloadResult:
        """Have the server load the workflow's file again (a bad version raises ServerError, located)."""
        return ReloadResult.model_validate(_check(self.http.post(f"/workflows/{workflow}/reload")).json())

    def run(self, workflow: str, images: Image | list[Image], inputs: dict[str, Any] | None = None,
            annotated: bool = False) -> list[ImageResult]:
        """Run a served workflow on one image or several; one result per image, in order."""
        response = self.http.post(f"/workflows/{workflow}/run", **_run_form(images, inputs, annotated))
        return RunResponse.model_validate(_check(response).json()).results

    def start(self, workflow: str | None = None, yaml: str | None = None,
              inputs: dict[str, Any] | None = None) -> PipelineInfo:
        response = self.http.post("/pipelines", json=_start_body(workflow, yaml, inputs))
        return PipelineInfo.model_validate(_check(response).json())

    def pipelines(self) -> list[PipelineInfo]:
        return [PipelineInfo.model_validate(p) for p in _check(self.http.get("/pipelines")).json()]

    def get(self, pipeline_id: str) -> PipelineInfo:
        return PipelineInfo.model_validate(_check(self.http.get(f"/pipelines/{pipeline_id}")).json())

    def update(self, pipeline_id: str, yaml: str) -> UpdateResult:
        response = self.http.put(f"/pipelines/{pipeline_id}", json={"yaml": yaml})
        return UpdateResult.model_validate(_check(response).json())

    def stop(self, pipeline_id: str) -> PipelineInfo:
        return PipelineInfo.model_validate(_check(self.http.delete(f"/pipelines/{pipeline_id}")).json())

    def events(self, pipeline_id: str) -> Iterator[dict[str, Any]]:
        """Each finished frame's record until the pipeline ends (or the caller stops iterating)."""
        with self.http.stream("GET", f"/pipelines/{pipeline_id}/events", timeout=httpx.Timeout(None)) as response:
            if not response.is_success:
                response.read()
                _check(response)
            parser = _EventParser()
            for line in response.iter_lines():
                event = parser.feed(line)
                if event is parser.END:
                    return
                if event is not None:
                    yield event


class AsyncClient:
    """The same calls, awaitable; ``async with AsyncClient(url, token) as client``."""

    def __init__(self, url: str, token: str | None = None, timeout: httpx.Timeout | float = TIMEOUT) -> None:
        self.http = httpx.AsyncClient(base_url=url, headers=_headers(token), timeout=timeout)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.http.aclose()

    async def health(self) -> dict[str, Any]:
        return dict(_check(await self.http.get("/healthz")).json())

    async def reload(self, workflow: str) -> ReloadResult:
        return ReloadResult.model_validate(_check(await self.http.post(f"/workflows/{workflow}/reload")).json())

    async def run(self, workflow: str, images: Image | list[Image], inputs: dict[str, Any] | None = None,
                  annotated: bool = False) -> list[ImageResult]:
        response = await self.http.post(f"/workflows/{workflow}/run", **_run_form(images, inputs, annotated))
        return RunResponse.model_validate(_check(response).json()).results

    async def start(self, workflow: str | None = None, yaml: str | None = None,
                    inputs: dict[str, Any] | None = None) -> PipelineInfo:
        response = await self.http.post("/pipelines", json=_start_body(workflow, yaml, inputs))
        return PipelineInfo.model_validate(_check(response).json())

    async def pipelines(self) -> list[PipelineInfo]:
        return [PipelineInfo.model_validate(p) for p in _check(await self.http.get("/pipelines")).json()]

    async def get(self, pipeline_id: str) -> PipelineInfo:
        return PipelineInfo.model_validate(_check(await self.http.get(f"/pipelines/{pipeline_id}")).json())

    async def update(self, pipeline_id: str, yaml: str) -> UpdateResult:
        response = await self.http.put(f"/pipelines/{pipeline_id}", json={"yaml": yaml})
        return UpdateResult.model_validate(_check(response).json())

    async def stop(self, pipeline_id: str) -> PipelineInfo:
        return PipelineInfo.model_validate(_check(await self.http.delete(f"/pipelines/{pipeline_id}")).json())

    async def events(self, pipeline_id: str) -> AsyncIterator[dict[str, Any]]:
        async with self.http.stream("GET", f"/pipelines/{pipeline_id}/events",
                                    timeout=httpx.Timeout(None)) as response:
            if not response.is_success:
                await response.aread()
                _check(response)
            parser = _EventParser()
            async for line in response.aiter_lines():
                event = parser.feed(line)
                if event is parser.END:
                    return
                if event is not None:
                    yield event


__all__ = ["AsyncClient", "Client", "ImageResult", "PipelineInfo", "ReloadResult", "ServerError", "UpdateResult"]
