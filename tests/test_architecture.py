"""Architecture: import layers (import-linter) and curated public names."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def test_import_layers_are_kept():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout and "2 kept" in r.stdout


@pytest.mark.parametrize("name", ["fhir_at.issues", "fhir_at.errors", "fhir_at.api", "fhir_at.messages",
                                  "fhir_at.report", "fhir_at.model.checks", "fhir_at.terminology.catalog"])
def test_all_lists_exactly_the_public_names(name):
    module = importlib.import_module(name)
    public = {n for n, v in vars(module).items()
              if not n.startswith("_") and getattr(v, "__module__", name) == name
              and (callable(v) or isinstance(v, type))}
    assert set(module.__all__) >= public - {"annotations"}, public - set(module.__all__)
    assert all(hasattr(module, n) for n in module.__all__)
