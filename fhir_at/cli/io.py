"""Reading JSON inputs (with line and column on syntax errors) and writing outputs atomically."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path as FsPath

from ..errors import ConfigError, InputError
from ..messages import Msg, issue

__all__ = ["read_bytes", "parse_json", "read_json", "read_fhir_input", "open_output", "write_output", "dumps"]


def read_bytes(source: str) -> bytes:
    if source == "-":
        return sys.stdin.buffer.read()
    try:
        return FsPath(source).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"cannot read {source}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"cannot read {source}: it is a directory") from None
    except OSError as exc:
        raise ConfigError(f"cannot read {source}: {exc.strerror}") from None


def parse_json(data: bytes, name: str):
    import orjson

    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        text = exc.msg.split(":")[0] if exc.msg else "invalid JSON"
        raise InputError(f"{name} is not valid JSON", [issue(
            Msg.JSON_SYNTAX, f"invalid JSON: {text} (line {exc.lineno}, column {exc.colno})",
            line=exc.lineno, column=exc.colno)]) from None


def read_json(source: str):
    return parse_json(read_bytes(source), "standard input" if source == "-" else source)


def read_fhir_input(source: str):
    """A Bundle or resource (JSON), NDJSON of resources, or a directory of such files."""
    path = FsPath(source)
    if source != "-" and path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".ndjson") and p.is_file())
        if not files:
            raise ConfigError(f"{source} holds no .json or .ndjson file")
        return [_read_one(str(p), p.name) for p in files]
    return _read_one(source, source)


def _read_one(source: str, name: str):
    data = read_bytes(source)
    if source.endswith(".ndjson"):
        items = []
        for n, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                try:
                    items.append(parse_json(line, f"{name} line {n}"))
                except InputError as exc:
                    raise InputError(exc.message, [issue(
                        Msg.JSON_SYNTAX, f"{exc.issues[0].message.split(' (line')[0]} (line {n})",
                        line=n, column=exc.issues[0].column)]) from None
        return items
    return parse_json(data, "standard input" if source == "-" else name)


def dumps(obj) -> bytes:
    import orjson

    return orjson.dumps(obj, option=orjson.OPT_INDENT_2) + b"\n"


def _mode_for(dest: FsPath) -> int:
    """The replaced file's mode, or what a plain ``open(..., "w")`` would give (0666 & ~umask)."""
    try:
        return dest.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


@contextlib.contextmanager
def open_output(target: str | None):
    """A binary stream to stdout, or to a temporary file renamed to ``target`` only on success:
    a reader never sees a half-written file, and a failure leaves the old file as it was."""
    if target is None or target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    dest = FsPath(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent or ".")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.chmod(tmp, _mode_for(dest))
        os.replace(tmp, dest)
    except OSError as exc:
        FsPath(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    except BaseException:
        FsPath(tmp).unlink(missing_ok=True)
        raise


def write_output(data: bytes, target: str | None) -> None:
    """Writes ``data`` to ``target`` (or stdout) atomically (see :func:`open_output`)."""
    with open_output(target) as fh:
        fh.write(data)
