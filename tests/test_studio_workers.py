"""How ``deepaccomp studio`` serves: its worker processes (deepaccomp.studio.workers) give the same
answers as the server's own process, errors keep their status, a lost worker is replaced, workers never
outlive the command however it stops; and its socket sends an answer without waiting."""

from __future__ import annotations

import base64
import concurrent.futures
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

with warnings.catch_warnings():  # starlette >= 1 prefers httpx2 but works with httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from deepaccomp import Accompanist
from deepaccomp.errors import ConfigError, ModelFileError
from deepaccomp.inference import NumpyGenerator
from deepaccomp.studio import create_app
from deepaccomp.studio.cli import listen_socket
from deepaccomp.studio.workers import MAX_WORKERS, WorkerLostError, WorkerPool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_script(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_children = _load_script("studio_load").children  # the load measure's own reading of the process table
BASE = "http://127.0.0.1"
EXAMPLE = os.path.join(ROOT, "deepaccomp", "assets", "examples", "twinkle.mid")
NOTES = [{"pitch": p, "start": 4 * i, "length": 4} for i, p in enumerate([60, 62, 64, 65, 67, 65, 64, 62])]


@pytest.fixture(scope="module")
def twinkle():
    with open(EXAMPLE, "rb") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def clients():
    """The studio of the shipped model twice: threads in this process, and one worker process."""
    here, there = create_app(workers=0), create_app(workers=1)
    with TestClient(here, base_url=BASE) as a, TestClient(there, base_url=BASE) as b:
        yield a, b


def both(clients, method, path, **kw):
    a, b = (getattr(c, method)(path, **kw) for c in clients)
    return a, b


@pytest.mark.slow
def test_answers_from_a_worker_equal_those_of_the_servers_process(clients, twinkle):
    a, b = both(clients, "post", "/api/generate/midi?seed=3", content=twinkle)
    assert a.status_code == b.status_code == 200 and a.json() == b.json()
    a, b = both(clients, "post", "/api/generate", json={"notes": NOTES, "seed": 5, "programs": "strings"})
    assert a.status_code == 200 and a.json() == b.json()
    take = a.json()
    regen = {"notes": NOTES, "seed": 6, "keep_midi_base64": take["midi_base64"], "regenerate": {"bars": [2, 2], "tracks": ["tenor"]}}
    a, b = both(clients, "post", "/api/generate", json=regen)
    assert a.status_code == 200 and a.json() == b.json()
    alto = take["tracks"][1]
    edited = {"name": "alto", "notes": [{"pitch": n["pitch"], "start": int(n["start"]), "velocity": n["velocity"],
                                         "length": int(n["end"] - n["start"])} for n in alto["notes"][1:]]}
    a, b = both(clients, "post", "/api/edit", json={"notes": NOTES, "seed": 5, "keep_midi_base64": take["midi_base64"],
                                                    "accompaniment": [edited]})
    assert a.status_code == 200 and a.json() == b.json()
    a, b = both(clients, "post", "/api/melody", content=twinkle)
    assert a.status_code == 200 and a.json() == b.json()
    a, b = both(clients, "post", "/api/generate", json={"notes": NOTES, "seed": 2, "model": "pop"})
    assert a.status_code == 200 and a.json() == b.json() and b.json()["model"] == "pop"  # loaded on first use
    a, b = both(clients, "post", "/api/generate/midi?seed=3&format=midi", content=twinkle)
    assert a.content == b.content and base64.b64decode(take["midi_base64"])[:4] == b.content[:4] == b"MThd"


def test_errors_from_a_worker_keep_their_status_and_message(clients):
    a, b = both(clients, "post", "/api/generate/midi", content=b"MThd not a midi file")
    assert a.status_code == b.status_code == 422 and a.json() == b.json()
    a, b = both(clients, "post", "/api/generate", json={"notes": [{"pitch": 60, "start": 0, "length": 4}],
                                                        "meter": "5/4"})
    assert a.status_code == b.status_code and a.json() == b.json()
    assert clients[1].post("/api/generate", json={"notes": NOTES, "seed": 1}).status_code == 200
    info = clients[1].get("/api/info").json()
    assert info["served"] >= 1 and info["pending"] == 0


@pytest.mark.parametrize("workers", [-1, MAX_WORKERS + 1, True, 1.5, "2"])
def test_bad_worker_counts_are_config_errors(workers):
    with pytest.raises(ConfigError, match="workers must be an integer"):
        create_app(workers=workers)


@pytest.mark.slow
def test_a_model_in_memory_is_copied_to_the_workers(twinkle):
    shipped = Accompanist()
    model = Accompanist.from_generator(NumpyGenerator(shipped.config, shipped.generator.get_weights()),
                                       shipped.config)
    with TestClient(create_app(accompanist=model, workers=1), base_url=BASE) as c:
        got = c.post("/api/generate/midi?seed=4", content=twinkle).json()
        assert got["model"] == "model"
    with TestClient(create_app(accompanist=shipped), base_url=BASE) as c:
        want = c.post("/api/generate/midi?seed=4", content=twinkle).json()
    assert {k: v for k, v in got.items() if k != "model"} == {k: v for k, v in want.items() if k != "model"}


def test_a_model_that_cannot_be_copied_needs_threads():
    model = Accompanist.from_generator(lambda inputs, training=False: None, Accompanist().config)
    with pytest.raises(ConfigError, match="workers=0"):
        create_app(accompanist=model, workers=1)


def _exit_now(model):
    os._exit(3)


def _layout_name(model):
    return model.layout.name


@pytest.mark.slow  # a worker process killed
def test_a_lost_worker_fails_its_request_and_new_workers_take_the_next():
    pool = WorkerPool(1, {"chorale": Accompanist().model_path}, warm="chorale")
    try:
        with pytest.raises(WorkerLostError, match="try again"):
            pool.submit("chorale", _exit_now).result(120)
        assert pool.submit("chorale", _layout_name).result(120) == "satb"
    finally:
        pool.close()


def _gone(pids, timeout=20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(os.path.exists(f"/proc/{p}") for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow  # the real command started and killed
@pytest.mark.skipif(not os.path.isdir("/proc/self"), reason="reads the process table from /proc")
@pytest.mark.parametrize("stop", ["ctrl-c", "kill -9"])
def test_workers_stop_with_the_command(stop):
    proc = subprocess.Popen([sys.executable, "-m", "deepaccomp.cli", "studio", "--port", "0", "--workers", "2"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "http://" in line:
                break
        else:
            pytest.fail("the studio did not start:\n" + "".join(lines))
        deadline = time.monotonic() + 60
        while len(_children(proc.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = _children(proc.pid)
        assert len(workers) >= 2, workers
        if stop == "ctrl-c":
            proc.send_signal(signal.SIGINT)
            rest = proc.communicate(timeout=60)[0]
            assert proc.returncode == 130 and "Traceback" not in rest, rest
        else:
            proc.kill()
            proc.wait(60)
        assert _gone(workers), [open(f"/proc/{p}/cmdline").read() for p in workers if os.path.exists(f"/proc/{p}")]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def test_the_studio_socket_sends_without_waiting_for_acknowledgements():
    """Nagle's algorithm off on the accepted connections: an answer's body does not wait about 40 ms
    for the client's acknowledgement of its headers."""
    with listen_socket("127.0.0.1", 0) as server, socket.create_connection(server.getsockname()) as client:
        accepted, _ = server.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.slow
def test_a_model_a_worker_cannot_load_is_that_requests_error_not_a_lost_worker(tmp_path):
    missing = tmp_path / "gone" / "generator.npz"
    pool = WorkerPool(1, {"gone": str(missing)}, warm="gone")
    try:
        with pytest.raises(ModelFileError):
            pool.submit("gone", _layout_name).result(120)
    finally:
        pool.close()


@pytest.mark.slow
def test_requests_queued_when_the_studio_closes_are_cancelled_not_left_waiting():
    pool = WorkerPool(1, {"chorale": Accompanist().model_path})
    futures = [pool.submit("chorale", _sleep, 0.5) for _ in range(4)]
    pool.close()
    for f in futures:
        try:
            f.result(60)
        except concurrent.futures.CancelledError:
            pass
        assert f.done()
    assert any(f.cancelled() for f in futures)


def _sleep(model, seconds):
    time.sleep(seconds)
    return seconds
