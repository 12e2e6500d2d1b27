"""Load measure of ``deepaccomp studio``: N concurrent clients x M generation requests on 127.0.0.1.

Starts the real command (``python -m deepaccomp.cli studio --port 0``) as a
child process, waits for its URL, then runs the clients (threads, stdlib HTTP
only). Half of the requests send the bundled example as MIDI bytes
(``POST /api/generate/midi``), half send it as a JSON note list
(``POST /api/generate``), each with its own seed. Reports how many were
answered, the errors, latency p50/p95/max, throughput, and the peak resident
memory (``VmHWM`` from /proc, Linux) of the server's process and of the server
with its worker processes. Everything is bounded in time.

    python scripts/studio_load.py                      # 20 clients x 10 requests
    python scripts/studio_load.py --workers 0          # no worker processes (threads)
    python scripts/studio_load.py --clients 5 --requests 4 --json out.json
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deepaccomp" / "assets" / "examples" / "twinkle.mid"


def start_server(start_timeout: float, workers=None):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               PYTHONUNBUFFERED="1")
    extra = [] if workers is None else ["--workers", str(workers)]
    proc = subprocess.Popen([sys.executable, "-m", "deepaccomp.cli", "studio", "--port", "0", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, lines = time.monotonic() + start_timeout, []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if m:
            # keep draining the server's output so that it never blocks on a full pipe
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, int(m.group(1))
    proc.kill()
    raise SystemExit("the studio did not start:\n" + "".join(lines))


def proc_memory(pid: int) -> dict:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    key, value = line.split(":")
                    out[key] = int(value.split()[0]) / 1024  # MiB
    except OSError:
        pass
    return out


def children(pid: int) -> list:
    """The processes whose parent is ``pid`` (the studio's workers; Linux /proc, else none)."""
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as fh:
                    if re.search(rf"^PPid:\s+{pid}$", fh.read(), re.M):
                        out.append(int(entry))
            except OSError:
                pass
    return out


def total_memory(pid: int) -> dict:
    """VmRSS and VmHWM (MiB) of the server and its child processes together."""
    out = {"VmRSS": 0.0, "VmHWM": 0.0}
    for p in [pid] + children(pid):
        for key, value in proc_memory(p).items():
            out[key] += value
    return out


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def editor_notes(port: int) -> list:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/melody", body=EXAMPLE.read_bytes(), headers={"Content-Type": "audio/midi"})
    r = conn.getresponse()
    body = json.loads(r.read())
    conn.close()
    if r.status != 200:
        raise SystemExit(f"/api/melody answered {r.status}: {body}")
    return body["notes"]


def first_page_time(port: int) -> float:
    """Seconds until ``GET /`` answers the page (from the URL being printed)."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/")
    r = conn.getresponse()
    r.read()
    conn.close()
    if r.status != 200:
        raise SystemExit(f"GET / answered {r.status}")
    return time.monotonic() - t0


def model_tracks(port: int) -> int:
    """How many tracks a generation answer holds: the melody and the model's accompaniment (``/api/info``)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/api/info")
    info = json.loads(conn.getresponse().read())
    conn.close()
    return len(info["layout"]["tracks"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--requests", type=int, default=10, help="requests per client")
    ap.add_argument("--request-timeout", type=float, default=120.0, help="seconds per request")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds for the whole run")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--workers", type=int, default=None,
                    help="the studio's --workers (default: its own default, one worker process per CPU)")
    args = ap.parse_args(argv)

    t_start = time.monotonic()
    proc, port = start_server(min(300.0, args.timeout), args.workers)
    startup = time.monotonic() - t_start
    first_page = first_page_time(port) + startup
    idle = proc_memory(proc.pid)
    midi = EXAMPLE.read_bytes()
    notes = editor_notes(port)
    n_tracks = model_tracks(port)
    body_json = {"notes": notes, "tempo": 100, "meter": "4/4", "melody_program": 73}
    latencies, errors, lock = [], [], threading.Lock()
    peak_rss = [idle.get("VmRSS", 0.0)]
    peak_total = [total_memory(proc.pid)["VmRSS"]]
    deadline = time.monotonic() + args.timeout
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            peak_rss[0] = max(peak_rss[0], proc_memory(proc.pid).get("VmRSS", 0.0))
            peak_total[0] = max(peak_total[0], total_memory(proc.pid)["VmRSS"])
            time.sleep(0.05)

    def client(c):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.request_timeout)
        for i in range(args.requests):
            if time.monotonic() > deadline:
                with lock:
                    errors.append(f"client {c}: stopped at the run's time limit")
                return
            seed = c * 1000 + i
            if (c + i) % 2:
                path, body, ctype = f"/api/generate/midi?seed={seed}", midi, "audio/midi"
            else:
                body = json.dumps({**body_json, "seed": seed}).encode()
                path, ctype = "/api/generate", "application/json"
            t0 = time.monotonic()
            try:
                conn.request("POST", path, body=body, headers={"Content-Type": ctype})
                r = conn.getresponse()
                data = r.read()
                dt = time.monotonic() - t0
                ok = r.status == 200 and len(json.loads(data)["tracks"]) == n_tracks
                with lock:
                    if ok:
                        latencies.append(dt)
                    else:
                        errors.append(f"client {c} request {i}: HTTP {r.status} {data[:200]!r}")
            except Exception as exc:  # noqa: BLE001 - every failure is counted
                with lock:
                    errors.append(f"client {c} request {i}: {type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=args.request_timeout)
        conn.close()

    threading.Thread(target=sampler, daemon=True).start()
    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + args.request_timeout))
    wall = time.monotonic() - t0
    stop.set()
    mem = proc_memory(proc.pid)
    workers = len(children(proc.pid))
    mem_total = total_memory(proc.pid)
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()

    total = args.clients * args.requests
    figures = {
        "clients": args.clients, "requests_per_client": args.requests, "requests": total,
        "answered_ok": len(latencies), "errors": len(errors),
        "latency_p50_s": round(percentile(latencies, 0.50), 3),
        "latency_p95_s": round(percentile(latencies, 0.95), 3),
        "latency_max_s": round(max(latencies), 3) if latencies else None,
        "wall_s": round(wall, 2), "throughput_rps": round(len(latencies) / wall, 2) if wall else None,
        "server_startup_s": round(startup, 2),
        "first_page_s": round(first_page, 2),
        "server_rss_idle_mib": round(idle.get("VmRSS", 0.0), 1),
        "server_rss_peak_sampled_mib": round(peak_rss[0], 1),
        "server_rss_peak_vmhwm_mib": round(mem.get("VmHWM", 0.0), 1),
        "child_processes": workers,
        "with_workers_rss_peak_sampled_mib": round(peak_total[0], 1),
        "with_workers_vmhwm_sum_mib": round(mem_total["VmHWM"], 1),
        "cpus": os.cpu_count(),
        "workers_option": "default" if args.workers is None else args.workers,
    }
    for k, v in figures.items():
        print(f"{k:28s} {v}")
    for e in errors[:10]:
        print("error:", e)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 0 if not errors and len(latencies) == total else 1


if __name__ == "__main__":
    sys.exit(main())
