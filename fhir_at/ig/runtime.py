"""The fhir-at package as the validator loads it by default: its conformance resources (profiles
with snapshots, CodeSystems, ValueSets — no examples), built from ``profiles/`` and ``mappings/``
into the user cache on first use and built again whenever those files or the version change."""

from __future__ import annotations

import hashlib
from functools import cache

from ..errors import ConfigError

__all__ = ["package_folder"]

_STAMP = ".fhir-at-source"


def _source_digest(version: str) -> str:
    from .._data import data_dir

    h = hashlib.sha256(version.encode())
    for name in ("profiles", "mappings"):
        folder = data_dir(name)
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


@cache
def package_folder() -> str:
    """The folder of the built package (an ``--ig`` the validator can load), built if needed."""
    from .. import __version__
    from ..terminology import systems
    from ..terminology.icd10cm import cache_dir

    digest = _source_digest(__version__)
    folder = cache_dir() / "ig" / f"{systems.IG_PACKAGE_ID}#{__version__}"
    stamp = folder / "package" / _STAMP
    try:
        if stamp.read_text() == digest:
            return str(folder)
    except OSError:
        pass
    from .package import build, write

    pkg = build()
    errors = [i for i in pkg.warnings if i.severity.value in ("error", "fatal")]
    if errors:
        raise ConfigError(f"the fhir-at profiles cannot be built: {errors[0].message}")
    pkg.files[f"package/{_STAMP}"] = digest.encode()
    write(pkg, folder)              # replaces folder/package as a whole, stamp included
    return str(folder)
