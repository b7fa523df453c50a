"""Every name a command takes from a module of the package exists there: the commands import
lazily (fast start), so a name moved elsewhere would fail only when the command runs."""

import ast
import importlib
from pathlib import Path

COMMANDS = Path(__file__).parents[1] / "src" / "prodline" / "cli.py"


def test_every_name_the_commands_use_exists():
    tree = ast.parse(COMMANDS.read_text())
    missing, modules = [], {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("prodline"):
            for alias in node.names:
                module = importlib.import_module(node.module)
                try:
                    found = getattr(module, alias.name)
                except AttributeError:
                    found = importlib.import_module(f"{node.module}.{alias.name}")
                modules[alias.asname or alias.name] = found
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = modules.get(node.value.id)
            if module is not None and type(module).__name__ == "module" and not hasattr(module, node.attr):
                missing.append(f"cli.py:{node.lineno}: {node.value.id}.{node.attr}")
    assert not missing, "\n".join(missing)
