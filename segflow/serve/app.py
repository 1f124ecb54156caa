"""The HTTP API of ``segflow serve`` (FastAPI on uvicorn); OpenAPI at ``/docs`` and ``/openapi.json``.

Every answer that is not a success is JSON with an ``error`` that says why
(and, for an invalid workflow, every located ``issue``); a bad request never
takes the server down, and no answer or log line shows a secret
(:func:`segflow.engine.masking.mask`). The bearer token, body size, pixel count
and concurrency are checked by :mod:`segflow.serve.guard` before a route runs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from segflow.client.models import (
    ImageResult,
    PipelineInfo,
    PipelineRequest,
    PipelineUpdate,
    ReloadResult,
    RunRequest,
    RunResponse,
    UpdateResult,
    WorkflowInfo,
)
from segflow.engine.api import Workflow, loads
from segflow.engine.masking import mask
from segflow.engine.observe.exposition import Family, render
from segflow.engine.workflow.issues import WorkflowError
from segflow.serve.batched import RunEnded
from segflow.serve.config import ServeConfig
from segflow.serve.guard import Guard
from segflow.serve.images import BadImage, decode, from_base64, jpeg, jpeg_base64
from segflow.serve.pipelines import Pipeline, Pipelines
from segflow.serve.served import NotReloaded, Served
from segflow.serve.stand_ins import Result
from segflow.serve.watch import Watcher

log = logging.getLogger("segflow")
PREVIEW_PERIOD_S = 0.2  # the MJPEG preview sends at most 5 images a second
RETRY_AFTER_S = 1  # what a 429 tells a client to wait: requests here take about that long


def create_app(config: ServeConfig) -> FastAPI:
    runs = {wf.name: Served(wf) for wf in config.workflows}
    pipelines = Pipelines()
    busy = asyncio.Semaphore(config.max_concurrent)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        for served in runs.values():  # models load before the first request is taken
            if served.workflow.graph.bound:
                await asyncio.to_thread(served.run_for, {})
        watcher = Watcher(runs.values(), config.watch_s)
        if config.watch_s > 0:
            watcher.start()
        try:
            yield
        finally:
            await asyncio.to_thread(watcher.close)
            await asyncio.to_thread(pipelines.stop_all)
            for served in runs.values():
                await asyncio.to_thread(served.stop)

    app = FastAPI(title="segflow serve", version="1", lifespan=lifespan,
                  description="Run segflow workflows on images; start, watch, change and stop pipelines.")
    app.add_middleware(Guard, token=config.token, max_body=config.max_body_bytes)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        body = exc.detail if isinstance(exc.detail, dict) else {"error": mask(str(exc.detail))}
        return JSONResponse(body, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"error": mask(f"invalid request: {problems}")}, 422)

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s: %s", type(exc).__name__, exc)
        return JSONResponse({"error": mask(f"internal error: {type(exc).__name__}: {exc}")}, 500)

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        """Alive (no token needed): the served workflows and the pipelines' states."""
        return {"status": "ok", "workflows": sorted(runs),
                "pipelines": {p.id: p.state for p in pipelines.running.values()}}

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    async def metrics() -> str:
        """Prometheus metrics of every served workflow and pipeline (labelled by ``run``)."""
        merged: dict[str, Family] = {}
        monitors = [(f"workflow:{n}{'' if key == '{}' else ' ' + key}", r.monitor)
                    for n, served in runs.items() for key, r in served.runs()]
        monitors += [(f"pipeline:{p.id}", p.monitor) for p in pipelines.running.values()]
        for label, monitor in monitors:
            for family in monitor.families():
                into = merged.setdefault(family.name, Family(family.name, family.kind, family.help))
                into.samples.extend((n, {"run": label, **labels}, v) for n, labels, v in family.samples)
        return render(merged.values())

    @app.get("/workflows", tags=["images"])
    async def workflows() -> list[WorkflowInfo]:
        return [WorkflowInfo(name=n, file=s.workflow.file, description=s.workflow.graph.description or "",
                             inputs={k: v.model_dump() for k, v in s.workflow.inputs.items()},
                             version=s.version, setups=dict(s.setups), reload_error=s.reload_error)
                for n, s in runs.items()]

    @app.post("/workflows/{name}/reload", tags=["images"])
    async def reload(name: str) -> ReloadResult:
        """Load the workflow's file again: only changed nodes are set up; a bad version leaves the old one serving."""
        served = served_named(name)
        try:
            done = await asyncio.to_thread(served.reload_file)
        except WorkflowError as exc:
            raise invalid(exc, "the previous version keeps serving") from exc
        except NotReloaded as exc:
            raise HTTPException(422, str(exc)) from exc
        return ReloadResult(workflow=name, version=served.version, changed=done.changed, removed=done.removed,
                            set_up=done.set_up, kept=done.kept, runs=done.runs)

    def served_named(name: str) -> Served:
        served = runs.get(name)
        if served is None:
            names = ", ".join(sorted(runs)) or "none"
            raise HTTPException(404, f"no workflow '{name}' is served here (served: {names})")
        return served

    @app.post("/workflows/{name}/run", tags=["images"], response_model=RunResponse,
              openapi_extra={"requestBody": {"content": {
                  "application/json": {"schema": RunRequest.model_json_schema()},
                  "multipart/form-data": {"schema": {"type": "object", "properties": {
                      "image": {"type": "array", "items": {"type": "string", "format": "binary"}},
                      "inputs": {"type": "string", "description": "JSON object"},
                      "annotated": {"type": "boolean"}}}}}}})
    async def run_images(name: str, request: Request) -> RunResponse:
        """Push one or more images through a served workflow: per image, the records its sinks would write."""
        served = served_named(name)
        encoded, inputs, annotated = await read_run_request(request, config.max_images)
        check_inputs(served.workflow, inputs)
        if busy.locked():
            raise HTTPException(429, f"the server is running {config.max_concurrent} requests already; retry shortly",
                                headers={"Retry-After": str(RETRY_AFTER_S)})
        async with busy:
            try:
                futures = await asyncio.to_thread(decode_and_submit, served, inputs, encoded, config.max_pixels)
                done = [await asyncio.wait_for(asyncio.wrap_future(f), config.request_timeout_s) for f in futures]
            except BadImage as exc:
                raise HTTPException(422, str(exc)) from exc
            except WorkflowError as exc:
                raise invalid(exc) from exc
            except RunEnded as exc:
                raise HTTPException(503, f"workflow '{name}' stopped: {exc}") from exc
            except TimeoutError as exc:
                raise HTTPException(504, f"no result within {config.request_timeout_s:g} s") from exc
        results = [ImageResult(index=i, records=r.records, errors=r.errors,
                               annotated={s: jpeg_base64(p) for s, p in r.images.items()} if annotated else {})
                   for i, r in enumerate(done)]
        return RunResponse(workflow=name, results=results)

    # --- pipelines ----------------------------------------------------------------------------
    def pipeline(pid: str) -> Pipeline:
        found = pipelines.running.get(pid)
        if found is None:
            raise HTTPException(404, f"no pipeline '{pid}' (pipelines: {', '.join(pipelines.running) or 'none'})")
        return found

    def workflow_of(body: PipelineRequest | PipelineUpdate, file: str,
                    inputs: dict[str, Any] | None = None) -> tuple[Workflow, str]:
        text = getattr(body, "yaml", None)
        try:
            if text is None:
                served = runs.get(getattr(body, "workflow", None) or "")
                if served is None:
                    raise HTTPException(422, "give 'yaml' (a workflow) or 'workflow' (the name of a served one; "
                                             f"served: {', '.join(sorted(runs)) or 'none'})")
                check_inputs(served.workflow, inputs or {})
                return served.workflow.with_inputs(inputs or {}), served.workflow.text
            workflow = loads(text, file=file, base_dir=config.base_dir)
            check_inputs(workflow, inputs or {})
            return (workflow.with_inputs(inputs) if inputs else workflow), text
        except WorkflowError as exc:
            raise invalid(exc) from exc

    @app.post("/pipelines", tags=["pipelines"], status_code=201)
    async def start_pipeline(body: PipelineRequest) -> PipelineInfo:
        """Start a workflow on its own sources."""
        workflow, text = workflow_of(body, "<request>", body.inputs)
        return PipelineInfo(**pipelines.start(workflow, text).describe())

    @app.get("/pipelines", tags=["pipelines"])
    async def list_pipelines() -> list[PipelineInfo]:
        return [PipelineInfo(**p.describe()) for p in pipelines.running.values()]

    @app.get("/pipelines/{pid}", tags=["pipelines"])
    async def get_pipeline(pid: str) -> PipelineInfo:
        """State, per-node metrics and source health."""
        return PipelineInfo(**pipeline(pid).describe())

    @app.put("/pipelines/{pid}", tags=["pipelines"])
    async def update_pipeline(pid: str, body: PipelineUpdate) -> UpdateResult:
        """Change a running pipeline: validated first (422 with located issues), then live or drain-and-resume."""
        found = pipeline(pid)
        workflow, text = workflow_of(body, f"<pipeline {pid}>")
        change = await asyncio.to_thread(found.update, workflow, text)
        return UpdateResult(how=change.how, nodes=change.nodes, pipeline=PipelineInfo(**found.describe()))

    @app.delete("/pipelines/{pid}", tags=["pipelines"])
    async def stop_pipeline(pid: str) -> PipelineInfo:
        """Stop the sources and drain: every frame read reaches the sinks before this answers."""
        found = pipeline(pid)
        await asyncio.to_thread(found.stop)
        return PipelineInfo(**found.describe())

    @app.get("/pipelines/{pid}/events", tags=["pipelines"])
    async def events(pid: str, request: Request) -> StreamingResponse:
        """Server-sent events: one ``result`` event per finished frame (its per-frame record), ``end`` at the end."""
        found = pipeline(pid)
        subscriber = found.results.subscribe()

        async def stream() -> AsyncIterator[str]:
            try:
                yield ": connected\n\n"
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.to_thread(subscriber.get, True, 1.0)
                    except queue.Empty:
                        if not found.thread.is_alive():
                            break
                        yield ": keep-alive\n\n"
                        continue
                    if event is None:
                        break
                    yield f"event: result\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"
                yield "event: end\ndata: {}\n\n"
            finally:
                found.results.unsubscribe(subscriber)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/pipelines/{pid}/preview", tags=["pipelines"])
    async def preview(pid: str, request: Request) -> StreamingResponse:
        """MJPEG: the latest image a sink of the pipeline received (the annotated frame), 5 a second."""
        found = pipeline(pid)

        async def stream() -> AsyncIterator[bytes]:
            sent = None
            while found.thread.is_alive() and not await request.is_disconnected():
                latest = found.results.latest
                if latest is not None and latest is not sent:
                    sent = latest
                    data = await asyncio.to_thread(jpeg, latest)
                    yield b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n" % (len(data), data)
                await asyncio.sleep(PREVIEW_PERIOD_S)

        return StreamingResponse(stream(), media_type="multipart/x-mixed-replace; boundary=frame")

    return app


def invalid(exc: WorkflowError, then: str = "") -> HTTPException:
    """422 with every located issue, as ``segflow validate`` prints them."""
    return HTTPException(422, {"error": f"the workflow is invalid ({len(exc.issues)} problems)"
                                        + (f"; {then}" if then else ""),
                               "issues": [{**i.to_dict(), "text": i.format()} for i in exc.issues]})


def check_inputs(workflow: Workflow, inputs: dict[str, Any]) -> None:
    """Per-request input values must name inputs the workflow declares."""
    declared = workflow.inputs
    unknown = sorted(set(inputs) - set(declared))
    if unknown:
        have = f"it declares {', '.join(sorted(declared))}" if declared else "it declares no inputs"
        raise HTTPException(422, f"workflow '{workflow.name}' has no input {', '.join(map(repr, unknown))}: {have}")


def decode_and_submit(served: Served, inputs: dict[str, Any], encoded: list[tuple[str, bytes]],
                      max_pixels: int) -> list[Future[Result]]:
    """On a worker thread: decode the request's images, then put them into the workflow's run, in order."""
    return served.submit(inputs, [decode(data, name, max_pixels) for name, data in encoded])


async def read_run_request(request: Request, max_images: int) -> tuple[list[tuple[str, bytes]], dict[str, Any], bool]:
    """Encoded images (name, bytes), input values and ``annotated`` from a multipart form or a JSON body."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if kind == "multipart/form-data":
            form = await request.form(max_files=max_images + 1, max_fields=16)
            uploads = [f for f in form.getlist("image") if not isinstance(f, str)]
            if not uploads:
                raise HTTPException(422, "the form has no file in its 'image' field")
            if len(uploads) > max_images:
                raise HTTPException(413, f"{len(uploads)} images; at most {max_images} per request")
            images = [(f.filename or f"image {i}", await f.read()) for i, f in enumerate(uploads)]
            raw = form.get("inputs")
            inputs = json.loads(raw) if isinstance(raw, str) and raw else {}
            if not isinstance(inputs, dict):
                raise HTTPException(422, "'inputs' must be a JSON object")
            return images, inputs, str(form.get("annotated", "")).lower() in ("1", "true", "yes")
        if kind == "application/json":
            body = RunRequest.model_validate_json(await request.body())
            if len(body.images) > max_images:
                raise HTTPException(413, f"{len(body.images)} images; at most {max_images} per request")
            images = [(f"image {i}", from_base64(t, f"image {i}")) for i, t in enumerate(body.images)]
            return images, body.inputs, body.annotated
    except BadImage as exc:
        raise HTTPException(422, str(exc)) from exc
    except ValueError as exc:  # bad JSON, a RunRequest that does not validate
        raise HTTPException(422, f"invalid request body: {str(exc).splitlines()[0]}") from exc
    raise HTTPException(415, f"send multipart/form-data or application/json, not '{kind or 'nothing'}'")
