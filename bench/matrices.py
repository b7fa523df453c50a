"""Benchmark: peak memory of building the demo's largest training matrix, streamed batch by batch
into Parquet (prodline) against fetching the whole result into Arrow first, in one run.

    uv run python bench/matrices.py [--home DIR]

Uses the demo built by bench/grid.py (bench/out/grid-home). Memory is the process's resident set,
sampled every 5 ms, above what it held just before the build; the matrix's size is its values as
8-byte numbers (rows x columns). Goal (issue 4): peak at most twice the matrix's size.
Writes bench/out/matrices.json.
"""

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

OUT = Path(__file__).parent / "out"
PAGE = os.sysconf("SC_PAGE_SIZE")


def resident() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_above_start(work) -> tuple[int, float, object]:
    """(peak resident bytes above the start, seconds, result) of work()."""
    start, peak, done = resident(), [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    began = time.perf_counter()
    try:
        result = work()
    finally:
        seconds = time.perf_counter() - began
        done.set()
        sampler.join()
    return max(peak[0], resident()) - start, seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=OUT / "grid-home")
    args = parser.parse_args()
    os.environ["PRODLINE_HOME"] = str(args.home.resolve())
    import grid

    grid.build_demo(args.home.resolve(), rebuild=False)
    from prodline.config import load_config
    from prodline.pipeline.matrices.building import current_splits, matrix_specs, stream_matrix
    from prodline.pipeline.matrices.files import matrix_select, write_matrix
    from prodline.pipeline.tables import entity_type
    from prodline.resources import warehouse_of

    config = load_config()
    warehouse = warehouse_of(config, literal=True)
    newest = current_splits(config, warehouse)[-1]
    spec, _ = matrix_specs(config, warehouse, [newest])[newest.key]
    entity = entity_type(warehouse)
    schema = spec.schema(entity)
    select = matrix_select(spec, "features.cohort", "features.labels")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        streamed, seconds, manifest = peak_above_start(
            lambda: write_matrix(stream_matrix(warehouse, spec, entity), Path(folder) / "s", spec, schema))
        results["streamed by date (prodline)"] = (streamed, seconds)

        def whole() -> None:
            with warehouse.engine.connect() as conn:
                table = conn.connection.driver_connection.sql(select).to_arrow_table()
            pq.write_table(table, Path(folder) / "whole.parquet", compression="zstd")

        results["whole result, then written"] = peak_above_start(whole)[:2]
    size = manifest["matrix_bytes"]
    print(f"largest training matrix: {manifest['rows']:,} rows x {len(spec.features) + 2} columns = "
          f"{size / 2**20:.0f} MiB as 8-byte values")
    for name, (peak, seconds) in results.items():
        print(f"  {name:<30} peak {peak / 2**20:7.0f} MiB = {peak / size:.2f}x the matrix, {seconds:.2f} s")
    ratio = results["streamed by date (prodline)"][0] / size
    print(f"goal: peak at most 2x the matrix: {'met' if ratio <= 2 else 'NOT met'} ({ratio:.2f}x)")
    OUT.mkdir(exist_ok=True)
    (OUT / "matrices.json").write_text(json.dumps({
        "rows": manifest["rows"], "columns": len(spec.features) + 2, "matrix_bytes": size,
        "results": {k: {"peak_bytes": p, "x_matrix": round(p / size, 2), "seconds": round(s, 2)}
                    for k, (p, s) in results.items()}, "goal_met": ratio <= 2}, indent=2))


if __name__ == "__main__":
    main()
