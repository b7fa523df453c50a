"""Benchmark: `POST /score` of `prodline serve` against `mlflow models serve` on the same champion,
same machine, same load generator (wrk), in one run.

    uv run python bench/serve.py [--home DIR] [--seconds 10] [--connections 8]

The first run builds the demo in `--home` (default bench/out/serve-home) and keeps it. Both servers
run one uvicorn worker. Each is sent the same rows of the newest cohort's features, in its own
format: prodline `{"rows": [{feature: value}]}`, MLflow both `dataframe_split` and `instances` (its
best counts). For one row and for batches of 100: throughput with `--connections` open connections,
and latency percentiles with one connection (a request at a time). Writes bench/out/serve.json.
"""

import argparse
import contextlib
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

OUT = Path(__file__).parent / "out"
BIN = Path(sys.executable).parent
GOAL_RATIO, GOAL_P99_MS = 2.0, 10.0


def build_demo(home: Path) -> None:
    if (home / "mlflow" / "mlflow.db").exists() and (home / "warehouse.duckdb").exists():
        return
    print(f"building the demo in {home} (once; later runs reuse it)", flush=True)
    subprocess.run(
        [str(BIN / "prodline"), "demo"],
        check=True,
        env={**os.environ, "PRODLINE_HOME": str(home)},
        stdout=subprocess.DEVNULL,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], env: dict, ready: str, name: str):
    log = open(OUT / f"serve-{name}.log", "w")  # noqa: SIM115  (closed below, after the process)
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(ready, timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start: see {log.name}") from None
                time.sleep(0.5)
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))


def wrk(url: str, body: dict, connections: int, seconds: int) -> dict:
    """Requests a second and latency percentiles (ms), with every non-2xx response counted."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as payload:
        json.dump(body, payload)
    script = Path(payload.name).with_suffix(".lua")
    script.write_text(
        f'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = io.open("{payload.name}"):read("*a")\n'
    )
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    os.unlink(payload.name)
    script.unlink()
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    broken = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        **{f"p{p}_ms": _ms(re.search(rf"^\s+{p}%\s+(\S+)", out, re.M).group(1)) for p in (50, 90, 99)},
        "failed": int(errors.group(1)) if errors else 0 + (sum(map(int, broken.groups())) if broken else 0),
    }


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", type=Path, default=OUT / "serve-home")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    home = args.home.resolve()
    build_demo(home)
    env = {
        **os.environ,
        "PRODLINE_HOME": str(home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{home}/mlflow/mlflow.db",
        "PATH": f"{BIN}:{os.environ['PATH']}",
    }
    env.pop("PRODLINE_API_TOKEN", None)
    ours, theirs = free_port(), free_port()
    results: dict = {}
    with (
        server(
            [str(BIN / "prodline"), "serve", "--port", str(ours)],
            env,
            f"http://127.0.0.1:{ours}/health",
            "prodline",
        ),
        server(
            [
                str(BIN / "mlflow"),
                "models",
                "serve",
                "-m",
                "models:/unemployment_risk@champion",
                "--env-manager",
                "local",
                "--port",
                str(theirs),
                "--workers",
                "1",
            ],
            env,
            f"http://127.0.0.1:{theirs}/ping",
            "mlflow",
        ),
    ):
        model = json.load(urllib.request.urlopen(f"http://127.0.0.1:{ours}/model"))
        rows = sample_rows(home, model["features"], 100)
        formats = {
            "prodline": (
                f"http://127.0.0.1:{ours}/score",
                lambda r: {"rows": [dict(zip(model["features"], x, strict=True)) for x in r]},
            ),
            "mlflow dataframe_split": (
                f"http://127.0.0.1:{theirs}/invocations",
                lambda r: {"dataframe_split": {"columns": model["features"], "data": r}},
            ),
            "mlflow instances": (f"http://127.0.0.1:{theirs}/invocations", lambda r: {"instances": r}),
        }
        check_same_scores(formats, rows)
        for batch in (1, 100):
            for name, (url, body) in formats.items():
                payload = body(rows[:batch])
                wrk(url, payload, 1, 2)  # warm-up
                load = wrk(url, payload, args.connections, args.seconds)
                alone = wrk(url, payload, 1, args.seconds)
                results[f"{name}, {batch} row(s)"] = {"batch": batch, "throughput": load, "latency": alone}
                print(
                    f"{name:24} batch {batch:3}: {load['requests_per_s']:8.1f} req/s at {args.connections} "
                    f"connections (p99 {load['p99_ms']:.1f} ms); one at a time p50 {alone['p50_ms']:.2f} ms, "
                    f"p99 {alone['p99_ms']:.2f} ms; failed {load['failed'] + alone['failed']}",
                    flush=True,
                )
    summary = summarize(results)
    print(json.dumps(summary, indent=1))
    (OUT / "serve.json").write_text(
        json.dumps(
            {
                "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
                "seconds": args.seconds,
                "connections": args.connections,
                "results": results,
                "summary": summary,
            },
            indent=1,
        )
    )


def sample_rows(home: Path, features: list[str], n: int) -> list[list[float]]:
    os.environ["PRODLINE_HOME"] = str(home)
    from prodline.config import load_config
    from prodline.pipeline.as_of.cohort_labels import newest_cohort_date
    from prodline.resources import warehouse_of
    from prodline.serving.champion import cohort_features

    config = load_config()
    warehouse = warehouse_of(config, literal=True)
    _, X, columns = cohort_features(config, warehouse, newest_cohort_date(warehouse))
    return X[:n, [columns.index(f) for f in features]].tolist()


def check_same_scores(formats: dict, rows: list) -> None:
    """Both servers answer with the same model: the same scores for the same rows."""
    ours = [s["score"] for s in post(formats["prodline"][0], formats["prodline"][1](rows))["scores"]]
    for name in ("mlflow dataframe_split", "mlflow instances"):
        url, body = formats[name]
        theirs = [p[1] for p in post(url, body(rows))["predictions"]]
        if max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) > 1e-9:
            raise SystemExit(f"{name} scores differ from prodline's: not the same model")


def summarize(results: dict) -> dict:
    summary = {}
    for batch in (1, 100):
        ours = results[f"prodline, {batch} row(s)"]
        best = max(
            (results[f"{n}, {batch} row(s)"] for n in ("mlflow dataframe_split", "mlflow instances")),
            key=lambda r: r["throughput"]["requests_per_s"],
        )
        summary[f"{batch} row(s)"] = {
            "throughput_ratio": round(
                ours["throughput"]["requests_per_s"] / best["throughput"]["requests_per_s"], 2
            ),
            "prodline_p99_ms": ours["latency"]["p99_ms"],
            "mlflow_p99_ms": best["latency"]["p99_ms"],
        }
    one = summary["1 row(s)"]
    summary["goal"] = (
        f"throughput >= {GOAL_RATIO}x: {'met' if one['throughput_ratio'] >= GOAL_RATIO else 'NOT met'}"
        f"; one-row p99 <= {GOAL_P99_MS} ms: "
        f"{'met' if one['prodline_p99_ms'] <= GOAL_P99_MS else 'NOT met'}"
    )
    return summary


if __name__ == "__main__":
    main()
