"""Snapshot generation: a StructureDefinition's differential applied to its base's snapshot.

``generate_snapshot(sd, definitions)`` walks the base chain (profile on profile on core), generating
a base's snapshot first when the base has only a differential, and applies the differential element
by element (matched by ``id``):

- an element of the base is constrained in place (min/max, type, binding, fixed[x]/pattern[x],
  mustSupport, short/definition/comment... overridden; ``constraint``, ``condition`` and ``mapping``
  appended);
- a ``sliceName`` (``A.b:s``, re-slices ``A.b:s/t``) inserts a copy of the sliced element (and its
  children in the base) after the last existing slice; extensions and ``[x]`` get default slicing;
- a choice element constrained to one type by name (``value[x]`` → ``valueQuantity``) is renamed;
- an element below a datatype (``Observation.code.coding``) expands the datatype's children (from
  the type's profile when it names one, else the core type), with ids and paths rebased.

Problems (missing or circular base, differential elements that cannot be placed, a type whose
children cannot be found) are returned as issues naming the artifact; nothing raises.
"""

from __future__ import annotations

import copy
from typing import Callable

from ..errors import ConfigError
from ..issues import Issue, Severity, Source
from ..messages import Msg, issue
from ..terminology.systems import FHIR_SD_BASE

__all__ = ["generate_snapshot", "with_snapshot"]

Definitions = Callable[[str], "dict | None"]

_APPENDED = ("constraint", "condition", "mapping")
_NOT_COPIED = ("id", "path", "base")


def generate_snapshot(sd: dict, definitions: Definitions) -> tuple[list[dict], list[Issue]]:
    """The snapshot elements of ``sd`` generated from its differential and base chain, and issues."""
    issues: list[Issue] = []
    elements = _Generator(definitions, issues).generate(sd, ())
    return elements or [], issues


def with_snapshot(sd: dict, definitions: Definitions) -> tuple[dict, list[Issue]]:
    """A copy of ``sd`` whose ``snapshot`` is generated (see :func:`generate_snapshot`)."""
    elements, issues = generate_snapshot(sd, definitions)
    out = dict(sd)
    if elements:
        out["snapshot"] = {"element": elements}
    return out, issues


def _get(sd: dict, part: str, key: str):
    holder = sd.get(part)
    return holder.get(key) if isinstance(holder, dict) else None


def _name(sd: dict) -> str:
    return str(sd.get("url") or sd.get("id") or sd.get("name") or "(a StructureDefinition without url)")


def _in_subtree(eid: str, root: str) -> bool:
    """``eid`` is ``root``, a descendant of it, or a slice (or re-slice) of it."""
    if eid == root:
        return True
    if not eid.startswith(root):
        return False
    return eid[len(root)] in ".:/"


def _is_child_of(eid: str, root: str) -> bool:
    return eid.startswith(root) and len(eid) > len(root) and eid[len(root)] == "."


def _split_last(eid: str) -> tuple[str, str]:
    """``A.b:s.c`` → (``A.b:s``, ``c``); dots inside a slice name are rare and not supported."""
    parent, _, seg = eid.rpartition(".")
    return parent, seg


class _Generator:
    def __init__(self, definitions: Definitions, issues: list[Issue]):
        self.definitions = definitions
        self.issues = issues
        self.cache: dict[str, list[dict] | None] = {}

    def problem(self, msg: Msg, text: str, severity: Severity = Severity.ERROR) -> None:
        self.issues.append(issue(msg, text, severity=severity, source=Source.VALIDATOR))

    # --- the base chain -------------------------------------------------------------------------
    def snapshot_of(self, url: str, stack: tuple[str, ...], wanted_by: str) -> list[dict] | None:
        """The snapshot elements of the StructureDefinition ``url`` (generated when it has none)."""
        if url in stack:
            chain = " → ".join((*stack[stack.index(url):], url))
            self.problem(Msg.VAL_SNAP_CIRCULAR, f"{wanted_by}: circular base definitions ({chain})")
            return None
        if url in self.cache:
            return self.cache[url]
        try:
            sd = self.definitions(url)
            if sd is None and "|" in url:
                sd = self.definitions(url.split("|", 1)[0])
        except ConfigError as exc:  # an unreadable package file
            self.problem(Msg.VAL_SNAP_BASE_MISSING, f"{wanted_by}: the StructureDefinition {url} cannot be read "
                         f"({exc.message})")
            self.cache[url] = None
            return None
        if not isinstance(sd, dict) or sd.get("resourceType") != "StructureDefinition":
            self.problem(Msg.VAL_SNAP_BASE_MISSING, f"{wanted_by}: the StructureDefinition {url} cannot be found")
            self.cache[url] = None
            return None
        snap = _get(sd, "snapshot", "element")
        if not snap:
            snap = self.generate(sd, stack)
        self.cache[url] = snap
        return snap

    def generate(self, sd: dict, stack: tuple[str, ...]) -> list[dict] | None:
        name = _name(sd)
        base_url = sd.get("baseDefinition")
        if not isinstance(base_url, str) or not base_url:
            self.problem(Msg.VAL_SNAP_BASE_MISSING, f"{name}: no baseDefinition, a snapshot cannot be generated")
            return None
        base = self.snapshot_of(base_url, (*stack, sd.get("url") or name), name)
        if base is None:
            return None
        if not isinstance(base, list) or not all(isinstance(e, dict) and isinstance(e.get("path"), str)
                                                 for e in base):
            self.problem(Msg.VAL_SNAP_BAD_ELEMENT, f"{name}: the snapshot of its base {base_url} is malformed "
                         "(an element without a path)")
            return None
        diff = _get(sd, "differential", "element") or []
        if not isinstance(diff, list):
            self.problem(Msg.VAL_SNAP_BAD_ELEMENT, f"{name}: differential.element is not a list")
            diff = []
        try:
            return _Apply(self, name, base, (*stack, sd.get("url") or name)).run(diff)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:  # a malformed base
            self.problem(Msg.VAL_SNAP_BAD_ELEMENT, f"{name}: the snapshot cannot be generated: its base "
                         f"{base_url} is malformed ({type(exc).__name__}: {exc})")
            return None


class _Apply:
    """One differential applied to a copy of its base snapshot."""

    def __init__(self, gen: _Generator, name: str, base: list[dict], stack: tuple[str, ...]):
        self.gen = gen
        self.name = name
        self.stack = stack
        self.base = base
        self.base_pos = {e.get("id") or e.get("path"): i for i, e in enumerate(base)}
        self.elements = [copy.deepcopy(e) for e in base]
        for e in self.elements:
            e.setdefault("id", e.get("path"))
        self._index: dict[str, int] | None = None
        self.aliases: dict[str, str] = {}      # a renamed choice's differential id → its snapshot id
        self.type_slices: list[str] = []

    # --- positions ------------------------------------------------------------------------------
    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {e["id"]: i for i, e in enumerate(self.elements)}
        return self._index

    def insert(self, pos: int, new: list[dict]) -> None:
        self.elements[pos:pos] = new
        self._index = None

    def end_of_subtree(self, root: str, pos: int) -> int:
        """The position after ``root`` (at ``pos``), its descendants and its slices."""
        end = pos + 1
        while end < len(self.elements) and _in_subtree(self.elements[end]["id"], root):
            end += 1
        return end

    # --- the walk -------------------------------------------------------------------------------
    def run(self, diff: list) -> list[dict]:
        for n, d in enumerate(diff):
            if not isinstance(d, dict) or not isinstance(d.get("path"), str):
                self.gen.problem(Msg.VAL_SNAP_BAD_ELEMENT,
                                 f"{self.name}: differential element {n} has no path")
                continue
            eid = d.get("id")
            if not isinstance(eid, str) or not eid:
                eid = d["path"] + (f":{d['sliceName']}" if d.get("sliceName") else "")
            try:
                pos = self.ensure(eid, d)
            except _Unplaceable as exc:
                self.gen.problem(Msg.VAL_SNAP_ELEMENT_UNKNOWN, f"{self.name}: differential element {eid}: {exc}")
                continue
            _merge(self.elements[pos], d)
        self.close_type_slices()
        return self.elements

    def ensure(self, eid: str, d: dict | None = None) -> int:
        """The position of element ``eid``, creating it (slice, datatype child, choice rename)."""
        eid = self.resolve_alias(eid)
        pos = self.index().get(eid)
        if pos is not None:
            return pos
        parent_id, seg = _split_last(eid)
        if not parent_id:
            raise _Unplaceable(f"not in the base {self.elements[0].get('path') if self.elements else ''}")
        if ":" in seg:
            name, _, slice_name = seg.partition(":")
            sliced_id = f"{parent_id}.{name}"
            if "/" in slice_name:  # a re-slice: A.b:s/t slices A.b:s
                outer, _, _ = slice_name.rpartition("/")
                sliced_id = f"{sliced_id}:{outer}"
            return self.add_slice(sliced_id, eid, slice_name)
        ppos = self.ensure(parent_id)
        pos = self.index().get(eid)
        if pos is not None:
            return pos
        if not (ppos + 1 < len(self.elements) and _is_child_of(self.elements[ppos + 1]["id"], parent_id)):
            self.expand(ppos)
            pos = self.index().get(eid)
            if pos is not None:
                return pos
        return self.rename_choice(parent_id, seg, eid)

    def add_slice(self, sliced_id: str, slice_id: str, slice_name: str) -> int:
        spos = self.ensure(sliced_id)
        sliced = self.elements[spos]
        if "slicing" not in sliced:
            default = _default_slicing(sliced)
            if default is None:
                self.gen.problem(Msg.VAL_SNAP_NO_SLICING,
                                 f"{self.name}: {slice_id} slices {sliced_id}, which has no slicing",
                                 Severity.WARNING)
            else:
                sliced["slicing"] = default
        source = [self.base[self.base_pos[sliced_id]]] if sliced_id in self.base_pos else [sliced]
        if sliced_id in self.base_pos:
            i = self.base_pos[sliced_id] + 1
            while i < len(self.base) and _is_child_of(self.base[i].get("id") or "", sliced_id):
                source.append(self.base[i])
                i += 1
        new = []
        for src in source:
            e = copy.deepcopy(src)
            e["id"] = slice_id + (src.get("id") or src["path"])[len(sliced_id):]
            new.append(e)
        new[0].pop("slicing", None)
        new[0]["sliceName"] = slice_name
        new[0]["min"] = 0  # a new slice is optional unless the differential says otherwise
        new[0]["id"] = slice_id
        new[0]["path"] = sliced["path"]
        end = self.end_of_subtree(sliced_id, spos)
        self.insert(end, new)
        return end

    def expand(self, ppos: int) -> None:
        """Inserts the children of the element at ``ppos`` from its type (or content reference)."""
        parent = self.elements[ppos]
        ref = parent.get("contentReference")
        if isinstance(ref, str) and "#" in ref:
            target = ref.split("#", 1)[1]
            source = [e for e in self.elements if e["id"] == target or _is_child_of(e["id"], target)]
            root_path, root_id = target, target
            source = [e for e in source if ":" not in e["id"][len(target):]]
        else:
            types = parent.get("type") or []
            codes = {t.get("code") for t in types if isinstance(t, dict)}
            if len(codes) != 1:
                raise _Unplaceable(f"{parent['id']} has {len(codes)} types, its children are ambiguous")
            t = next(t for t in types if isinstance(t, dict))
            profiles = t.get("profile") or []
            url = profiles[0] if len(profiles) == 1 else FHIR_SD_BASE + str(t.get("code"))
            snap = self.gen.snapshot_of(url, self.stack, self.name)
            if not snap and url != FHIR_SD_BASE + str(t.get("code")):
                snap = self.gen.snapshot_of(FHIR_SD_BASE + str(t.get("code")), self.stack, self.name)
            if not snap:
                raise _Unplaceable(f"the type of {parent['id']} ({url}) has no snapshot")
            root_path = snap[0]["path"]
            root_id = snap[0].get("id") or root_path
            source = snap[1:]
        new = []
        for src in source:
            if src is parent or src.get("id") == root_id:
                continue
            e = copy.deepcopy(src)
            sid = src.get("id") or src["path"]
            e["id"] = parent["id"] + sid[len(root_id):]
            e["path"] = parent["path"] + src["path"][len(root_path):]
            new.append(e)
        self.insert(ppos + 1, new)

    def rename_choice(self, parent_id: str, seg: str, eid: str) -> int:
        """``valueQuantity`` constrains ``value[x]`` to one type. At the top level (outside slices)
        it becomes a type slice ``value[x]:valueQuantity`` (as the IG Publisher does); inside a
        slice the choice element keeps its name and is narrowed to that type."""
        for e in list(self.elements):
            pid, eseg = _split_last(e["id"])
            if pid != parent_id or not eseg.endswith("[x]") or ":" in eseg:
                continue
            stem = eseg[:-3]
            if not seg.startswith(stem) or len(seg) == len(stem):
                continue
            suffix = seg[len(stem):]
            matching = [t for t in e.get("type") or [] if isinstance(t, dict) and
                        str(t.get("code", ""))[:1].upper() + str(t.get("code", ""))[1:] == suffix]
            if not matching:
                continue
            if ":" in parent_id:
                self.aliases[eid] = e["id"]
                e["type"] = copy.deepcopy(matching)
                return self.index()[e["id"]]
            slice_id = f"{e['id']}:{seg}"
            self.aliases[eid] = slice_id
            pos = self.add_slice(e["id"], slice_id, seg)
            self.elements[pos]["type"] = copy.deepcopy(matching)
            self.type_slices.append(slice_id)
            return pos
        raise _Unplaceable(f"no such element in the base ({parent_id} has no child {seg})")

    def close_type_slices(self) -> None:
        """A required type slice (min ≥ 1) closes the slicing and narrows the choice to its type."""
        for slice_id in self.type_slices:
            index = self.index()
            sliced_id = slice_id.rpartition(":")[0]
            sl, choice = self.elements[index[slice_id]], self.elements[index[sliced_id]]
            if (sl.get("min") or 0) >= 1:
                choice["type"] = copy.deepcopy(sl.get("type") or [])
                choice["min"] = max(choice.get("min") or 0, sl["min"])
                if isinstance(choice.get("slicing"), dict):
                    choice["slicing"]["rules"] = "closed"

    def resolve_alias(self, eid: str) -> str:
        for alias, target in self.aliases.items():
            if _in_subtree(eid, alias):
                return target + eid[len(alias):]
        return eid


class _Unplaceable(Exception):
    pass


def _default_slicing(e: dict) -> dict | None:
    codes = [t.get("code") for t in e.get("type") or [] if isinstance(t, dict)]
    if e.get("path", "").endswith("[x]"):
        return {"discriminator": [{"type": "type", "path": "$this"}], "ordered": False, "rules": "open"}
    if codes == ["Extension"]:
        return {"discriminator": [{"type": "value", "path": "url"}], "ordered": False, "rules": "open"}
    return None


def _merge(dst: dict, d: dict) -> None:
    """The differential element ``d`` merged into the snapshot element ``dst``."""
    for key, val in d.items():
        if key in _NOT_COPIED:
            continue
        if key in _APPENDED and isinstance(val, list) and isinstance(dst.get(key), list):
            have = dst[key]
            if key == "constraint":
                keys = {c.get("key") for c in have if isinstance(c, dict)}
                have.extend(copy.deepcopy(c) for c in val if not isinstance(c, dict) or c.get("key") not in keys)
            else:
                have.extend(copy.deepcopy(c) for c in val if c not in have)
        elif key in ("binding", "slicing") and isinstance(val, dict) and isinstance(dst.get(key), dict):
            dst[key] = {**dst[key], **copy.deepcopy(val)}
        else:
            if key.startswith(("fixed", "pattern")):
                for k in [k for k in dst if k.startswith(("fixed", "pattern"))]:
                    del dst[k]
            dst[key] = copy.deepcopy(val)
