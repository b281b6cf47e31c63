"""``python -m experiments <experiment> <verb> [flags]``: the one command line of the test-bed.

Each experiment package has a ``cli`` module with a ``VERBS`` dict of :class:`experiments.common.cli.Verb`;
only the chosen experiment is imported. ``python -m experiments`` lists the experiments,
``python -m experiments <experiment>`` its verbs, ``... <verb> --help`` every flag with its default.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import sys

from experiments.common.cli import CommandError, UsageError, add_config_arguments, config_from_args, log, to_toml

#: name -> (module holding VERBS, one line of help)
EXPERIMENTS = {
    "montecarlo": ("experiments.montecarlo.cli", "CS paper Monte Carlo Tables 1, 2, 3, 6 (1-D, two kernels)"),
    "claim2d": ("experiments.claim2d.cli", "the CS paper's central claim in 2-D (C channels, S kernels, images)"),
    "training": ("experiments.training.cli", "one training run from TrainConfig flags"),
    "cs": ("experiments.cs.cli", "CS paper CNN training: Table 5, Figures 1-3 and 5 analogues"),
    "mfd": ("experiments.mfd.cli", "MFD paper training: Tables I-IV analogues"),
    "pod": ("experiments.pod.cli", "POD paper training: Tables I, V-VII analogues"),
    "audit": ("experiments.audit.cli", "what the public implementations' deviations change (reports/audit)"),
    "claims": ("experiments.claims.cli", "one claims table over the CS, MFD and POD reports (Holm-adjusted)"),
}

PROG = "python -m experiments"


def _top_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Experiments of the redundancy test-bed: "
                                "python -m experiments <experiment> <verb> [flags].")
    sub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", required=True)
    for name, (_, help_) in EXPERIMENTS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def build_parser(experiment: str) -> argparse.ArgumentParser:
    """The parser of one experiment, its verbs as sub-commands."""
    module, help_ = EXPERIMENTS[experiment]
    verbs = importlib.import_module(module).VERBS
    p = argparse.ArgumentParser(prog=f"{PROG} {experiment}", description=help_)
    sub = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, verb in verbs.items():
        vp = sub.add_parser(name, help=verb.help, description=verb.description or verb.help)
        add_config_arguments(vp, verb.config)
        if verb.add_arguments is not None:
            verb.add_arguments(vp)
        vp.set_defaults(_verb=verb)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        _top_parser().print_help()
        return 0
    if argv[0] not in EXPERIMENTS:
        _top_parser().parse_args(argv)          # prints help or the usage error and exits
        return 2
    experiment, rest = argv[0], argv[1:]
    parser = build_parser(experiment)
    if not rest:
        parser.print_help()
        return 0
    ns = parser.parse_args(rest)
    verb = ns._verb
    vparser = parser._subparsers._group_actions[0].choices[ns.verb]
    try:
        cfg = config_from_args(verb.config, ns, **(verb.fixed(ns) if verb.fixed else {}))
        if hasattr(cfg, "validate"):
            cfg = cfg.validate()
        if ns.print_config:
            sys.stdout.write(to_toml(cfg))
            return 0
        ctx = {"command": f"{PROG} " + shlex.join(argv), "log": log, "ns": ns}
        return int(verb.func(cfg, ctx) or 0)
    except UsageError as exc:
        vparser.exit(2, f"{vparser.prog}: error: {exc}\n")
    except CommandError as exc:                  # e.g. a full disk met mid-write: named, nothing half-written
        vparser.exit(1, f"{vparser.prog}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
