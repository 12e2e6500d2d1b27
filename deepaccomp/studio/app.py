"""The studio's ASGI application: the page, its assets, the SoundFont and the ``/api``.

:func:`create_app` offers the shipped models and the one it is given (:class:`Models`), each
loaded once, on first use; every generation runs on its model's worker (:class:`Studio`: a queue
on that one model, never a copy per request), off the event loop, through
:meth:`deepaccomp.Accompanist.generate_piece`. Requests are read into
memory under :data:`~deepaccomp.studio.limits.MAX_UPLOAD_BYTES`; the studio
takes no file-system paths from clients and writes no files.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import functools
import io
import json
import logging
import os
import pickle
import secrets
import threading
from contextlib import asynccontextmanager
from pathlib import Path

import pretty_midi
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from .. import __version__, artifact
from ..accompanist import DEFAULT_VELOCITY, Accompanist
from ..config import read_integer
from ..errors import (
    ConfigError,
    DeepAccompError,
    InputFileError,
    InvalidMidiError,
    InvalidRollError,
    NoMelodyError,
    UnsupportedMeterError,
    brief,
)
from . import batching, limits
from .workers import WorkerLostError, WorkerPool, check_workers
from .notes import (
    MELODY_LABEL,
    check_int,
    check_number,
    check_programs,
    edit_take,
    layout_presets,
    read_note_list,
    read_upload,
    result_to_json,
    take_to_json,
    upload_to_editor,
)

log = logging.getLogger("deepaccomp.studio")

STATIC_DIR = Path(__file__).resolve().parent / "static"
SOUNDFONT_NAME = "TimGM6mb.sf2"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
KEEP_NAME = "the previous result (keep_midi_base64)"


class RequestTooLargeError(DeepAccompError):
    """A request body is larger than :data:`~deepaccomp.studio.limits.MAX_UPLOAD_BYTES`."""


class ServerBusyError(DeepAccompError):
    """More than :data:`~deepaccomp.studio.limits.MAX_PENDING` generations are waiting."""


STATUS = (
    (RequestTooLargeError, 413),
    (ServerBusyError, 503),
    (WorkerLostError, 503),
    (ConfigError, 400),
    (InputFileError, 400),
    (InvalidMidiError, 422),
    (NoMelodyError, 422),
    (UnsupportedMeterError, 422),
    (InvalidRollError, 422),
    (DeepAccompError, 400),
)


HTTP_ERROR_TYPES = {404: "NotFoundError", 405: "MethodNotAllowedError"}
"""The ``type`` of the routing errors' JSON (any other status the framework raises is an ``HTTPError``)."""


def error_body(type_: str, message: str, status: int, headers=None) -> JSONResponse:
    """The one shape of every error answer: ``{"error": {"type", "message"}}``."""
    return JSONResponse({"error": {"type": type_, "message": message}}, status_code=status, headers=headers)


def error_response(exc: DeepAccompError) -> JSONResponse:
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    return error_body(type(exc).__name__, str(exc), status)


def http_error_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    """A routing error (no such path, a method the path does not take) in the studio's error shape."""
    path = brief(request.url.path)
    if exc.status_code == 404:
        message = f"nothing at {path}; the page is at / and the API is described at /openapi.json"
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "another method")
        message = f"{request.method} is not allowed on {path}; use {allowed}"
    else:
        message = brief(str(exc.detail))
    return error_body(HTTP_ERROR_TYPES.get(exc.status_code, "HTTPError"), message, exc.status_code, exc.headers)


class InternalErrorMiddleware:
    """Answer a bug (an exception that is no :class:`~deepaccomp.errors.DeepAccompError`) with a JSON 500,
    logging its traceback once; the exception goes no further, so the server does not log it again."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracked(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            log.exception("unexpected error in %s %s", scope.get("method"), brief(scope.get("path", "")))
            if started:  # too late for an answer of its own: the client sees a cut response
                return
            response = error_body("InternalError", f"unexpected {type(exc).__name__}; see the server log", 500)
            await response(scope, receive, send)


def read_json_body(raw: bytes):
    """The JSON of a request body; a body that is not JSON, or nested too deeply to read, is a
    :class:`~deepaccomp.errors.ConfigError`. An integer too long for Python (over 4,300 digits) is read
    as a stand-in every check refuses by its size (:func:`deepaccomp.config.read_integer`)."""
    try:
        return json.loads(raw, parse_int=read_integer)
    except RecursionError:
        raise ConfigError("the request body is not readable JSON: arrays or objects nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"the request body is not valid JSON ({brief(str(exc))})") from None


def soundfont_path() -> Path:
    """The General MIDI SoundFont installed with pretty_midi."""
    return Path(pretty_midi.__file__).resolve().parent / SOUNDFONT_NAME


class BodyLimitMiddleware:
    """Answer 413 at once to a request that declares a body over the limit (see also :func:`read_body`)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = RequestTooLargeError(
            f"the request is larger than {self.max_bytes} bytes, the studio's upload limit")
        try:
            if declared is not None and int(declared) > self.max_bytes:
                return await error_response(too_large)(scope, receive, send)
        except ValueError:
            return await error_response(ConfigError("bad Content-Length header"))(scope, receive, send)
        await self.app(scope, receive, send)


async def read_body(request: Request) -> bytes:
    """The request body, read up to the limit (a body without Content-Length is counted as it comes)."""
    chunks, seen = [], 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limits.MAX_UPLOAD_BYTES:
            raise RequestTooLargeError(
                f"the request is larger than {limits.MAX_UPLOAD_BYTES} bytes, the studio's upload limit")
        chunks.append(chunk)
    return b"".join(chunks)


class Studio:
    """A model's requests: run in the studio's worker processes (``pool``, :mod:`.workers`), or without
    one in this process's worker threads, their model calls batched (:mod:`.batching`).

    Parameters
    ----------
    accompanist : deepaccomp.Accompanist
        The model, loaded in this process (its layout and settings answer ``/api/info``).
    name : str
        The model's name in the studio (the workers know it by that name).
    pool : WorkerPool, optional
        The studio's worker processes; ``None``: worker threads in this process.
    """

    def __init__(self, accompanist, name: str = "model", pool: WorkerPool | None = None):
        self.accompanist, self.name, self.pool = accompanist, name, pool
        self.executor = self.batcher = None
        if pool is None:
            self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=batching.BATCH_WORKERS,
                                                                  thread_name_prefix="deepaccomp-gen")
            self.batcher = batching.Batcher(accompanist)  # the model calls of the threads, batched
        self.lock = threading.Lock()
        self.pending = 0
        self.served = 0

    async def run(self, fn, *args, generation: bool = False):
        """``fn(model, *args)`` off the event loop (``fn`` a module-level function: it may run in a worker
        process); a refusal when :data:`~deepaccomp.studio.limits.MAX_PENDING` requests already wait.
        ``generation``: count it in ``served`` once answered."""
        if self.pending >= limits.MAX_PENDING:
            raise ServerBusyError(f"{self.pending} generations are already waiting (limit "
                                  f"{limits.MAX_PENDING}); try again in a moment")
        self.pending += 1
        try:
            if self.pool is None:
                result = await asyncio.get_running_loop().run_in_executor(
                    self.executor, functools.partial(fn, self.accompanist, *args))
            else:
                result = await asyncio.wrap_future(self.pool.submit(self.name, fn, *args))
        finally:
            self.pending -= 1
        if generation:
            with self.lock:
                self.served += 1
        return result

    def close(self):
        if self.pool is None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.batcher.close()


class Models:
    """The models a studio offers, by name: the shipped ones (:func:`deepaccomp.artifact.shipped_models`)
    and the one given to :func:`create_app`. Each is loaded once, on first use, with a worker of its own
    (:class:`Studio`); at most these, so memory stays bounded by the list.

    Parameters
    ----------
    default : deepaccomp.Accompanist
        The model given (loaded at start); the one used when a request names none.
    workers : int
        Worker processes that run the requests (:mod:`.workers`); 0: worker threads in this process.
    """

    def __init__(self, default, workers: int = 0):
        path = getattr(default, "model_path", None)
        self.paths = {name: artifact.shipped_model_path(name) for name in artifact.shipped_models()}
        self.default = model_name(path, self.paths)
        if path is not None or self.default not in self.paths:
            self.paths[self.default] = path
        self.pool = None
        if workers:
            if path is None:
                _check_copyable(default)
            sources = {**self.paths, self.default: default if path is None else path}
            self.pool = WorkerPool(workers, sources, warm=self.default)
        self.studios = {self.default: Studio(default, self.default, self.pool)}
        self.lock = threading.Lock()  # one load per model, whoever asks first

    @property
    def names(self) -> list:
        return list(self.paths)

    def name(self, value) -> str:
        """The model a request names (``None``: the default); another value is a
        :class:`~deepaccomp.errors.ConfigError` listing the names (the studio takes no paths from clients)."""
        if value is None:
            return self.default
        if not isinstance(value, str) or value not in self.paths:
            raise ConfigError(f"model {brief(repr(value))} is not one of this studio's models: "
                              f"{', '.join(self.names)} (GET /api/models lists them)")
        return value

    def get(self, name: str) -> Studio:
        """The worker of the model ``name`` (a checked name), loading the model on first use."""
        with self.lock:
            if name not in self.studios:
                self.studios[name] = Studio(Accompanist(self.paths[name]), name, self.pool)
            return self.studios[name]

    async def studio(self, value) -> Studio:
        """The worker of the model a request names, loaded off the event loop on first use."""
        name = self.name(value)
        studio = self.studios.get(name)
        return studio if studio is not None else await asyncio.to_thread(self.get, name)

    def listing(self) -> list:
        return [{"name": name, "shipped": name in artifact.SHIPPED_MODELS and self.paths[name] ==
                 artifact.shipped_model_path(name), "default": name == self.default,
                 "loaded": name in self.studios} for name in self.paths]

    def close(self):
        for studio in list(self.studios.values()):
            studio.close()
        if self.pool is not None:
            self.pool.close()


def _check_copyable(accompanist):
    """A model in memory goes to each worker process as a copy: one that cannot be copied (a Keras
    generator during training) is a :class:`~deepaccomp.errors.ConfigError`."""
    try:
        pickle.dumps(accompanist, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - whatever stops the copy
        raise ConfigError(f"this model in memory cannot be copied to worker processes ({type(exc).__name__}); "
                          "serve it with workers=0, or export it and give its file") from None


def model_name(path, shipped: dict) -> str:
    """A model's name in the studio: a shipped model's own name, else its folder's name (with
    `` (--model)`` where that is a shipped model's name too); ``model`` for one in memory."""
    if path is None:
        return "model"
    real = os.path.realpath(os.fspath(path))
    for name, shipped_path in shipped.items():
        if os.path.realpath(shipped_path) == real:
            return name
    name = os.path.basename(os.path.dirname(real)) or "model"
    return f"{name} (--model)" if name in artifact.SHIPPED_MODELS else name


def _generation_params(params: dict, layout) -> dict:
    """seed, programs (for the model's ``layout``) and noise_scale from a JSON body or a query string
    (already typed)."""
    seed = params.get("seed")
    seed = secrets.randbelow(limits.SEED_RANGE[1] + 1) if seed is None else check_int(seed, "seed", *limits.SEED_RANGE)
    programs = check_programs(params.get("programs"), layout)
    # checked once, where every caller's is: Accompanist.generate (the library's one bound, limits.NOISE_SCALE)
    return {"seed": seed, "programs": programs, "noise_scale": params.get("noise_scale")}


def _query_params(request: Request) -> dict:
    """Typed generation parameters of ``POST /api/generate/midi`` from its query string."""
    q = request.query_params
    known = {"seed", "programs", "noise_scale", "format", "pickup", "model"}
    unknown = set(q) - known
    if unknown:
        raise ConfigError(f"unknown query parameters {brief(sorted(unknown))}; use {sorted(known)}")
    out = {}
    if "seed" in q:
        try:
            out["seed"] = int(q["seed"])
        except ValueError:
            raise ConfigError(f"seed must be an integer, got {brief(repr(q['seed']))}") from None
    if "noise_scale" in q:
        try:
            out["noise_scale"] = float(q["noise_scale"])
        except ValueError:
            raise ConfigError(f"noise_scale must be a number, got {brief(repr(q['noise_scale']))}") from None
    if "programs" in q:
        value = q["programs"]
        if "," in value or value.isdigit():
            try:
                out["programs"] = [int(p) for p in value.split(",")]
            except ValueError:
                raise ConfigError(f"programs {brief(repr(value))}: give a preset name or one General MIDI "
                                  "program per accompaniment track, like 40,41,42") from None
        else:
            out["programs"] = value
    if "model" in q:
        out["model"] = q["model"]
    if "pickup" in q:
        try:
            out["pickup"] = float(q["pickup"])
        except ValueError:
            raise ConfigError(f"pickup must be a number of beats, got {brief(repr(q['pickup']))}") from None
    return out


def _format(value) -> str:
    if value not in ("json", "midi"):
        raise ConfigError(f"format must be 'json' or 'midi', got {brief(repr(value))}")
    return value


def _answer(result: dict, fmt: str):
    if fmt == "midi":
        return Response(base64.b64decode(result["midi_base64"]), media_type="audio/midi",
                        headers={"Content-Disposition": f'attachment; filename="{result["filename"]}"',
                                 "X-Deepaccomp-Seed": str(result["seed"])})
    return JSONResponse(result)


def decode_midi_field(value, name: str) -> bytes:
    """The MIDI bytes of a base64 field of a JSON body (its size is bounded by the request's,
    :data:`~deepaccomp.studio.limits.MAX_UPLOAD_BYTES`)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{name} must be a MIDI file in base64 (the midi_base64 of an earlier answer), "
                          f"got {brief(repr(value))}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(f"{name} is not valid base64: send the midi_base64 of an earlier answer") from None


def regenerate_params(body: dict):
    """``(keep, regenerate)`` of a JSON body: the previous result's MIDI bytes and the selection
    ``{"bars": [first, last], "tracks": [...]}`` (checked by the library); ``(None, None)`` without them.
    The MIDI bytes come as a file object named :data:`KEEP_NAME`, the name the library's messages give it."""
    has_keep, has_selection = "keep_midi_base64" in body, "regenerate" in body
    if not has_keep and not has_selection:
        return None, None
    if has_keep != has_selection:
        raise ConfigError("keep_midi_base64 and regenerate go together: the previous result's midi_base64 "
                          "and the bars and tracks to draw again")
    selection = body["regenerate"]
    if not isinstance(selection, dict):
        raise ConfigError(f"regenerate must be an object {{bars: [first, last], tracks: [...]}}, "
                          f"got {brief(repr(selection))}")
    if isinstance(selection.get("bars"), list):
        selection = {**selection, "bars": tuple(selection["bars"])}
    keep = io.BytesIO(decode_midi_field(body["keep_midi_base64"], "keep_midi_base64"))
    keep.name = KEEP_NAME  # the library's messages name it so, not '<bytes>'
    return keep, selection


def _melody_file(body: dict):
    """The melody file of a JSON body given as ``melody_midi_base64`` (then without the editor's fields),
    ``None`` for a note list."""
    if "melody_midi_base64" not in body:
        return None
    editor_fields = sorted({"notes", "tempo", "meter", "pickup_steps", "melody_program"} & set(body))
    if editor_fields:
        raise ConfigError(f"give the melody as notes or as melody_midi_base64, not both (got {editor_fields} "
                          "with melody_midi_base64)")
    return decode_midi_field(body["melody_midi_base64"], "melody_midi_base64")


def programs_schema(layout) -> dict:
    """JSON schema of ``programs`` for a model's layout: null (the layout's own), a preset it takes,
    or one General MIDI program per accompaniment track (a drum track's is ignored)."""
    n = layout.n_accompaniment
    choices = [{"type": "null"},
               {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 127},
                "minItems": n, "maxItems": n, "description": ", ".join(layout.accompaniment_names)}]
    presets = sorted(layout_presets(layout))
    if presets:
        choices.insert(1, {"type": "string", "enum": presets})
    return {"oneOf": choices, "default": None}


def generate_json_schema(layout) -> dict:
    """JSON schema of the body of ``POST /api/generate`` for a model's layout
    (:data:`GENERATE_JSON_SCHEMA` and :func:`programs_schema`)."""
    return {**GENERATE_JSON_SCHEMA, "properties": {**GENERATE_JSON_SCHEMA["properties"],
                                                   "programs": programs_schema(layout)}}


GENERATE_JSON_SCHEMA = {  # programs: see programs_schema
    "type": "object",
    "description": "the melody as 'notes' (the editor's) or as 'melody_midi_base64' (an uploaded file)",
    "properties": {
        "melody_midi_base64": {"type": "string", "format": "byte",
                               "description": "a melody file instead of 'notes' (tempo, meter, pickup_steps "
                                              "and melody_program then come from the file)"},
        "notes": {"type": "array", "maxItems": limits.MAX_NOTES, "items": {
            "type": "object", "required": ["pitch", "start", "length"],
            "properties": {"pitch": {"type": "integer", "minimum": 0, "maximum": 127},
                           "start": {"type": "integer", "minimum": 0, "description": "16th-note steps"},
                           "length": {"type": "integer", "minimum": 1, "maximum": limits.MAX_NOTE_STEPS},
                           "velocity": {"type": "integer", "minimum": 1, "maximum": 127, "default": 90}}}},
        "tempo": {"type": "number", "minimum": limits.TEMPO_RANGE[0], "maximum": limits.TEMPO_RANGE[1],
                  "default": 100},
        "meter": {"type": "string", "enum": sorted(limits.METERS), "default": "4/4"},
        "pickup_steps": {"type": "integer", "minimum": 0, "default": 0,
                         "description": "16th steps before the first downbeat (< one bar)"},
        "melody_program": {"type": "integer", "minimum": 0, "maximum": 127, "default": 0},
        "seed": {"type": ["integer", "null"], "minimum": limits.SEED_RANGE[0], "maximum": limits.SEED_RANGE[1]},
        "noise_scale": {"type": ["number", "null"], "exclusiveMinimum": limits.NOISE_SCALE.low,
                        "maximum": limits.NOISE_SCALE.high},
        "format": {"type": "string", "enum": ["json", "midi"], "default": "json"},
        "model": {"type": "string", "description": "a model of GET /api/models (default: the studio's default)"},
        "keep_midi_base64": {"type": "string", "format": "byte",
                             "description": "a previous answer's midi_base64 (this melody's): keep it but for "
                                            "'regenerate'"},
        "regenerate": {"type": "object", "required": ["bars"], "description": (
            "bars (first and last, inclusive; bar 1 is the bar of the melody's first note, a pickup "
            "is bar 0) and accompaniment tracks (default: all) of keep_midi_base64 to draw again; "
            "every other note comes back as it was"), "properties": {
            "bars": {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2},
            "tracks": {"type": "array", "items": {"type": "string"}, "minItems": 1}}},
    },
}
EDITED_TRACKS_SCHEMA = {"type": "array", "maxItems": 64, "items": {
    "type": "object", "required": ["name", "notes"],
    "properties": {"name": {"type": "string", "description": "an accompaniment track of the model's layout"},
                   "notes": {"type": "array", "items": GENERATE_JSON_SCHEMA["properties"]["notes"]["items"]}}}}
EDIT_JSON_SCHEMA = {
    "type": "object", "required": ["keep_midi_base64", "accompaniment"],
    "description": "an earlier answer (keep_midi_base64) with the notes of some accompaniment tracks replaced; "
                   "the melody fields as the request that made it sent them",
    "properties": {
        **{k: GENERATE_JSON_SCHEMA["properties"][k] for k in ("melody_midi_base64", "notes", "tempo", "meter",
                                                               "pickup_steps", "melody_program", "format",
                                                               "model", "keep_midi_base64")},
        "seed": {"type": ["integer", "null"], "description": "the take's seed (names the file)"},
        "accompaniment": {**EDITED_TRACKS_SCHEMA, "description": (
            "the edited tracks: notes in 16th steps from the editor's step 0 (start may be negative before a "
            "pickup); tracks not listed are kept")},
    },
}
MIDI_BODY = {"required": True, "content": {"audio/midi": {"schema": {"type": "string", "format": "binary"}}}}
GEN_QUERY = [
    {"name": "seed", "in": "query", "schema": {"type": "integer"}},
    {"name": "programs", "in": "query", "schema": {"type": "string"},
     "description": "a preset name (voice layouts) or one General MIDI program per accompaniment track of "
                    "the model's layout (/api/info), like 40,41,42; default: the layout's own"},
    {"name": "noise_scale", "in": "query", "schema": {"type": "number"}},
    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["json", "midi"]}},
    {"name": "model", "in": "query", "schema": {"type": "string"},
     "description": "a model of GET /api/models (default: the studio's default model)"},
    {"name": "pickup", "in": "query", "schema": {"type": "number"},
     "description": "beats from the first note to the first downbeat (default: from the file, else estimated)"},
]


MODEL_QUERY = {"name": "model", "in": "query", "schema": {"type": "string"},
               "description": "a model of GET /api/models (default: the studio's default model)"}


def _only_model_query(request: Request):
    """The ``model`` of a query string that takes nothing else."""
    unknown = set(request.query_params) - {"model"}
    if unknown:
        raise ConfigError(f"unknown query parameters {brief(sorted(unknown))}; use ['model']")
    return request.query_params.get("model")


def _json_object(raw: bytes, known: set) -> dict:
    """A JSON request body: an object of the ``known`` fields."""
    body = read_json_body(raw)
    if not isinstance(body, dict):
        raise ConfigError("the request body must be a JSON object with a 'notes' list")
    unknown = set(body) - known
    if unknown:
        raise ConfigError(f"unknown fields {brief(sorted(unknown))}; use {sorted(known)}")
    return body


def _read_melody(body: dict, melody_file, layout):
    """``(melody piece, tick of the editor's step 0, pickup steps)`` of a JSON body's melody: the file of
    ``melody_midi_base64`` or the editor's note list."""
    if melody_file is not None:
        piece = read_upload(melody_file, layout)
        return piece, piece.grid.start_tick, 0
    melody = read_note_list(body.get("notes"), tempo=body.get("tempo", 100), meter=body.get("meter", "4/4"),
                            pickup_steps=body.get("pickup_steps", 0),
                            melody_program=body.get("melody_program", 0), layout=layout)
    return melody.piece, melody.origin_tick, body.get("pickup_steps", 0)


def _melody_answer(accompanist, data: bytes) -> dict:
    """``POST /api/melody``: an uploaded file's melody as editor notes."""
    return upload_to_editor(read_upload(data, accompanist.layout))


def _generate_json_answer(accompanist, name: str, body: dict, melody_file, params: dict, keep, regenerate) -> dict:
    """``POST /api/generate``: the answer to a JSON request (checked on the event loop)."""
    piece, origin, pickup_steps = _read_melody(body, melody_file, accompanist.layout)
    result = accompanist.generate_piece(piece, seed=params["seed"], noise_scale=params["noise_scale"],
                                        keep=keep, regenerate=regenerate)
    return {**result_to_json(result, origin_tick=origin, pickup_steps=pickup_steps,
                             velocity=DEFAULT_VELOCITY, **params), "model": name}


def _edit_answer(accompanist, name: str, body: dict, melody_file, keep: bytes, seed) -> dict:
    """``POST /api/edit``: an earlier answer with its accompaniment edited."""
    layout = accompanist.layout
    piece, origin, pickup_steps = _read_melody(body, melody_file, layout)
    pm = edit_take(keep, body["accompaniment"], layout, origin_tick=origin,
                   ticks_per_step=piece.grid.ticks_per_step, name=KEEP_NAME)
    return {**take_to_json(pm, (MELODY_LABEL,) + layout.accompaniment_names, origin_tick=origin,
                           ticks_per_step=piece.grid.ticks_per_step, pickup_steps=pickup_steps,
                           seed=seed, programs=None, noise_scale=None), "model": name}


def _generate_midi_answer(accompanist, name: str, data: bytes, params: dict, pickup) -> dict:
    """``POST /api/generate/midi``: the answer to an uploaded MIDI file."""
    melody = read_upload(data, accompanist.layout)
    result = accompanist.generate_piece(melody, seed=params["seed"], noise_scale=params["noise_scale"],
                                        pickup=pickup)
    return {**result_to_json(result, origin_tick=melody.grid.start_tick, pickup_steps=0,
                             velocity=DEFAULT_VELOCITY, **params), "model": name}


def create_app(model_path=None, *, accompanist=None, allowed_hosts=None, workers: int = 0) -> FastAPI:
    """The studio app.

    Parameters
    ----------
    model_path : str or os.PathLike, optional
        An exported ``generator.npz`` (default: the model shipped in the package).
    accompanist : deepaccomp.Accompanist, optional
        An already loaded model (tests, embedding); ``model_path`` is then ignored.
    allowed_hosts : list of str, optional
        Host names the server answers to (default: 127.0.0.1, localhost, ::1);
        other ``Host`` headers get 400, a guard against DNS rebinding.
    workers : int
        Worker processes that run the requests (0 to :data:`~deepaccomp.studio.workers.MAX_WORKERS`;
        ``deepaccomp studio`` starts one per CPU); 0, the default: worker threads in this process, their
        model calls batched. Answers are the same either way. The workers are spawned (multiprocessing),
        so a script that calls this with workers must do so under ``if __name__ == "__main__":``.
    """
    check_workers(workers)
    if accompanist is None:
        accompanist = Accompanist(model_path)  # None: the default shipped model; or a shipped model's name
    models = Models(accompanist, workers)
    studio = models.studios[models.default]
    json_schema = generate_json_schema(accompanist.layout)

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            models.close()

    app = FastAPI(title="deepaccomp studio", version=__version__, lifespan=lifespan,
                  docs_url=None, redoc_url=None,  # their pages load scripts from a CDN: offline, only /openapi.json
                  description="Write or upload a melody, add the accompaniment tracks of a model's layout "
                              "(GET /api/models, GET /api/info?model=), hear it, edit it, download it.")
    app.state.studio = studio
    app.state.models = models

    @app.exception_handler(DeepAccompError)
    async def _deepaccomp_error(request, exc):
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request, exc):
        return http_error_response(request, exc)

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return Response(status_code=204)

    @app.get("/soundfont.sf2", include_in_schema=False)
    async def soundfont():
        path = soundfont_path()
        if not path.is_file():
            raise InputFileError(f"{SOUNDFONT_NAME} is not installed with pretty_midi; the page plays no sound")
        return FileResponse(path, media_type="application/octet-stream",
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/api/models", summary="the models this studio offers (shipped ones and --model)")
    async def list_models():
        return {"default": models.default, "models": models.listing()}

    @app.get("/api/info", summary="a model's layout, presets, General MIDI programs, limits",
             openapi_extra={"parameters": [MODEL_QUERY]})
    async def info(request: Request):
        name = models.name(_only_model_query(request))
        chosen = await models.studio(name)
        layout = chosen.accompanist.layout
        return {
            "version": __version__,
            "model": name,
            "models": models.names,
            "layout": layout.to_dict(),
            "noise_scale": float(chosen.accompanist.forward.settings().noise_scale),
            "presets": layout_presets(layout),
            "gm_programs": [pretty_midi.program_to_instrument_name(p) for p in range(128)],
            "limits": limits.as_dict(),
            "soundfont": soundfont_path().is_file(),
            "served": chosen.served,
            "pending": chosen.pending,
        }

    @app.post("/api/melody", summary="read a MIDI file's melody into editor notes",
              openapi_extra={"requestBody": MIDI_BODY, "parameters": [MODEL_QUERY]})
    async def melody(request: Request):
        chosen = await models.studio(_only_model_query(request))
        data = await read_body(request)
        return await chosen.run(_melody_answer, data)

    async def json_request(request: Request, schema: dict):
        """A JSON request's body, its model's name, that model's studio and layout, and the answer's format."""
        body = _json_object(await read_body(request), set(schema["properties"]))
        name = models.name(body.get("model"))
        chosen = await models.studio(name)
        return body, name, chosen, chosen.accompanist.layout, _format(body.get("format", "json"))

    @app.post("/api/generate", summary="accompany a JSON note list",
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": json_schema}}}})
    async def generate_json(request: Request):
        body, name, chosen, layout, fmt = await json_request(request, json_schema)
        params = _generation_params(body, layout)
        keep, regenerate = regenerate_params(body)
        melody_file = _melody_file(body)
        return _answer(await chosen.run(_generate_json_answer, name, body, melody_file, params, keep, regenerate,
                                        generation=True), fmt)

    @app.post("/api/edit", summary="an earlier answer with its accompaniment edited (no generation)",
              openapi_extra={"requestBody": {"required": True,
                                             "content": {"application/json": {"schema": EDIT_JSON_SCHEMA}}}})
    async def edit(request: Request):
        body, name, chosen, layout, fmt = await json_request(request, EDIT_JSON_SCHEMA)
        seed = body.get("seed")
        seed = None if seed is None else check_int(seed, "seed", *limits.SEED_RANGE)
        if "accompaniment" not in body or "keep_midi_base64" not in body:
            raise ConfigError("an edit needs keep_midi_base64 (the earlier answer's midi_base64) and "
                              "accompaniment (the edited tracks' notes)")
        keep = decode_midi_field(body["keep_midi_base64"], "keep_midi_base64")
        melody_file = _melody_file(body)
        return _answer(await chosen.run(_edit_answer, name, body, melody_file, keep, seed), fmt)

    @app.post("/api/generate/midi", summary="accompany a MIDI file (the request body)",
              openapi_extra={"requestBody": MIDI_BODY, "parameters": GEN_QUERY})
    async def generate_midi(request: Request):
        q = _query_params(request)
        name = models.name(q.pop("model", None))
        chosen = await models.studio(name)
        layout = chosen.accompanist.layout
        fmt = _format(request.query_params.get("format", "json"))
        pickup = q.pop("pickup", None)
        if pickup is not None:
            pickup = check_number(pickup, "pickup", 0.0, limits.MAX_PICKUP_BEATS)
        params = _generation_params(q, layout)
        data = await read_body(request)
        return _answer(await chosen.run(_generate_midi_answer, name, data, params, pickup, generation=True), fmt)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_middleware(InternalErrorMiddleware)  # inside the headers' middleware: a 500 gets them too

    @app.middleware("http")
    async def _headers(request, call_next):
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; "
                                    "style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
                                    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'")
        return response

    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts or LOCAL_HOSTS))
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.MAX_UPLOAD_BYTES)
    return app


__all__ = ["create_app", "soundfont_path", "RequestTooLargeError", "ServerBusyError",
           "error_body", "read_json_body", "HTTP_ERROR_TYPES"]
