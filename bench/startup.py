"""Benchmark: how long `prodline serve` takes from its command to a `/health` that answers 200 (the
champion loaded), and what importing the app costs, in a fresh interpreter each time.

    uv run python bench/startup.py [--home DIR] [--repeat 5] [--python PATH]

The first run builds the demo in `--home` (default bench/out/serve-home, shared with serve.py) and
keeps it. `--python` measures another checkout's interpreter (its venv's python) on the same home,
so two versions are compared on the same machine, alternately. Writes bench/out/startup.json.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from serve import OUT, build_demo, free_port

IMPORT = "import sys, time; t = time.perf_counter(); import prodline.serving.app; " \
         "print(time.perf_counter() - t, 'dagster' in sys.modules)"


def import_seconds(python: str) -> tuple[float, bool]:
    out = subprocess.run([python, "-c", IMPORT], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), out[1] == "True"


def start_seconds(python: str, home: Path, timeout: float = 120.0) -> float:
    """From starting `prodline serve` to the first 200 from /health."""
    port = free_port()
    command = [python, "-c", "from prodline.cli import app; app()", "serve", "--port", str(port)]
    began = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, "PRODLINE_HOME": str(home)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - began < timeout:
            if process.poll() is not None:
                raise RuntimeError(f"prodline serve exited with {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                    if answer.status == 200:
                        return time.perf_counter() - began
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"no 200 from /health in {timeout:.0f} s")
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=OUT / "serve-home")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--python", action="append", default=None,
                        help="an interpreter to measure (repeatable); default: this one")
    args = parser.parse_args()
    home = args.home.resolve()
    build_demo(home)
    pythons = args.python or [sys.executable]
    figures: dict = {p: {"import": [], "start": [], "dagster_imported": None} for p in pythons}
    for _ in range(args.repeat):  # alternately, so that a busy moment falls on every version alike
        for python in pythons:
            seconds, dagster = import_seconds(python)
            figures[python]["import"].append(seconds)
            figures[python]["dagster_imported"] = dagster
            figures[python]["start"].append(start_seconds(python, home))
    summary = {p: {"import_median_s": round(statistics.median(f["import"]), 2),
                   "start_median_s": round(statistics.median(f["start"]), 2),
                   "start_min_s": round(min(f["start"]), 2),
                   "dagster_imported": f["dagster_imported"]} for p, f in figures.items()}
    for python, s in summary.items():
        print(f"{python}: import {s['import_median_s']} s (dagster imported: {s['dagster_imported']}), "
              f"start to /health 200: median {s['start_median_s']} s, fastest {s['start_min_s']} s")
    OUT.mkdir(exist_ok=True)
    (OUT / "startup.json").write_text(json.dumps(
        {"machine": platform.platform(), "cpus": os.cpu_count(), "repeat": args.repeat,
         "summary": summary, "runs": figures}, indent=2))


if __name__ == "__main__":
    main()
