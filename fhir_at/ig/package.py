"""The NPM-format FHIR package ``fhir.at.assessment``: assembled in memory, written as a folder or a
``.tgz``, the same bytes on every run.

Layout (as hl7.fhir.us.core#6.1.0 lays out its package)::

    package/package.json          name, version, fhirVersions, dependencies (hl7.fhir.r4.core 4.0.1 only)
    package/.index.json           index-version 1: filename, resourceType, id, url, version, kind, type
    package/StructureDefinition-*.json   profiles and extensions, differential + generated snapshot
    package/CodeSystem-*.json, package/ValueSet-*.json   generated from mappings/
    package/ImplementationGuide-fhir.at.assessment.json, package/CapabilityStatement-at-bundle-receiver.json
    package/example/.index.json, package/example/<Type>-<id>.json   made by the mappers from examples/
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import ConfigError
from ..issues import Issue
from ..terminology import systems

__all__ = ["BuiltPackage", "build", "write", "tgz_bytes", "RELEASE_DATE"]

RELEASE_DATE = "2026-12-04"  # the date of the conformance resources, unless SOURCE_DATE_EPOCH or --date
_INDEX_KEYS = ("filename", "resourceType", "id", "url", "version", "kind", "type")
_CORE_DEPENDENCY = {"hl7.fhir.r4.core": "4.0.1"}


@dataclass
class BuiltPackage:
    name: str
    version: str
    files: dict[str, bytes]                    # path inside the archive ("package/...") -> bytes
    warnings: list[Issue] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}#{self.version}"


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _default_date() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return datetime.fromtimestamp(int(epoch), tz=timezone.utc).date().isoformat()
    return RELEASE_DATE


def _filename(res: dict) -> str:
    return f"{res['resourceType']}-{res['id']}.json"


def _index(resources: list[dict]) -> bytes:
    files = []
    for res in sorted(resources, key=_filename):
        entry = {"filename": _filename(res), **{k: res[k] for k in _INDEX_KEYS[1:] if k in res}}
        files.append(entry)
    return _json({"index-version": 1, "files": files})


def build(*, example_resources: list[dict] | tuple = (), profiles_dir: Path | None = None,
          version: str | None = None, date: str | None = None, core=None) -> BuiltPackage:
    """The package, built from ``profiles/`` and ``mappings/``, with ``example_resources`` (made
    by :func:`fhir_at.ig_examples.examples`; none: the conformance resources only, as the
    validator loads them)."""
    from .. import __version__
    from .._data import data_dir
    from . import conformance, terminology
    from .profiles import load_structure_definitions, with_snapshots

    version = version or __version__
    date = date or _default_date()
    profiles_dir = profiles_dir or data_dir("profiles")

    sds, warnings = with_snapshots(load_structure_definitions(profiles_dir), version, core)
    code_systems = terminology.code_systems(version)
    value_sets = terminology.value_sets(version)
    example_resources = list(example_resources)
    definitions = [*sds, *code_systems, *value_sets]
    capability = conformance.capability_statement(version, date, sds)
    guide = conformance.implementation_guide(version, date, [*definitions, capability], example_resources)
    resources = [guide, capability, *definitions]

    files: dict[str, bytes] = {}
    files["package/package.json"] = _json(_manifest(version, date))
    files["package/.index.json"] = _index(resources)
    for res in sorted(resources, key=_filename):
        files[f"package/{_filename(res)}"] = _json(res)
    files["package/example/.index.json"] = _index(example_resources)
    for res in sorted(example_resources, key=_filename):
        files[f"package/example/{_filename(res)}"] = _json(res)
    counts = {"StructureDefinition": len(sds), "CodeSystem": len(code_systems), "ValueSet": len(value_sets),
              "example": len(example_resources)}
    return BuiltPackage(systems.IG_PACKAGE_ID, version, files, warnings, counts)


def _manifest(version: str, date: str) -> dict:
    from .conformance import DESCRIPTION, TITLE

    return {
        "name": systems.IG_PACKAGE_ID,
        "version": version,
        "type": "IG",
        "date": date.replace("-", "") + "000000",
        "license": "Apache-2.0",
        "canonical": systems.CANONICAL_BASE,
        "title": TITLE,
        "description": DESCRIPTION,
        "fhirVersions": ["4.0.1"],
        "dependencies": dict(_CORE_DEPENDENCY),
        "author": "fhir-at",
        "directories": {"lib": "package", "example": "example"},
    }


def write(pkg: BuiltPackage, target: Path) -> None:
    """Writes the package as ``target`` (a ``.tgz``) or into the folder ``target`` (``target/package``,
    replaced as a whole)."""
    try:
        if target.suffix == ".tgz":
            _write_tgz(pkg, target)
        else:
            _write_folder(pkg, target)
    except OSError as exc:
        raise ConfigError(f"cannot write the package to {target}: {exc.strerror or exc}") from None


def tgz_bytes(pkg: BuiltPackage) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(pkg.files):
            data = pkg.files[name]
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            info.mode = 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return out.getvalue()


def _write_tgz(pkg: BuiltPackage, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ig-", suffix=".tgz", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(tgz_bytes(pkg))
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_folder(pkg: BuiltPackage, target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise ConfigError(f"{target} exists and is not a folder (give a folder, or a file name ending in .tgz)")
    target.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".ig-", dir=target))
    try:
        for name, data in pkg.files.items():
            path = tmp / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        if (target / "package").exists():
            shutil.rmtree(target / "package")
        os.replace(tmp / "package", target / "package")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
