"""A folder of files that changes in one step: the outputs of ``montecarlo run``, ``claim2d run`` and the
reports (:func:`write_folder_atomic`).

The new folder is built complete in a staging directory beside the target, ``.<name>.staging-<host>-<pid>-
<random>`` (the new files, plus hard links to the files of the old folder that are not this command's
outputs), then exchanged with the target in one ``renameat2(RENAME_EXCHANGE)`` (a plain ``rename`` when there
is no target yet), and the old folder, now at the staging name, is removed. A process killed at any instant
leaves the old complete folder or the new complete one, and perhaps a staging directory, which the next
write of that folder removes (its process being gone).

The swap is used where the target holds nothing but plain files (the Monte Carlo and 2-D claim folders). A
folder that holds sub-folders (a training study's ``--out``, holding ``results/`` that other runs write
into; ``reports/``), the working directory or one of its parents, a mount point or a file system without
``RENAME_EXCHANGE`` gets a journal instead (:func:`recover`): every new file is first written complete
beside its target as ``.<name>.commit-<host>-<pid>-<random>.new``, then the journal ``.commit-journal.json``
listing the renames and removals is written atomically, then they are carried out and the journal is
removed. A kill before the journal leaves the old files (the ``.new`` ones are removed later, their process
being gone); a kill after it is rolled forward to the new files by the next write of that folder, or by
:func:`recover`, which readers that need one consistent render call first. :func:`pending` says whether a
folder is in that state.

Code that writes its files one by one (the training studies' reports, ``claims report``, ``audit run``) runs
inside :func:`deferred_writes`: its writes under the output folder are collected in memory and handed to
:func:`write_folder_atomic` when it ends without an exception (after one, nothing is written).

Examples
--------
>>> import tempfile, pathlib, shutil
>>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
>>> _ = write_folder_atomic(d, {d / "a.json": "1", d / "b.md": "2"})
>>> _ = write_folder_atomic(d, {d / "a.json": "3"}, owned=r".*\\.(json|md)")    # b.md is an old output: gone
>>> sorted(p.name for p in d.iterdir()), (d / "a.json").read_text()
(['a.json'], '3')
>>> shutil.rmtree(d.parent)
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from .io import DEFERRED, WriteError, is_stale_tag, remove_stale_temps, write_bytes_atomic, writer_tag

__all__ = ["write_folder_atomic", "deferred_writes", "exchange", "remove_stale_staging", "recover", "pending",
           "JOURNAL"]

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_STAGING = re.compile(r"\.(?P<name>.+)\.staging-(?P<tag>[A-Za-z0-9]+-\d+)-[0-9a-f]+")
_NEW = re.compile(r"\.(?P<name>.+)\.commit-(?P<tag>[A-Za-z0-9]+-\d+)-[0-9a-f]+\.new")
#: the journal of a folder's pending renames (:func:`recover`)
JOURNAL = ".commit-journal.json"


def exchange(a, b) -> bool:
    """Swap the paths ``a`` and ``b`` atomically (Linux ``renameat2(RENAME_EXCHANGE)``); False where the
    system or the file system cannot (nothing changed then), :class:`OSError` for other failures."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EXDEV, errno.EOPNOTSUPP, errno.EBUSY):
        return False
    raise OSError(err, os.strerror(err), str(b))


def remove_stale_staging(root) -> list[Path]:
    """Remove the staging directories of ``root`` (beside it) that dead processes left; never raises."""
    root = Path(root)
    out = []
    try:
        entries = list(os.scandir(root.parent if str(root.parent) else "."))
    except OSError:
        return out
    for e in entries:
        m = _STAGING.fullmatch(e.name)
        try:
            if m and m["name"] == root.name and e.is_dir(follow_symlinks=False) \
                    and is_stale_tag(m["tag"], e.stat(follow_symlinks=False).st_mtime):
                shutil.rmtree(e.path, ignore_errors=True)
                out.append(Path(e.path))
        except OSError:
            pass
    return out


def _owned(owned):
    if owned is None:
        return lambda name: False
    if callable(owned):
        return owned
    rx = re.compile(owned)
    return lambda name: rx.fullmatch(name) is not None


def _swappable(root: Path) -> bool:
    """The target may be exchanged as a whole: absent, or a folder of plain files only that is neither the
    working directory nor above it, nor a mount point."""
    if not root.exists():
        return root.parent.is_dir() and os.access(root.parent, os.W_OK | os.X_OK)
    if root.is_symlink() or not root.is_dir() or os.path.ismount(root):
        return False
    here, target = os.path.realpath(os.getcwd()), os.path.realpath(root)
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        return False
    if not os.access(root.parent, os.W_OK | os.X_OK):
        return False
    try:
        return all(e.is_file(follow_symlinks=False) for e in os.scandir(root))
    except OSError:
        return False


def _write_plain(path: Path, data: bytes, target: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise WriteError(exc.errno, exc.strerror or str(exc), str(target)) from exc


def _fsync_dir(path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_folder_atomic(root, files: dict, *, owned=None) -> list[Path]:
    """Write ``{path: str | bytes}`` (every path inside ``root``) so that ``root`` changes in one step.

    Parameters
    ----------
    root : path
        The output folder; created if missing.
    files : dict
        The new files (their whole content, produced before this call).
    owned : str (regular expression) or callable, optional
        Names (relative to ``root``) of this command's outputs: those of the old folder that the new write
        does not hold are dropped (a folder never mixes files of two writes). Other files are kept.

    Returns
    -------
    list of Path
        The files written, in the order given.

    Raises
    ------
    WriteError
        Naming the file that could not be written; the old folder is then unchanged and no staging is left.
    """
    root = Path(root)
    rel = {}
    for p, d in files.items():
        r = os.path.relpath(os.path.abspath(p), os.path.abspath(root))
        if r.startswith(os.pardir) or os.path.isabs(r) or r == os.curdir:
            raise ValueError(f"write_folder_atomic: {p} lies outside {root}")
        rel[r] = d if isinstance(d, bytes) else d.encode("utf-8")
    mine = _owned(owned)
    remove_stale_staging(root)
    recover(root)                                          # also removes dead writers' temporaries in root
    if _swappable(root) and _swap(root, rel, mine):
        return [Path(p) for p in files]
    _journaled(root, rel, mine if owned is not None else None)
    return [Path(p) for p in files]


def _delay() -> float:
    return float(os.environ.get("EXPERIMENTS_TEST_COMMIT_DELAY") or 0)   # tests only: a window to kill in


def pending(root) -> bool:
    """Whether ``root`` holds a journal: a write of it was killed between its renames, and its files may
    belong to two writes until :func:`recover` (or the next write) completes it."""
    return (Path(root) / JOURNAL).is_file()


def recover(root) -> bool:
    """Complete the write of ``root`` that a killed process left journaled (roll forward to the new files),
    and remove the ``.new`` files of writers that died before their journal and the temporaries dead writers
    left in ``root`` (a journal killed mid-write); True when there was a journal.

    Raises :class:`WriteError` naming the file when a rename cannot be done (the journal then stays).
    """
    root = Path(root)
    j = root / JOURNAL
    found = False
    if j.is_file():
        try:
            plan = json.loads(j.read_text())
            moves, deletes = plan["moves"], plan["deletes"]
        except (OSError, ValueError, KeyError, TypeError):
            moves, deletes = None, None                     # not this module's journal (it is written atomically)
        if moves is not None:
            _apply(root, moves, deletes)
            found = True
    if root.is_dir():
        _remove_stale_new(root)
        remove_stale_temps(root)                            # e.g. a journal killed while being written
    return found


def _remove_stale_new(root: Path) -> None:
    for d, _, names in os.walk(root):
        for n in names:
            m = _NEW.fullmatch(n)
            if m:
                p = os.path.join(d, n)
                try:
                    if is_stale_tag(m["tag"], os.stat(p, follow_symlinks=False).st_mtime):
                        os.unlink(p)
                except OSError:
                    pass


def _apply(root: Path, moves, deletes) -> None:
    delay = _delay()
    dirs = {root}
    for tmp, final in moves:
        src, dst = root / tmp, root / final
        try:
            if src.exists():
                os.replace(src, dst)
                dirs.add(dst.parent)
            elif not dst.exists():
                raise FileNotFoundError(errno.ENOENT, "the journaled new file is missing", str(src))
        except OSError as exc:
            raise WriteError(exc.errno, exc.strerror or str(exc), str(dst)) from exc
        if delay:
            time.sleep(delay)
    for name in deletes:
        try:
            os.unlink(root / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise WriteError(exc.errno, exc.strerror or str(exc), str(root / name)) from exc
    for d in dirs:
        _fsync_dir(d)
    try:
        os.unlink(root / JOURNAL)
    except FileNotFoundError:
        pass
    _fsync_dir(root)


def _journaled(root: Path, rel: dict, mine) -> None:
    """Write the new files beside their targets, journal the renames, carry them out (module docstring)."""
    token = f"{writer_tag()}-{secrets.token_hex(4)}"
    moves, made = [], []
    try:
        for r, d in rel.items():
            final = root / r
            tmp = final.parent / f".{final.name}.commit-{token}.new"
            made.append(tmp)
            _write_plain(tmp, d, final)
            moves.append([os.path.relpath(tmp, root), r])
        deletes = []
        if mine is not None:
            deletes = sorted(e.name for e in os.scandir(root)
                             if e.is_file(follow_symlinks=False) and mine(e.name) and e.name not in rel)
        for d in {t.parent for t in made}:
            _fsync_dir(d)
        write_bytes_atomic(root / JOURNAL, json.dumps({"writer": token, "moves": moves, "deletes": deletes},
                                                      indent=1).encode("utf-8"))
    except BaseException:
        for t in made:
            try:
                os.unlink(t)
            except OSError:
                pass
        raise
    _apply(root, moves, deletes)


def _swap(root: Path, rel: dict, mine) -> bool:
    """Build the new folder beside ``root`` and exchange it in; False (nothing changed) where it cannot."""
    stage = root.parent / f".{root.name}.staging-{writer_tag()}-{secrets.token_hex(4)}"
    try:
        try:
            stage.mkdir()
        except OSError as exc:
            raise WriteError(exc.errno, exc.strerror or str(exc), str(root)) from exc
        delay = _delay()
        for r, d in rel.items():
            _write_plain(stage / r, d, root / r)
            if delay:
                time.sleep(delay)
        if root.exists():
            for e in os.scandir(root):
                if e.name in rel or mine(e.name) or (e.name.startswith(".") and e.name.endswith(".tmp")):
                    continue
                try:
                    os.link(e.path, stage / e.name)
                except OSError:
                    shutil.copy2(e.path, stage / e.name)
            _fsync_dir(stage)
            if not exchange(stage, root):
                return False
        else:
            _fsync_dir(stage)
            try:
                os.rename(stage, root)
            except OSError as exc:
                raise WriteError(exc.errno, exc.strerror or str(exc), str(root)) from exc
            stage = None
        _fsync_dir(root.parent if str(root.parent) else ".")
        return True
    finally:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)        # the failed stage, or (exchanged) the old folder


@contextlib.contextmanager
def deferred_writes(root, *, owned=None):
    """Collect every atomic write under ``root`` while the block runs; when it ends without an exception write
    them all at once (:func:`experiments.common.commit.write_folder_atomic`); after an exception, nothing.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from experiments.common.io import write_text_atomic
    >>> d = pathlib.Path(tempfile.mkdtemp()) / "out"
    >>> with deferred_writes(d):
    ...     _ = write_text_atomic(d / "a.md", "A")
    ...     d.exists()
    False
    >>> sorted(p.name for p in d.iterdir())
    ['a.md']
    >>> import shutil; shutil.rmtree(d.parent)
    """
    buf: dict = {}
    token = DEFERRED.set((os.path.abspath(root), buf))
    try:
        yield buf
    except BaseException:
        DEFERRED.reset(token)
        raise
    DEFERRED.reset(token)
    write_folder_atomic(root, buf, owned=owned)
