"""Generated YAML thrown at `prodline validate`: random bytes, random structures, mutations of the
demo config, deep nesting and aliases. Each must end in a clean refusal (exit 1 with the problems)
or an accepted config, within a second, never a traceback."""

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from prodline.cli import app
from prodline.config import DEMO_CONFIG, load_config

DEMO = yaml.safe_load(DEMO_CONFIG.read_text())
FUZZ = settings(max_examples=40, deadline=1000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    """Where each example is written (hypothesis runs many in one test): in a copy of the demo
    project, so that the demo config's relative SQL files are found."""
    load_config(DEMO_CONFIG)  # imports scikit-learn once, before any example's clock starts
    folder = tmp_path_factory.mktemp("fuzz") / "project"
    shutil.copytree(DEMO_CONFIG.parent, folder)
    return folder / "prodline.yaml"


def _validate(config_file: Path, data: bytes) -> None:
    config_file.write_bytes(data)
    result = CliRunner().invoke(app, ["validate", str(config_file)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash: hypothesis shows the input and the traceback
    assert result.exit_code in (0, 1), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 1:
        assert "problem(s) in" in result.output, result.output


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20),
                    st.dates(), st.sampled_from(["integer", "date", "raw.exits", "30 days", "1e-9",
                                                 "../..", "PATH", "SELECT 1", "{as_of_date}"]))
keys = st.one_of(st.text(max_size=12), st.sampled_from(sorted(DEMO)), st.integers())
structures = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=5), st.dictionaries(keys, inner, max_size=5)), max_leaves=40)


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes(config_file, data):
    _validate(config_file, data)


@FUZZ
@given(structures)
def test_random_structures(config_file, value):
    _validate(config_file, yaml.safe_dump(value, allow_unicode=True).encode())


def _paths(value, prefix=()):
    """Every key path into the parsed demo config."""
    yield prefix
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        yield from _paths(inner, (*prefix, key))


DEMO_PATHS = list(_paths(DEMO))[1:]


def _replaced(value, path, new):
    if not path:
        return new
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[path[0]] = _replaced(copy[path[0]], path[1:], new)
    return copy


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(DEMO_PATHS), structures), min_size=1, max_size=3))
def test_demo_config_with_values_replaced(config_file, changes):
    config = DEMO
    for path, new in changes:
        try:
            config = _replaced(config, path, new)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed the path
    _validate(config_file, yaml.safe_dump(config, allow_unicode=True, sort_keys=False).encode())


@FUZZ
@given(st.data())
def test_demo_text_with_bytes_changed(config_file, data):
    text = bytearray(DEMO_CONFIG.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text) - 1))
        text[at:at + data.draw(st.integers(0, 8))] = data.draw(st.binary(max_size=8))
    _validate(config_file, bytes(text))


@FUZZ
@given(st.integers(1, 5000), st.sampled_from(["[", "{a: ", "- ", "&x [", "? "]))
def test_deep_nesting(config_file, depth, opener):
    closer = {"[": "]", "{a: ": "}", "&x [": "]"}.get(opener, "")
    _validate(config_file, ("name: x\nkey: " + opener * depth + "1" + closer * depth + "\n").encode())


@FUZZ
@given(st.integers(1, 12), st.integers(1, 12), st.booleans())
def test_alias_expansion(config_file, levels, width, merge):
    text = "a0: &a0 [x]\n"
    for level in range(1, levels + 1):
        refs = ", ".join([f"*a{level - 1}"] * width)
        text += f"a{level}: &a{level} [{refs}]\n"
    if merge:
        text += f"m: {{<<: {{k: *a{levels}}}, name: x}}\n"
    _validate(config_file, text.encode())
