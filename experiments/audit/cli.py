"""``python -m experiments audit run``: see :mod:`experiments.audit.run`."""

from __future__ import annotations

from experiments.common.cli import Verb

from .run import AuditOptions

__all__ = ["VERBS"]


def _run(cfg: AuditOptions, ctx) -> int:
    from experiments.common.commit import deferred_writes

    from .run import write_audit

    with deferred_writes(cfg.out):                      # REPORT.md and audit.json land together
        path = write_audit(cfg, log=ctx["log"])
    print(f"audit: {path}")
    return 0


VERBS = {"run": Verb("what the public implementations' deviations change: reports/audit/REPORT.md", AuditOptions,
                     _run)}
