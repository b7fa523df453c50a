"""Benchmark: what a hostile body costs everyone else. Starts `prodline serve` on the demo with a
token, sends authorised `POST /score` bodies of 15 MB (with a Content-Length, then chunked) and one
just under `serving.max_body_bytes` that is parsed, while another connection polls `/health`; prints
the status each body got and /health's latency during it, beside its latency when idle.

    uv run python bench/serve_hostile.py [--home DIR] [--before SRC]

`--before SRC` runs the same probes against another checkout's `src` (its package first on
PYTHONPATH, this environment's dependencies), e.g. a `git archive` of the commit before the limit.
Writes bench/out/serve_hostile.json.
"""

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from prodline.config.serving import ServingConfig
from serve import OUT, build_demo, free_port, server

DEMO = Path(__file__).parents[1] / "examples" / "unemployment"
MB = 2**20
LIMIT = ServingConfig().max_body_bytes


def ids_body(size: int) -> bytes:
    """`{"entity_ids": [1,1,...]}` of about `size` bytes: far more ids than max_batch."""
    return b'{"entity_ids": [' + b"1," * (size // 2) + b"1]}"


def chunks(body: bytes, size: int = 64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


def during(base: str, probe) -> tuple[dict, object]:
    """Runs `probe()` while another connection asks /health every 20 ms: (latencies, its result)."""
    latencies, stop = [], threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            while not stop.is_set():
                start = time.perf_counter()
                http.get("/health").raise_for_status()
                latencies.append(time.perf_counter() - start)
                time.sleep(0.02)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.2)  # a few idle polls first, so that the probe meets a poller already going
    started = time.perf_counter()
    result = probe()
    took = time.perf_counter() - started
    time.sleep(0.2)
    stop.set()
    poller.join()
    return {
        "probe_s": round(took, 3),
        "health_polls": len(latencies),
        "health_p50_ms": round(statistics.median(latencies) * 1e3, 2),
        "health_max_ms": round(max(latencies) * 1e3, 2),
    }, result


def config_without_open(folder: Path) -> Path:
    """The demo's config without `open: true` (a checkout from before it would refuse the key): the
    token is what closes the server in both."""
    shutil.copytree(DEMO, folder, dirs_exist_ok=True)
    path = folder / "prodline.yaml"
    path.write_text(path.read_text().replace("\n  open: true\n", "\n"))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=OUT / "serve-home")
    parser.add_argument("--before", type=Path, help="another checkout's src, measured the same way")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    home = args.home.resolve()
    build_demo(home)
    token = secrets.token_urlsafe(32)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        config = config_without_open(Path(folder))
        for name, src in [("after", None), ("before", args.before)][: 2 if args.before else 1]:
            results[name] = probe_server(home, config, token, src)
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    print(json.dumps({"machine": machine, **results}, indent=1))
    (OUT / "serve_hostile.json").write_text(
        json.dumps({"machine": machine, "date": time.strftime("%Y-%m-%d"), **results}, indent=1)
    )


def probe_server(home: Path, config: Path, token: str, src: Path | None) -> dict:
    env = {**os.environ, "PRODLINE_HOME": str(home), "PRODLINE_API_TOKEN": token}
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from prodline.cli import app; app()", "serve", "--port", str(port),
               "--config", str(config)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    found: dict = {}
    with server(command, env, f"{base}/health", "hostile"), httpx.Client(base_url=base, timeout=120) as http:
        probes = {
            "idle": lambda: None,
            "15 MB, Content-Length": lambda: http.post("/score", content=ids_body(15 * MB), headers=headers),
            "15 MB, chunked": lambda: http.post("/score", content=chunks(ids_body(15 * MB)), headers=headers),
            "just under the limit, parsed": lambda: http.post(
                "/score", content=ids_body(LIMIT - 1024), headers=headers
            ),
        }
        for name, probe in probes.items():
            timing, response = during(base, probe)
            if response is not None:
                timing |= {"status": response.status_code, "answer_bytes": len(response.content)}
            found[name] = timing
            print(f"{'before' if src else 'after'}: {name}: {timing}", flush=True)
    return found


if __name__ == "__main__":
    main()
