"""The layer rules of docs/architecture.md, enforced over every import of the package (those inside
functions too), and no import circle between prodline's modules."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "prodline"

# Each layer and the prodline layers it may import (its own included). Outside packages are free,
# except Dagster where a layer says so.
MAY_IMPORT = {
    "config": {"config"},
    "pipeline": {"config", "pipeline"},
    "stores": {"config", "home", "pipeline", "stores"},
    "home": {"config", "home"},
    "serving": {"config", "home", "pipeline", "stores", "serving"},
    "resources": {"config", "home", "pipeline", "stores", "resources"},
    "dagster": {"config", "home", "pipeline", "stores", "resources", "dagster"},
    "definitions": {"config", "home", "pipeline", "stores", "resources", "dagster", "definitions"},
    "commands": {"config", "home", "pipeline", "stores", "resources", "dagster", "definitions", "serving",
                 "commands"},
}
WITHOUT_DAGSTER = {"config", "pipeline", "stores", "home", "serving"}
# The config checks a project with the library's own rules while it validates: importable model
# classes with fitting parameters, model group keys Triage knows, known selection rules, splits the
# dates allow; and it fills Triage's default start and end times from a named warehouse. These
# imports sit inside validators (run after the packages are loaded), the one way up the layers.
VALIDATION = {
    ("prodline.config.grid", "prodline.pipeline.models.grid"),
    ("prodline.config.grid", "prodline.pipeline.models.grouping"),
    ("prodline.config.triage.temporal", "prodline.stores.warehouse"),
    ("prodline.config.production", "prodline.pipeline.selection.rules"),
    ("prodline.config.project", "prodline.pipeline.matrices.splits"),
    ("prodline.config.triage.rule_features", "prodline.pipeline.as_of.feature_columns"),
}


def layer_of(module: str) -> str:
    parts = module.split(".")[1:] or ["__init__"]
    top = parts[0]
    if top in ("assets", "sensors", "schedules", "jobs", "execution", "instance", "event_log"):
        return "dagster"
    if top in ("cli", "demo", "runs", "loading", "readiness", "operating", "backfilling", "trial",
               "importing", "__init__"):
        return "commands"
    return top


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["prodline", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imports_of(path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(module imported, line) for every import in the file; `from a import b` is `a.b` if that is
    a module of the package, else `a`."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.append((full if full in known else node.module, node.lineno))
    return out


def test_each_layer_imports_only_what_it_may():
    found = modules()
    problems = []
    for name, path in found.items():
        layer = layer_of(name)
        for target, line in imports_of(path, set(found)):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            if target.split(".")[0] in ("dagster", "dagster_celery", "dagster_postgres") \
                    and layer in WITHOUT_DAGSTER:
                problems.append(f"{where}: {layer} imports {target}")
            if target.startswith("prodline.") and layer_of(target) not in MAY_IMPORT[layer] \
                    and (name, target) not in VALIDATION:
                problems.append(f"{where}: {layer} imports {target} ({layer_of(target)})")
    assert not problems, "\n".join(problems)


def test_no_import_circle():
    found = modules()
    graph = {name: {t for t, _ in imports_of(path, set(found))
                    if t in found and t != name and (name, t) not in VALIDATION}
             for name, path in found.items()}
    # A package's __init__ runs before any of its modules: importing `a.b` imports `a` too.
    for name in found:
        for target in list(graph[name]):
            parent = target.rsplit(".", 1)[0]
            if parent in found and parent != name and not name.startswith(parent + "."):
                graph[name].add(parent)
    circles, state = [], {}

    def visit(node, trail):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                circles.append(" -> ".join([*trail[trail.index(nxt):], nxt]))
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not circles, "\n".join(circles)


def test_the_checker_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from prodline.assets.keys import COHORT\n    import dagster\n")
    assert ("prodline.assets.keys", 2) in imports_of(bad, {"prodline.assets.keys"})
    assert layer_of("prodline.assets.keys") not in MAY_IMPORT["pipeline"]
    assert ("dagster", 3) in imports_of(bad, set())


@pytest.mark.parametrize("module", ["prodline.serving.app", "prodline.stores",
                                    "prodline.pipeline.gate.judging"])
def test_serving_and_the_library_start_without_dagster(module):
    code = f"import sys, {module}; print('dagster' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         timeout=120)
    assert out.stdout.strip() == "False"
