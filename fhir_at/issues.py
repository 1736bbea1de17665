"""The one Issue/Outcome model shared by mappers, validator, client, service and CLI.

An :class:`Issue` describes a problem in *data* (severity, FHIR issue-type code, stable message id,
text and location). Exceptions (``fhir_at.errors``) are for failures of the run itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Iterable, Iterator

__all__ = ["Severity", "IssueCode", "Source", "Path", "Issue", "Outcome"]


class Severity(str, Enum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.FATAL: 0, Severity.ERROR: 1, Severity.WARNING: 2, Severity.INFORMATION: 3}


class IssueCode(str, Enum):
    """FHIR R4 ``issue-type`` codes (the subset fhir-at raises)."""

    INVALID = "invalid"
    STRUCTURE = "structure"
    REQUIRED = "required"
    VALUE = "value"
    INVARIANT = "invariant"
    CODE_INVALID = "code-invalid"
    NOT_SUPPORTED = "not-supported"
    NOT_FOUND = "not-found"
    BUSINESS_RULE = "business-rule"
    DUPLICATE = "duplicate"
    PROCESSING = "processing"
    EXCEPTION = "exception"
    INFORMATIONAL = "informational"
    TOO_COSTLY = "too-costly"
    SECURITY = "security"
    LOGIN = "login"
    FORBIDDEN = "forbidden"
    TOO_LONG = "too-long"
    TIMEOUT = "timeout"
    TRANSIENT = "transient"


class Source(str, Enum):
    INPUT = "input"
    MAPPER = "mapper"
    VALIDATOR = "validator"
    BILLING = "billing"
    CLIENT = "client"
    SERVICE = "service"


@dataclass(frozen=True, slots=True)
class Path:
    """An immutable location inside a JSON document: a tuple of keys and indexes.

    ``Path() / "diagnoses" / 0 / "code"`` renders as ``$.diagnoses[0].code`` (JSON path) and as
    ``Assessment.diagnoses[0].code`` (FHIRPath-like, with a root name).
    """

    parts: tuple[str | int, ...] = ()

    def __truediv__(self, part: str | int) -> "Path":
        return Path(self.parts + (part,))

    @classmethod
    def of(cls, parts: Iterable[str | int]) -> "Path":
        return cls(tuple(parts))

    def _render(self, root: str) -> str:
        out = [root]
        for p in self.parts:
            out.append(f"[{p}]" if isinstance(p, int) else f".{p}")
        return "".join(out)

    @property
    def json_path(self) -> str:
        return self._render("$")

    def fhirpath(self, root: str) -> str:
        return self._render(root)

    def __str__(self) -> str:
        return self.json_path


@dataclass(frozen=True, slots=True)
class Issue:
    severity: Severity
    code: IssueCode
    message_id: str
    message: str
    path: Path = field(default_factory=Path)
    source: Source = Source.INPUT
    # Optional explicit FHIRPath expression (set when the path is inside a FHIR resource).
    expression: str | None = None
    line: int | None = None
    column: int | None = None
    # Where the rule behind the issue comes from (document and section or URL), when it has one.
    citation: str | None = None

    @property
    def location(self) -> str:
        return self.expression or self.path.json_path

    def to_dict(self) -> dict:
        out = {
            "severity": self.severity.value,
            "code": self.code.value,
            "id": self.message_id,
            "location": self.location,
            "message": self.message,
        }
        if self.line is not None:
            out["line"] = self.line
            out["column"] = self.column
        if self.citation:
            out["source"] = self.citation
        return out

    def __str__(self) -> str:
        where = self.location
        if self.line is not None:
            where += f" (line {self.line}, column {self.column})"
        return f"{self.severity.value}: {where}: {self.message} [{self.message_id}]"


MESSAGE_ID_EXTENSION = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"


@dataclass(frozen=True, slots=True)
class Outcome:
    issues: tuple[Issue, ...] = ()

    @classmethod
    def of(cls, issues: Iterable[Issue]) -> "Outcome":
        return cls(tuple(issues))

    def __iter__(self) -> Iterator[Issue]:
        return iter(self.issues)

    def __len__(self) -> int:
        return len(self.issues)

    def __add__(self, other: "Outcome") -> "Outcome":
        return Outcome(self.issues + other.issues)

    @property
    def ok(self) -> bool:
        """True when no issue is an error or worse."""
        return not any(i.severity.rank <= 1 for i in self.issues)

    @property
    def errors(self) -> tuple[Issue, ...]:
        return tuple(i for i in self.issues if i.severity.rank <= 1)

    def best(self) -> Issue | None:
        """The most severe issue, the shallowest first among equals."""
        if not self.issues:
            return None
        return min(self.issues, key=lambda i: (i.severity.rank, len(i.path.parts)))

    def to_operation_outcome(self) -> dict:
        if not self.issues:
            return {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "information", "code": "informational",
                           "details": {"text": "No issues found"}}],
            }
        out = []
        for i in self.issues:
            entry: dict = {
                "extension": [{"url": MESSAGE_ID_EXTENSION, "valueString": i.message_id}],
                "severity": i.severity.value,
                "code": i.code.value,
                "details": {"text": i.message},
                "expression": [i.location],
            }
            if i.citation:
                entry["diagnostics"] = f"source: {i.citation}"
            out.append(entry)
        return {"resourceType": "OperationOutcome", "issue": out}

    @classmethod
    def from_operation_outcome(cls, oo: dict, source: Source = Source.CLIENT) -> "Outcome":
        issues = []
        for raw in oo.get("issue") or []:
            mid = next((e.get("valueString") for e in raw.get("extension") or []
                        if e.get("url") == MESSAGE_ID_EXTENSION), None)
            expr = (raw.get("expression") or raw.get("location") or [None])[0]
            try:
                sev = Severity(raw.get("severity", "error"))
            except ValueError:
                sev = Severity.ERROR
            try:
                code = IssueCode(raw.get("code", "processing"))
            except ValueError:
                code = IssueCode.PROCESSING
            text = (raw.get("details") or {}).get("text") or raw.get("diagnostics") or ""
            issues.append(Issue(sev, code, mid or "SERVER_ISSUE", text, source=source,
                                expression=expr if expr != "$" else None))
        return cls(tuple(issues))
