"""A deployment file of several problems: what is shared and what each owns, the names that follow,
and the refusals a user sees (the end-to-end run is tests/test_several_problems.py)."""

import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml
from typer.testing import CliRunner

from prodline.cli import app
from prodline.config import DEMO_CONFIG, PROBLEM_ENV, ConfigError, load_config, load_deployment
from prodline.definitions import build_deployment


def problem(folder: Path, name: str, **changes) -> str:
    """The demo project copied into `folder/name`, registering its own model, with `changes`."""
    shutil.copytree(DEMO_CONFIG.parent, folder / name)
    path = folder / name / "prodline.yaml"
    raw = yaml.safe_load(path.read_text())
    raw["promotion"]["model_name"] = f"{name}_risk"
    for key, value in changes.items():
        raw[key] = value
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return f"{name}/prodline.yaml"


def deployment(folder: Path, problems: dict[str, str]) -> Path:
    path = folder / "deployment.yaml"
    path.write_text(yaml.safe_dump({"deployment": "city", "problems": problems}))
    return path


@pytest.fixture
def two(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv(PROBLEM_ENV, raising=False)
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    label = {**demo["label"], "name": "long_spell"}  # another outcome of the same people
    return deployment(tmp_path, {"exits": problem(tmp_path, "exits"),
                                 "spells": problem(tmp_path, "spells", label=label)})


def test_alike_definitions_are_shared_and_the_rest_is_each_problems(two):
    exits, spells = load_deployment(two)
    prefixes = {f["prefix"] for f in yaml.safe_load(DEMO_CONFIG.read_text())["features"]}
    assert exits.shared == spells.shared == {"cohort", *prefixes}
    assert (spells.tables.labels, spells.tables.cohort, spells.tables.models) == \
        ("features.spells_labels", "features.cohort", "results.spells_models")
    assert spells.tables.production("predictions") == "production.spells_predictions"
    defs = build_deployment([exits, spells])
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"cohort", "transforms/spell_ends", *(f"features_{p}" for p in prefixes)} <= keys
    assert {"exits/labels", "spells/labels", "exits/champion_model", "spells/predictions"} <= keys
    assert "labels" not in keys and "exits/cohort" not in keys
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"ingest_raw", "exits_train_models", "spells_promote_model", "spells_build_as_of"} <= jobs
    sensors = {s.name for s in defs.sensors}
    assert {"automation", "dead_runs", "exits_matured_labels", "spells_matured_labels"} <= sensors
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey(["spells", "labels"])).group_name == "spells_as_of"
    assert graph.get(dg.AssetKey(["cohort"])).group_name == "as_of"


def test_a_problem_whose_cohort_differs_keeps_its_own_cohort_and_features(tmp_path, monkeypatch):
    monkeypatch.delenv(PROBLEM_ENV, raising=False)
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    cohort = {**demo["cohort"], "name": "everyone_registered"}
    path = deployment(tmp_path, {"exits": problem(tmp_path, "exits"),
                                 "others": problem(tmp_path, "others", cohort=cohort)})
    exits, others = load_deployment(path)
    assert exits.shared == others.shared == frozenset()
    assert others.tables.cohort == "features.others_cohort"
    keys = {k.to_user_string() for k in build_deployment([exits, others]).resolve_asset_graph()
            .get_all_asset_keys()}
    assert {"exits/cohort", "others/cohort", "others/features_reg"} <= keys and "cohort" not in keys


def test_commands_act_on_the_problem_named(two, monkeypatch):
    listed = CliRunner().invoke(app, ["validate", str(two)])
    assert listed.exit_code == 0, listed.output
    assert "deployment 'city', 2 problems: exits, spells" in listed.output
    assert "spells: label 'long_spell', model 'spells_risk'" in listed.output
    one = CliRunner().invoke(app, ["--problem", "spells", "validate", str(two)])
    assert one.exit_code == 0 and "label 'long_spell'" in one.output
    monkeypatch.delenv(PROBLEM_ENV, raising=False)  # the option sets it for the process
    assert load_config(two, problem="exits").label.name == demo_label()
    with pytest.raises(ConfigError, match=r"no problem 'nope' in this deployment \(it has exits, spells\)"):
        load_config(two, problem="nope")
    with pytest.raises(ConfigError, match=r"this deployment has 2 problems \(exits, spells\): name one with "
                                          r"--problem or PRODLINE_PROBLEM"):
        load_config(two)


def demo_label() -> str:
    return yaml.safe_load(DEMO_CONFIG.read_text())["label"]["name"]


def test_what_cannot_run_side_by_side_is_refused_with_both_problems_named(tmp_path, monkeypatch):
    monkeypatch.delenv(PROBLEM_ENV, raising=False)
    demo = yaml.safe_load(DEMO_CONFIG.read_text())
    sources = {**demo["sources"]}
    first = next(iter(sources))
    sources[first] = {**sources[first], "description": "another definition"}
    path = deployment(tmp_path, {"a": problem(tmp_path, "a"), "b": problem(tmp_path, "b", sources=sources),
                                 "raw": problem(tmp_path, "raw_one")})
    (tmp_path / "b" / "prodline.yaml").write_text((tmp_path / "b" / "prodline.yaml").read_text()
                                                  .replace("b_risk", "a_risk"))
    with pytest.raises(ConfigError) as refused:
        load_deployment(path)
    assert refused.value.problems == [
        "problems.raw: 'raw' names a schema of prodline's; choose another name"]
    path = deployment(tmp_path, {"a": "a/prodline.yaml", "b": "b/prodline.yaml"})
    with pytest.raises(ConfigError) as refused:
        load_deployment(path)
    assert refused.value.problems == [
        f"sources.{first} is defined differently in problems 'a' and 'b': the problems share raw tables, "
        "so define it once alike",
        "problems 'a' and 'b' both register model 'a_risk': give each its own promotion.model_name"]
    path.write_text("deployment: city\nproblems: {a: missing/prodline.yaml}\nextra: 1\n")
    with pytest.raises(ConfigError, match="extra: unknown key"):
        load_deployment(path)
