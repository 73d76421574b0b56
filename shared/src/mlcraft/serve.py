"""One HTTP service for every project's model: `python -m <project> serve --model RUN`.

`--model models:/<project>@<alias>` (e.g. @champion) serves the run the registry alias names and
follows it: every `--reload-s` seconds (and at once on POST /reload) the app asks the registry
which version the alias names and, when a promote or rollback moved it, loads that run beside
the one serving and swaps it in. Polling makes every replica converge on its own, with no one to
call each of them; /reload is for a deploy script that wants the new version live now. A failed
reload (registry down, run folder gone, a model taking other input) keeps the old version
serving and says why in /metadata.

POST /predict   {"rows": [...]}: a batch of input rows (tabular columns, texts, images as base64),
                validated by a pydantic schema built from the model's input schema; a bad or
                unknown field is a 422 whose detail names it
POST /predict/files  multipart/form-data, one `files` part per input (images): each file becomes
                the row {model.file_field: its bytes as base64}, then the same path as /predict;
                only for a model that names a file_field
GET  /health    liveness and the model's name
GET  /metadata  model card, data and code hashes, calibration, threshold; when following an
                alias, `registry`: the URI, the version and run served, the last check
POST /reload    follow the alias now (only when serving one): 200 with the version served, or
                503 when the registry or the new run could not be read
GET  /metrics   Prometheus: requests by route and status, latency histogram, predicted scores

A request body over `max_bytes` is refused with 413 from its Content-Length header, before a byte
of it is read; a POST without a length (chunked) is refused with 411 for the same reason.
"""

import asyncio
import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from mlcraft.errors import UserInputError

MAX_BYTES = 2_000_000  # ~2 MB: a few hundred tabular rows or texts, a handful of images
SCORE_BUCKETS = tuple(i / 10 for i in range(1, 11))
RELOAD_EVERY_S = 10.0  # how soon a promote or rollback is live on a server following an alias
log = logging.getLogger("uvicorn.error")  # uvicorn's general log: shown at the server's level


@dataclass
class ServedModel:
    """What a project hands the service: its input schema, a batch predictor and its metadata.

    fields: pydantic field definitions of ONE input row, name -> (type, default or ...);
    predict: rows (validated dicts) -> one output dict per row, in order;
    score_key: the output key whose values feed the prediction-distribution histogram.
    """

    name: str
    fields: dict[str, tuple[Any, Any]]
    predict: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    metadata: dict[str, Any] = field(default_factory=dict)
    score_key: str = "probability"
    max_rows: int = 512
    file_field: str | None = None  # the row field a multipart upload fills (images)


def contract(model: ServedModel) -> tuple:
    """What clients rely on: the request schema, row limit, upload field and score key."""
    return model.name, model.fields, model.max_rows, model.file_field, model.score_key


@dataclass(frozen=True)
class Version:
    """One registry version, loaded: the model and where it came from."""

    model: ServedModel
    number: int
    run_dir: Path


class AliasFollower:
    """The model a registry alias names, followed while serving.

    locate: () -> (version number, run folder) the alias names now (mlcraft.registry.version_of);
    load: a run folder -> its ServedModel (the project's serve loader)."""

    def __init__(self, uri: str, locate: Callable[[], tuple[int, Path]],
                 load: Callable[[Path], ServedModel], every_s: float = RELOAD_EVERY_S):  # fmt: skip
        self.uri, self.locate, self.load, self.every_s = uri, locate, load, every_s
        self._lock = threading.Lock()
        number, run_dir = locate()
        self.current = Version(load(run_dir), number, run_dir)
        self.checked_at = time.time()
        self.error: str | None = None

    def check(self) -> bool:
        """Ask the registry now; load and swap in the alias's version when it moved. True when
        the served model changed. A failure keeps the served model, is kept for /metadata and
        raised."""
        with self._lock:  # one check at a time: a poll and a POST /reload never load twice
            try:
                number, run_dir = self.locate()
                if number == self.current.number:
                    self.error = None
                    return False
                model = self.load(run_dir)  # beside the serving one: requests go on meanwhile
                if contract(model) != contract(self.current.model):
                    raise UserInputError(
                        f"{self.uri} version {number} takes other input than version "
                        f"{self.current.number} (fields, row limit or uploads); restart serve to "
                        "change what clients send"
                    )
                # one assignment: a request reads `current` once and finishes on what it read
                self.current = Version(model, number, run_dir)
                self.error = None
                log.info("serving %s version %s (%s)", self.uri, number, run_dir)
                return True
            except Exception as exc:
                self.error = str(exc) or type(exc).__name__
                raise
            finally:
                self.checked_at = time.time()

    def status(self, served: Version | None = None) -> dict[str, Any]:
        """What /metadata and /reload say of the served version (`served`: one already read)."""
        served = served or self.current
        return {
            "model_uri": self.uri,
            "version": served.number,
            "run_id": served.run_dir.name,
            "run_dir": str(served.run_dir),
            "checked_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.checked_at)),
            "reload_every_s": self.every_s,
            "error": self.error,
        }


async def _poll(follower: AliasFollower) -> None:
    """Follow the alias every `every_s` seconds for as long as the server runs."""
    while True:
        await asyncio.sleep(follower.every_s)
        try:
            await asyncio.to_thread(follower.check)
        except Exception as exc:  # noqa: BLE001 - kept for /metadata; the old version serves on
            log.warning("reload of %s failed, still serving version %s: %s", follower.uri,
                        follower.current.number, exc)  # fmt: skip


def class_outputs(prob, labels, classes: list[str]) -> list[dict[str, Any]]:
    """One output per row of a classifier: the decided label, its probability, every class's."""
    return [
        {
            "label": classes[label],
            "probability": round(float(p[label]), 6),
            "probabilities": {name: round(float(v), 6) for name, v in zip(classes, p, strict=True)},
        }
        for label, p in zip(labels, prob, strict=True)
    ]


def run_metadata(run_dir: str | Path) -> dict[str, Any]:
    """What /metadata says about any run: its id, code and data hashes, hardware, headline
    metrics (the model card's numbers) and the sha256 of every model file."""
    run_dir = Path(run_dir)
    summary_path = run_dir / "results" / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    manifest_path = run_dir / "model" / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    return {
        "run_id": run_dir.name,
        "project": summary.get("project"),
        "config": summary.get("config"),
        "git_sha": summary.get("git_sha"),
        "git_dirty": summary.get("git_dirty"),
        "data": summary.get("data"),
        "hardware": summary.get("hardware"),
        "headline": summary.get("headline"),
        "model_files": manifest,
        "report": "REPORT.md in the run folder: ladder with CIs, calibration, slices, audit",
    }


def request_schema(model: ServedModel):
    """The pydantic model of a /predict body; unknown row fields are refused, not ignored."""
    from pydantic import ConfigDict, Field, create_model

    # strict: JSON true is not a number and "3" is not a float; inf and NaN are not values
    row = create_model(
        f"{model.name.title().replace('_', '')}Row",
        __config__=ConfigDict(extra="forbid", strict=True, allow_inf_nan=False),
        **model.fields,
    )
    rows = Annotated[list[row], Field(min_length=1, max_length=model.max_rows)]
    return create_model("PredictRequest", __config__=ConfigDict(extra="forbid"), rows=(rows, ...))


def create_app(
    served: ServedModel | AliasFollower, max_bytes: int = MAX_BYTES, batch_ms: float = 0.0
):
    """The FastAPI app for one model, or for the model an alias names (AliasFollower), with its
    own Prometheus registry (so tests can make many).

    batch_ms > 0 turns on micro-batching (mlcraft.batching): concurrent requests arriving within
    batch_ms share one model call of at most model.max_rows rows."""
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        CollectorRegistry,
        Counter,
        Histogram,
        generate_latest,
    )

    follower = served if isinstance(served, AliasFollower) else None
    model = follower.current.model if follower else served  # the contract every version keeps

    def live() -> ServedModel:
        """The model answering now: the alias's latest loaded version, or the one model."""
        return follower.current.model if follower else model

    registry = CollectorRegistry()
    requests = Counter(
        "mlcraft_requests", "HTTP requests", ["route", "status"], registry=registry
    )  # fmt: skip
    latency = Histogram("mlcraft_request_seconds", "Request latency", ["route"], registry=registry)
    scores = Histogram(
        "mlcraft_prediction_score",
        f"Predicted {model.score_key} per row",
        buckets=SCORE_BUCKETS,
        registry=registry,
    )
    body_model = request_schema(model)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        polling = follower is not None and follower.every_s > 0
        task = asyncio.create_task(_poll(follower)) if polling else None
        yield
        if task:
            task.cancel()

    app = FastAPI(
        title=f"{model.name} model",
        version=str(model.metadata.get("git_sha") or "unknown"),
        lifespan=lifespan,
    )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # where and what, never the input: it may be large, or not even encodable (a lone
        # surrogate would turn the 422 into a 500)
        errors = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        return JSONResponse({"detail": errors[:20]}, status_code=422)

    @app.middleware("http")
    async def limit_and_measure(request: Request, call_next):
        started = time.perf_counter()
        response = _refuse_size(request, max_bytes) or await call_next(request)
        # the matched route's template: a client cannot mint label values with made-up paths
        matched = request.scope.get("route")
        route = matched.path if matched is not None else "unmatched"
        requests.labels(route, str(response.status_code)).inc()
        latency.labels(route).observe(time.perf_counter() - started)
        return response

    def _refuse_size(request: Request, limit: int):
        if request.method != "POST" or request.url.path == "/reload":  # /reload reads no body
            return None
        length = request.headers.get("content-length")
        if length is None:
            return JSONResponse({"detail": "send a Content-Length header"}, status_code=411)
        if not length.isdigit():
            return JSONResponse({"detail": "Content-Length is not a number"}, status_code=400)
        if int(length) > limit:
            return JSONResponse(
                {"detail": f"request body of {length} bytes is over the limit of {limit}"},
                status_code=413,
            )
        return None

    def answer(outputs: list[dict[str, Any]]) -> dict[str, Any]:
        for output in outputs:
            value = output.get(model.score_key)
            if isinstance(value, int | float):
                scores.observe(float(value))
        return {"model": model.name, "predictions": outputs}

    def refused(exc: UserInputError) -> JSONResponse:
        # a value the schema allows but the model cannot use (an image that does not decode)
        return JSONResponse({"detail": str(exc)}, status_code=422)

    if batch_ms > 0:
        from mlcraft.batching import MicroBatcher

        batcher = MicroBatcher(lambda rows: live().predict(rows), batch_ms / 1000, model.max_rows)
        app.state.batcher = batcher

        async def run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return await batcher.submit(rows)

    else:
        from starlette.concurrency import run_in_threadpool

        async def run(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return await run_in_threadpool(live().predict, rows)  # keep the event loop free

    @app.post("/predict")
    async def predict(body: body_model) -> dict[str, Any]:  # type: ignore[valid-type]
        try:
            return answer(await run([row.model_dump() for row in body.rows]))
        except UserInputError as exc:
            return refused(exc)

    if model.file_field:
        from fastapi import File, UploadFile

        @app.post("/predict/files")
        async def predict_files(files: Annotated[list[UploadFile], File()]) -> dict[str, Any]:
            if len(files) > model.max_rows:
                return JSONResponse(
                    {"detail": f"{len(files)} files, over the limit of {model.max_rows}"},
                    status_code=422,
                )
            rows = [
                {model.file_field: base64.b64encode(await upload.read()).decode()}
                for upload in files
            ]
            try:
                outputs = await run(rows)
            except UserInputError as exc:
                return JSONResponse(
                    {"detail": f"{exc} (rows are the uploaded files, in order)"}, status_code=422
                )
            for upload, output in zip(files, outputs, strict=True):
                output["file"] = upload.filename
            return answer(outputs)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok", "model": model.name}

    @app.get("/metadata")
    def metadata() -> dict[str, Any]:
        card = {"model": model.name, "max_rows": model.max_rows}
        if not follower:
            return {**card, **model.metadata}
        served = follower.current  # read once: the card and `registry` name the same version
        return {**card, **served.model.metadata, "registry": follower.status(served)}

    if follower:

        @app.post("/reload")
        async def reload() -> Any:
            try:
                changed = await asyncio.to_thread(follower.check)
            except Exception as exc:  # noqa: BLE001 - the old version serves on; say why
                detail = f"reload failed, still serving version {follower.current.number}: {exc}"
                return JSONResponse({"detail": detail}, status_code=503)
            return {"changed": changed, **follower.status()}

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def serve(
    model: ServedModel | AliasFollower,
    host: str,
    port: int,
    max_bytes: int = MAX_BYTES,
    batch_ms: float = 0.0,
) -> None:
    """Run the app under uvicorn until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    app = create_app(model, max_bytes, batch_ms)
    uvicorn.run(app, host=host, port=port, log_level="info")
