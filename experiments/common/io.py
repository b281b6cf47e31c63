"""Atomic writes (temporary file in the target directory, fsync, ``os.replace``) and JSON/CSV helpers.

Shared by every experiment: a reader, or a process killed mid-write, sees the old file or the whole new one.

A temporary file is named ``.<name>.<host>-<pid>.<random>.tmp``; one whose process is gone (a run killed
with ``kill -9`` mid-write) is removed the next time a file of its directory is written
(:func:`remove_stale_temps`). A failed write raises :class:`WriteError` (an ``OSError`` naming the file) and
leaves the old file and no temporary behind. Inside :func:`experiments.common.commit.deferred_writes` the writes under a directory are
only collected (:data:`DEFERRED`), then committed together.
"""

from __future__ import annotations

import contextvars
import csv
import io
import json
import math
import os
import re
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

from .cli import CommandError

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_json_atomic", "write_csv_atomic",
           "torch_save_atomic", "read_json", "jsonable", "dumps_json", "write_all_atomic", "save_arrays",
           "load_arrays", "check_inside", "WriteError", "writer_tag", "is_stale_tag", "remove_stale_temps",
           "DEFERRED"]

#: a temporary left behind by a process that is not gone yet is kept this long (seconds) when its owner cannot
#: be checked (another host, or a name without an owner)
STALE_AFTER_S = 3600.0


class WriteError(OSError, CommandError):
    """A file could not be written; ``filename`` is the file meant, the message names it and the cause."""

    def __str__(self) -> str:
        return f"cannot write {self.filename}: {self.strerror}"


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"


def writer_tag() -> str:
    """``<host>-<pid>``: the owner part of this process's temporary names."""
    return f"{_host()}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_TAG = re.compile(r"(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)")


def is_stale_tag(tag: str | None, mtime: float) -> bool:
    """Whether a temporary owned by ``tag`` (``<host>-<pid>``, or None) is left over from a dead process: its
    process is gone (same host), or, where that cannot be checked, it is older than :data:`STALE_AFTER_S`."""
    m = _TAG.fullmatch(tag or "")
    if m and m["host"] == _host():
        return int(m["pid"]) != os.getpid() and not _pid_alive(int(m["pid"]))
    return time.time() - mtime > STALE_AFTER_S


_TEMP = re.compile(r"\.(?P<name>.+)\.(?P<tag>[A-Za-z0-9]+-\d+)\.[a-z0-9_]+\.tmp")
_OLD_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")        # written before the owner was in the name


def remove_stale_temps(directory) -> list[Path]:
    """Remove the temporaries that dead processes left in ``directory`` (a run killed mid-write); returns
    them. Only this module's names count: ``.<name>.<host>-<pid>.<random>.tmp`` whose process is gone
    (:func:`is_stale_tag`), and the older ``.<name>.<random>.tmp`` beside an existing ``<name>`` when older than
    :data:`STALE_AFTER_S`. Never raises."""
    d = Path(directory)
    removed = []
    try:
        entries = [e for e in os.scandir(d) if e.name.startswith(".") and e.name.endswith(".tmp")]
    except OSError:
        return removed
    for e in entries:
        m, old = _TEMP.fullmatch(e.name), _OLD_TEMP.fullmatch(e.name)
        try:
            if not e.is_file(follow_symlinks=False):
                continue
            mtime = e.stat(follow_symlinks=False).st_mtime
            if (m and is_stale_tag(m["tag"], mtime)) or \
                    (not m and old and (d / old["name"]).exists() and is_stale_tag(None, mtime)):
                os.unlink(e.path)
                removed.append(Path(e.path))
        except OSError:
            pass
    return removed


#: (root, {path: bytes}) while :func:`experiments.common.commit.deferred_writes` collects the writes under root
DEFERRED: contextvars.ContextVar = contextvars.ContextVar("deferred_writes", default=None)


def _deferred(path: Path):
    d = DEFERRED.get()
    if d is None:
        return None
    root, buf = d
    a = os.path.abspath(path)
    return buf if a == root or a.startswith(root + os.sep) else None


def write_bytes_atomic(path, data: bytes) -> Path:
    """Readers (and a process killed mid-write) see the old file or the whole new one, never a torn one.

    Raises :class:`WriteError` naming ``path`` when it cannot be written (the old file stays, no temporary is
    left); first removes the temporaries that dead processes left beside it (:func:`remove_stale_temps`).
    """
    path = Path(path)
    buf = _deferred(path)
    if buf is not None:
        buf[path] = bytes(data)
        return path
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{writer_tag()}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise WriteError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
    return path


def write_text_atomic(path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def jsonable(obj):
    """JSON-safe copy: non-finite floats -> None, tuples -> lists, tensors/NumPy scalars -> Python."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if type(obj).__module__.startswith("torch") and hasattr(obj, "tolist"):      # a tensor, without importing torch
        return jsonable(obj.tolist())
    if hasattr(obj, "item") and callable(obj.item):
        return jsonable(obj.item())
    return obj


def dumps_json(obj, indent: int = 2) -> str:
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False) + "\n"


def write_json_atomic(path, obj, indent: int = 1) -> Path:
    return write_text_atomic(path, dumps_json(obj, indent))


def write_all_atomic(files: dict) -> list[Path]:
    """Write every ``{path: str | bytes}`` atomically (each file), after all contents have been produced.
    For a folder of files that must change together see :func:`experiments.common.commit.write_folder_atomic`."""
    return [write_bytes_atomic(p, d if isinstance(d, bytes) else d.encode("utf-8")) for p, d in files.items()]


def read_json(path):
    with open(path) as fh:
        return json.load(fh)


def write_csv_atomic(path, rows: list[dict], columns: list[str]) -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else repr(r[k]) if isinstance(r.get(k), float) else r[k])
                    for k in columns})
    return write_text_atomic(path, buf.getvalue())


def torch_save_atomic(obj, path) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return write_bytes_atomic(path, buf.getvalue())


def save_arrays(path, arrays: dict) -> Path:
    """``name -> array`` to a compressed ``.npz``, atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return write_bytes_atomic(path, buf.getvalue())


def load_arrays(path) -> dict | None:
    """The arrays of an ``.npz`` written by :func:`save_arrays`, or None when there is none."""
    p = Path(path)
    if not p.is_file():
        return None
    with np.load(p) as z:
        return {k: z[k] for k in z.files}


def check_inside(path, root, flag: str = "path") -> Path:
    """``path`` resolved, refusing (ValueError naming ``flag``) anything outside the directory ``root``."""
    p, r = Path(path).resolve(), Path(root).resolve()
    if p != r and r not in p.parents:
        raise ValueError(f"{flag}: {str(path)!r} lies outside {str(root)!r}; a command writes only inside the "
                         "directories it was given")
    return p
