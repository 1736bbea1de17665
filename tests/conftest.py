"""Shared fixtures: examples, golden-file updating, the real FHIR test server."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from tests.fhir_server import fhir_server_url  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SHARED = ROOT.parent / "shared"
US_CORE_TGZ = SHARED / "fhir-packages" / "hl7.fhir.us.core-6.1.0.tgz"


def pytest_addoption(parser):
    parser.addoption("--update-goldens", action="store_true", help="rewrite tests/golden/* from the current output")


@pytest.fixture(scope="session")
def update_goldens(request) -> bool:
    return request.config.getoption("--update-goldens")


def load_example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def seed() -> dict:
    """The seed case (Duchenne muscular dystrophy, mobility devices), a fresh copy per test."""
    return copy.deepcopy(_SEED)


_SEED = load_example("duchenne-mobility.json")


def require_package(ref: str):
    """The installed FHIR package ``ref``; skipped when absent (``bash scripts/setup.sh`` installs
    it), but in CI a missing core package is a failure."""
    import os

    from fhir_at.errors import ConfigError
    from fhir_at.validation.packages import R4_CORE, load_package

    try:
        return load_package(ref)
    except ConfigError as exc:
        if os.environ.get("CI") == "true" and ref == R4_CORE:
            raise
        pytest.skip(f"{ref} is not installed (bash scripts/setup.sh): {exc.message}")


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    """``fhir-at ARGV`` in this process: (exit code, stdout, stderr)."""
    from fhir_at.cli.main import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def http():
    """A requests session for the loopback test server (never through a proxy from the environment)."""
    import requests

    s = requests.Session()
    s.trust_env = False
    yield s
    s.close()


@pytest.fixture(scope="session")
def us_core_package():
    """US Core 6.1.0 from the shared folder, installed in a temporary package cache (the user's is
    left alone); the Package keeps its folder, which ``--ig``/``Validator`` take as a path."""
    import tempfile

    from fhir_at.validation import packages

    if not US_CORE_TGZ.is_file():
        pytest.skip(f"{US_CORE_TGZ.name} is not in the shared folder")
    mp = pytest.MonkeyPatch()
    tmp = tempfile.TemporaryDirectory()
    mp.setenv("FHIR_AT_PACKAGE_CACHE", tmp.name)
    packages.load_package.cache_clear()
    try:
        pkg = packages.install_tgz(US_CORE_TGZ)
        mp.undo()  # the other tests see the usual cache again
        packages.load_package.cache_clear()
        yield pkg
    finally:
        mp.undo()
        packages.load_package.cache_clear()
        tmp.cleanup()
