"""Atomic writes (temporary file in the target directory, fsync, ``os.replace``) and JSON/CSV helpers.

Shared by every experiment: a reader, or a process killed mid-write, sees the old file or the whole new one.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["write_bytes_atomic", "write_text_atomic", "write_json_atomic", "write_csv_atomic",
           "torch_save_atomic", "read_json", "jsonable", "dumps_json", "write_all_atomic", "save_arrays",
           "load_arrays", "check_inside"]


def write_bytes_atomic(path, data: bytes) -> Path:
    """Readers (and a process killed mid-write) see the old file or the whole new one, never a torn one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
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
    """Write every ``{path: str | bytes}`` atomically, after all contents have been produced."""
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
