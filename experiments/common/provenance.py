"""Provenance of a result: versions, git commit, device, command line, times.

Example
-------
>>> p = provenance(seed=0, device="cpu", dtype="float64", threads=1, command="python -m experiments ...",
...                started=0.0, wall=1.5)
>>> sorted(p)[:4], p["wall_time_s"]
(['command', 'cpu_count', 'device', 'device_name'], 1.5)
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
from pathlib import Path

import numpy as np

__all__ = ["git", "versions", "provenance", "bootstrap_seed"]

ROOT = Path(__file__).resolve().parents[2]


def git(*args) -> str | None:
    """``git args...`` in the repository, stripped stdout, or None when git or the repository is absent."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def versions() -> dict:
    import scipy
    import tabulate
    import torch

    return {"python": platform.python_version(), "numpy": np.__version__, "scipy": scipy.__version__,
            "torch": torch.__version__, "tabulate": tabulate.__version__}


def provenance(*, seed, device, dtype, threads, command, started: float, wall: float) -> dict:
    """What produced a result: seed(s), device and its name, dtype, threads, versions, git commit and
    whether tracked files differed from it, the command line, start time (UTC) and wall time."""
    import torch

    dirty = git("status", "--porcelain", "--untracked-files=no")
    dev = torch.device(device)
    return {
        "seed": seed, "device": str(dev),
        "device_name": (torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor()
                        or platform.machine()),
        "dtype": dtype, "threads": threads, "versions": versions(),
        "git_commit": git("rev-parse", "HEAD"), "git_dirty": (bool(dirty) if dirty is not None else None),
        "command": command,
        "started_utc": _dt.datetime.fromtimestamp(started, _dt.timezone.utc).isoformat(timespec="seconds"),
        "wall_time_s": round(wall, 3), "cpu_count": os.cpu_count(),
    }


def bootstrap_seed(seed: int) -> np.random.SeedSequence:
    """The seed of the bootstrap resamples of a run with base seed ``seed`` (same for every row)."""
    return np.random.SeedSequence([int(seed), 0xB007])
