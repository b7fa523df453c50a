"""Importing Triage 6.0.0's modules without what these calls never use.

aequitas/__init__.py imports aequitas.flow, whose hyperparameter search needs torch; Triage's
modules only use aequitas.group, .bias, .fairness and .preprocessing. So `aequitas` is registered as
a bare package over its own folder: its submodules load from the real files, its __init__ never
runs. s3fs (model storage on S3) is not installed; nothing here stores on S3.
"""
import importlib.util
import sys
import types
from pathlib import Path


def bare_package(name: str) -> None:
    spec = importlib.util.find_spec(name)
    module = types.ModuleType(name)
    module.__path__ = [str(Path(spec.origin).parent)]
    sys.modules[name] = module


bare_package("aequitas")
sys.modules.setdefault("s3fs", types.ModuleType("s3fs"))
