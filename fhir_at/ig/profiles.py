"""The StructureDefinitions of ``profiles/`` (differentials), stamped with the package version and
given their snapshot, generated on hl7.fhir.r4.core 4.0.1."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError, InputError
from ..issues import Issue, Severity

__all__ = ["load_structure_definitions", "with_snapshots"]


def load_structure_definitions(folder: Path) -> list[dict]:
    """Every ``StructureDefinition-*.json`` of ``folder``, by file name."""
    out = []
    for path in sorted(folder.glob("StructureDefinition-*.json")):
        try:
            sd = json.loads(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path.name}: cannot be read as JSON ({exc})") from None
        if not isinstance(sd, dict) or sd.get("resourceType") != "StructureDefinition" or not sd.get("url"):
            raise ConfigError(f"{path.name}: not a StructureDefinition with a url")
        if path.name != f"StructureDefinition-{sd.get('id')}.json":
            raise ConfigError(f"{path.name}: the file name does not match its id {sd.get('id')!r}")
        out.append(sd)
    if not out:
        raise ConfigError(f"no StructureDefinition in {folder}")
    return out


def with_snapshots(sds: list[dict], version: str, core=None) -> tuple[list[dict], list[Issue]]:
    """Copies of ``sds`` with ``version`` and a generated snapshot; warnings are returned, errors
    raise :class:`InputError` naming every profile that failed."""
    from ..validation.packages import R4_CORE, PackageSet
    from ..validation.snapshot import with_snapshot

    core = core if core is not None else PackageSet.of([R4_CORE])
    ours = {sd["url"]: sd for sd in sds}

    def definitions(url: str) -> dict | None:
        return ours.get(url.split("|", 1)[0]) or core(url)

    out, warnings, errors, failed = [], [], [], []
    for sd in sds:
        stamped = _stamped(sd, version)
        full, issues = with_snapshot(stamped, definitions)
        bad = [i for i in issues if i.severity in (Severity.ERROR, Severity.FATAL)]
        errors += bad
        if bad:
            failed.append(sd["url"])
        warnings += [i for i in issues if i not in bad]
        if "snapshot" not in full and not bad:
            raise InputError(f"{sd['url']}: no snapshot could be generated")
        out.append(full)
    if errors:
        raise InputError(f"the snapshot of {len(failed)} profile(s) cannot be generated: {', '.join(failed)}", errors)
    return out, warnings


def _stamped(sd: dict, version: str) -> dict:
    """``version`` placed after ``url`` (the usual order of a published StructureDefinition)."""
    out = {}
    for key, value in sd.items():
        if key == "version":
            continue
        out[key] = value
        if key == "url":
            out["version"] = version
    return out
