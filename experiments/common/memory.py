"""How much memory a command may use: the host's available memory, and the refusal of a run whose estimate
exceeds it (before any work, instead of a ``MemoryError`` after minutes).

Example
-------
>>> available_bytes() is None or available_bytes() > 0
True
>>> check_memory("episodes", 10, 1 << 20, "10 episodes")
"""

from __future__ import annotations

import os

from .cli import UsageError, flag_of

__all__ = ["available_bytes", "check_memory", "BASE_BYTES"]

#: what a command's process holds before its data (interpreter, torch, NumPy): added to each process's estimate
BASE_BYTES = 400 << 20


def available_bytes() -> int | None:
    """``MemAvailable`` of ``/proc/meminfo`` (memory a new allocation can get without swapping), else the
    free physical pages (``os.sysconf``), else None (unknown: nothing is refused)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(name: str, value, need: int, what: str, *, hint: str = "") -> None:
    """A :class:`UsageError` naming ``--name`` when ``need`` bytes (the estimate for ``what``) exceed the
    available memory."""
    avail = available_bytes()
    if avail is None or need <= avail:
        return
    raise UsageError(f"{flag_of(name)}: {what} need about {need / 2**30:.1f} GiB of memory (estimated from the "
                     f"options before any work), more than the {avail / 2**30:.1f} GiB available (MemAvailable); "
                     f"{hint or 'ask for less'}")
