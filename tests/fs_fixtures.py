"""File-system situations for the reliability tests: a read-only directory, a small (full) file system.

As root a ``chmod 0o555`` directory is still writable, so a read-only one is a read-only tmpfs mount there;
where mounting is not allowed the tests that need it skip, saying why.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest


def _mount(path: Path, options: str) -> None:
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({(r.stderr or r.stdout).strip() or r.returncode}); the test needs "
                    "root with CAP_SYS_ADMIN")


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def _populate(root: Path, contents: dict) -> None:
    for rel, data in contents.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else str(data).encode())


@contextlib.contextmanager
def readonly_dir(path, contents: dict | None = None):
    """``path`` (created, holding ``contents``: ``relative path -> text | bytes``) as a directory tree this
    process cannot write in."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        _populate(path, contents or {})
        dirs = [path] + [p for p in path.rglob("*") if p.is_dir()]
        for d in dirs:
            d.chmod(0o555)
        try:
            yield path
        finally:
            for d in dirs:
                d.chmod(0o755)
        return
    _mount(path, "size=256k")
    try:
        _populate(path, contents or {})
        r = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip(f"cannot remount read-only ({r.stderr.strip()})")
        yield path
    finally:
        _umount(path)


@contextlib.contextmanager
def small_fs(path, size_kib: int):
    """``path`` (created) as the mount point of a tmpfs of ``size_kib`` KiB (root only; else the test skips)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    _mount(path, f"size={int(size_kib)}k")
    try:
        yield path
    finally:
        _umount(path)


def fill(directory, keep_bytes: int = 0) -> Path:
    """Fill the file system of ``directory`` with one file until at most ``keep_bytes`` are free."""
    p = Path(directory) / "filler.bin"
    st = os.statvfs(directory)
    free = st.f_bavail * st.f_frsize
    with open(p, "wb") as fh:
        try:
            fh.write(b"\0" * max(0, free - keep_bytes))
            fh.flush()
            os.fsync(fh.fileno())
        except OSError:
            pass
    return p


def tree(root) -> dict:
    """``relative path -> bytes`` of every file under ``root`` (hidden ones too)."""
    root = Path(root)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
