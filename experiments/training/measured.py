"""Run plans whose runs are measured after training (MFD / POD experiments, issue 6).

:func:`run_measured_plan` is :func:`experiments.training.cs_experiments.run_plan` plus one step: when a run
is done, ``measure(trainer)`` is called on the trained model (the :class:`~experiments.training.engine.Trainer`
with its final weights, from memory or from the run's final ``checkpoint.pt``) and returns
``(numbers, arrays)``. ``numbers`` (JSON) is stored in the result file under ``"measure"``; ``arrays``
(``name -> ndarray``, e.g. feature maps for figures) go to a compressed ``.npz`` beside it. A run killed
after training but before its result file was written is measured from its checkpoint on the next call.

Same skip / resume rules as :func:`run_plan`: a result file whose config differs from the plan's is an error
(give such runs a ``--tag``).
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .cs import threads as scoped_threads
from .cs_experiments import run_plan
from .engine import Trainer
from experiments.common.io import read_json, write_bytes_atomic

__all__ = ["run_measured_plan", "arrays_path", "load_arrays"]


def arrays_path(result_json) -> Path:
    return Path(result_json).with_suffix(".npz")


def load_arrays(result_json) -> dict | None:
    p = arrays_path(result_json)
    if not p.is_file():
        return None
    with np.load(p) as z:
        return {k: z[k] for k in z.files}


def _save_arrays(path: Path, arrays: dict) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    write_bytes_atomic(path, buf.getvalue())


def run_measured_plan(configs, *, trainer_cls: type = Trainer, measure: Callable | None = None, results_dir,
                      device=None, threads=None, progress=True, dry_run=False, log=print) -> list[dict]:
    """Run each config whose result JSON is missing (resuming from its checkpoint), measure it, save it."""

    def execute(cfg, dest):
        trainer = trainer_cls(cfg)
        finished = Path(cfg.out_dir) / "result.json"
        if finished.is_file():
            rec = read_json(finished)
            if rec["status"] == "done":
                trainer.load_checkpoint()                 # the final weights (saved after the last epoch)
        else:
            rec = trainer.run(resume=True)
        rec = dict(rec)
        if measure is not None and rec["status"] == "done":
            tm = time.perf_counter()
            with scoped_threads(cfg.threads or None):
                numbers, arrays = measure(trainer)
            rec["measure"] = dict(numbers, seconds=time.perf_counter() - tm)
            if arrays:
                _save_arrays(arrays_path(dest), arrays)
        return rec

    return run_plan(configs, results_dir=results_dir, device=device, threads=threads, progress=progress,
                    dry_run=dry_run, log=log, execute=execute)
