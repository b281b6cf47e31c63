"""What every experiment shares: the CLI built from config dataclasses (``cli``), the run loop (``plan``: skip,
resume, identity check, atomic save), ``provenance``, statistics and the one verdict rule (``stats``),
per-episode Monte Carlo statistics (``episode_stats``), the batched optimisers (``optim``), atomic ``io``
and ``report`` helpers.

Rule: an experiment package (``montecarlo``, ``claim2d``, ``cs``, ``mfd``, ``pod``) imports
``experiments.common``, ``experiments.training`` and ``theory``, never another experiment package;
``common`` imports none of them but ``theory`` (checked by ``tests/test_layout.py``).
"""
