"""What every experiment shares: the CLI built from config dataclasses, the run loop (plan, skip, resume,
atomic save), provenance, statistics and verdicts, the batched optimisers, atomic I/O and report helpers.

Rule: an experiment package (``montecarlo``, ``claim2d``, ``cs``, ``mfd``, ``pod``) imports
``experiments.common``, ``experiments.training`` and ``theory``, never another experiment package;
``common`` imports none of them but ``theory`` (checked by ``tests/test_layout.py``).
"""
