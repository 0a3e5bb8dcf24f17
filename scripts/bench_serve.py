"""Edit latency of ``latentdirs serve`` at 1, 4 and 16 concurrent clients, against ``latentdirs edit`` run as a
process per image, measured in the same run on the bundled generator.

The script makes a SeFa direction set of the bundled generator (closed form, seconds), starts ``latentdirs
serve`` as a process (one torch thread, as the reference), and sends ``POST /api/render`` requests for one
image each — a seed in 0-63 and one direction at a strength in ±3σ, drawn at random, as a user dragging
sliders would — from 1, 4 and 16 clients at once (threads, each with its own keep-alive connection). The
reference is ``latentdirs --threads 1 edit`` for the same kind of request, one process per image, half of its
runs before the server levels and half after. The first answer is checked against the command's PNG (the
same pixels). Ratios: the edit process's median latency over the server's median at each level.

    python scripts/bench_serve.py            # 200 requests per level, 8 edit processes
    python scripts/bench_serve.py --quick    # 30 requests per level, 2 edit processes
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "pretrained" / "dsprites_generator.json"
DIRECTIONS = 5


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def latentdirs(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "latentdirs", "--threads", "1", *args], env=env, check=True,
                          capture_output=True, text=True)


def requests_for(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"seed": rng.randrange(64), "direction": rng.randrange(DIRECTIONS),
             "strength": round(rng.uniform(-3, 3), 2)} for _ in range(count)]


def render_body(request: dict) -> bytes:
    return json.dumps({"generator": "dsprites_generator", "directions": "models/sefa.safetensors",
                       "seeds": [request["seed"]], "strengths": {str(request["direction"]): request["strength"]}
                       }).encode()


def post(connection: http.client.HTTPConnection, body: bytes) -> bytes:
    connection.request("POST", "/api/render", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"render failed: {response.status} {data[:200]!r}")
    return data


def server_level(port: int, clients: int, requests: list[dict]) -> tuple[list[float], float]:
    """Latencies (s) of ``requests`` shared among ``clients`` threads, and the wall time of the level."""
    latencies: list[float] = []
    lock = threading.Lock()
    queue = list(requests)

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while True:
            with lock:
                if not queue:
                    break
                request = queue.pop()
            start = time.perf_counter()
            post(connection, render_body(request))
            with lock:
                latencies.append(time.perf_counter() - start)
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - start


def edit_process(request: dict, directions: Path, out: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    latentdirs("edit", "--generator", str(GENERATOR), "--directions", str(directions), "--seed", str(request["seed"]),
               "-d", str(request["direction"]), "-s", str(request["strength"]), "--device", "cpu", "--out", str(out),
               env=env)
    return time.perf_counter() - start


def start_server(models: Path, data: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "latentdirs", "--threads", "1", "serve", "--models", str(models),
                                "--data", str(data), "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/generators")
            if connection.getresponse().status == 200:
                return process, port
        except OSError:
            if process.poll() is not None:
                raise SystemExit(f"the server exited with status {process.returncode}") from None
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not start within 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 requests per level and 2 edit processes")
    parser.add_argument("--requests", type=int, default=None, help="requests per concurrency level (default 200)")
    parser.add_argument("--edits", type=int, default=None, help="edit processes in all (default 8)")
    args = parser.parse_args()
    count = args.requests or (30 if args.quick else 200)
    edits = args.edits or (2 if args.quick else 8)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        tmp = Path(tmp)
        models = tmp / "models"
        models.mkdir()
        latentdirs("discover", "--generator", str(GENERATOR), "--method", "sefa", "-k", str(DIRECTIONS),
                   "--stats-samples", "1024", "--grid-samples", "1", "--grid-steps", "3", "--device", "cpu",
                   "--out", str(tmp / "sefa"), "--quiet", env=env)
        directions = models / "sefa.safetensors"
        directions.write_bytes((tmp / "sefa" / "directions.safetensors").read_bytes())
        reference = requests_for(edits, seed=1)
        edit_times = [edit_process(r, directions, tmp / f"edit{i}.png", env)
                      for i, r in enumerate(reference[: edits // 2])]
        server, port = start_server(models, tmp / "data", env)
        try:
            check = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            same = np.array_equal(np.asarray(Image.open(io.BytesIO(post(check, render_body(reference[0]))))),
                                  np.asarray(Image.open(tmp / "edit0.png"))) if edit_times else None
            check.close()
            server_level(port, 4, requests_for(20, seed=99))  # warm-up: generator, handles and code cache
            levels = {clients: server_level(port, clients, requests_for(count, seed=clients)) for clients in (1, 4, 16)}
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(120)
        edit_times += [edit_process(r, directions, tmp / f"edit_late{i}.png", env)
                       for i, r in enumerate(reference[edits // 2 :])]
    edit_p50 = statistics.median(edit_times)
    print(f"# bench_serve: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, one torch thread; "
          f"bundled generator, one 64x64 image per request")
    print(f"server answer equals `latentdirs edit`'s PNG: {same}")
    print(f"latentdirs edit, a process per image ({len(edit_times)} runs): p50 {edit_p50 * 1e3:.0f} ms, "
          f"p95 {percentile(edit_times, 95) * 1e3:.0f} ms")
    print("| clients | requests | p50 ms | p95 ms | requests/s | edit process p50 / server p50 |")
    print("|---|---|---|---|---|---|")
    for clients, (latencies, wall) in levels.items():
        p50 = statistics.median(latencies)
        print(f"| {clients} | {len(latencies)} | {p50 * 1e3:.1f} | {percentile(latencies, 95) * 1e3:.1f} | "
              f"{len(latencies) / wall:.1f} | {edit_p50 / p50:.0f}× |")


if __name__ == "__main__":
    main()
