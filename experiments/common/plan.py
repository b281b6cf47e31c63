"""The one run loop of every plan command: skip what is done, resume what was started, run the rest, save
each result atomically as soon as it exists.

A plan is a list of items (configs). For each, ``dest(item)`` is its result file and ``identity(item)``
the dict of every field that changes its numbers; a saved result whose identity differs from the plan's
is an error (:class:`~experiments.common.cli.UsageError`: change the tag or the results directory),
never silently taken as done. ``execute(item, dest)`` runs (or resumes) one item and returns its record,
which ``save(dest, record)`` writes (always in the calling process); ``measure`` is an optional step
between the two. Where ``execute`` runs is the ``runner``'s choice (:mod:`experiments.common.executors`:
this process, a local process pool, Ray tasks); the skip / identity / atomic-save rules are the same.

Example
-------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> items = [{"name": "a", "x": 1}, {"name": "b", "x": 2}]
>>> plan = Plan(dest=lambda it: d / f"{it['name']}.json", identity=lambda it: {"x": it["x"]},
...             execute=lambda it, dest: {"config": {"x": it["x"]}, "y": it["x"] ** 2}, log=lambda m: None)
>>> [r["y"] for r in plan.run(items)]
[1, 4]
>>> plan.run(items, dry_run=True) and sorted(p.name for p in d.iterdir())
['a.json', 'b.json']
>>> import shutil; shutil.rmtree(d)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .cli import UsageError
from .executors import Sequential
from .io import read_json, write_json_atomic

__all__ = ["Plan", "identity_diff"]


def identity_diff(saved: dict, now: dict) -> dict:
    """``{field: (saved, now)}`` for every field whose value differs."""
    return {k: (saved.get(k), now.get(k)) for k in sorted(set(saved) | set(now)) if saved.get(k) != now.get(k)}


@dataclass
class Plan:
    dest: Callable                           #: item -> result path
    identity: Callable                       #: item -> dict of the fields that change its numbers
    execute: Callable                        #: (item, dest) -> record
    saved_identity: Callable = lambda rec: rec["config"]     #: record -> dict (compared with identity)
    save: Callable = write_json_atomic       #: (dest, record)
    name: Callable = lambda it: getattr(it, "name", None) or it["name"]
    summary: Callable = lambda rec: ""       #: record -> one line for the log
    log: Callable = print
    read: Callable = read_json               #: dest -> record (a saved result)

    def check(self, item, rec, dest) -> None:
        saved = self.saved_identity(rec)
        now = self.identity(item)
        diff = identity_diff({k: saved.get(k) for k in now}, now)
        if diff:
            raise UsageError(f"{dest}: a result with different settings exists {diff}; give these runs another "
                             "--tag or --results-dir (the identity of a result is every field that changes its "
                             "numbers)")

    def status(self, items) -> list[tuple]:
        """``(item, dest, 'done' | 'todo')`` for each item, checking the identity of the done ones."""
        out = []
        for it in items:
            dest = Path(self.dest(it))
            if dest.is_file():
                self.check(it, self.read(dest), dest)
                out.append((it, dest, "done"))
            else:
                out.append((it, dest, "todo"))
        return out

    def run(self, items, *, dry_run: bool = False, runner=None) -> list[dict]:
        """Every item's record (read when done, else executed and saved), in plan order.

        ``runner`` (:mod:`experiments.common.executors`; default :class:`~.executors.Sequential`) decides
        where ``execute`` runs; whatever it is, the records are saved here, each as soon as it arrives.
        """
        items = list(items)
        states = self.status(items)                # every conflict is reported before any work
        total = len(items)
        records: list = [None] * total
        todo = []
        for k, (it, dest, state) in enumerate(states):
            head = f"[{k + 1}/{total}] {self.name(it)}"
            if state == "done":
                self.log(f"{head}: done ({dest}), skipped")
                records[k] = self.read(dest)
            elif dry_run:
                self.log(f"{head}: would run -> {dest}")
            else:
                todo.append((k, it, dest))
        runner = runner if runner is not None else Sequential()
        parallel = not isinstance(runner, Sequential)
        t_start = time.perf_counter()

        def started(k):
            if parallel:
                self.log(f"[{k + 1}/{total}] {self.name(items[k])}: started ({runner.name})")

        if todo:
            for k, rec, seconds in runner.map(self.execute, todo, started=started):
                self.save(states[k][1], rec)
                records[k] = rec
                line = self.summary(rec)
                self.log(f"[{k + 1}/{total}] {self.name(items[k])}: {line}{', ' if line else ''}{seconds:.1f}s "
                         f"this call, {time.perf_counter() - t_start:.0f}s so far")
        return [r for r in records if r is not None]
