"""Monte Carlo reproduction of the CS paper's Tables 1, 2, 3 and 6 (``python -m experiments montecarlo``).

* :mod:`.spec` — objectives, the paper's hyper-parameters (Tables 7-9) and published values, seeds, options;
* :mod:`.episodes` — the batched torch runner (all episodes of a configuration as one batch), on the
  registered engines of :mod:`theory.batched` (Gram matrices, kernel spectra, autocorrelation);
* :mod:`.naive` — the per-episode NumPy reference loop built on :mod:`theory.reference`;
* :mod:`.metrics` — correlation, reduction, decrease/increase, scale-invariant extras, 95% intervals;
* :mod:`.verdict` — comparison with the paper's values, verdicts;
* :mod:`.run` — orchestration, the results JSON; :mod:`.report` — markdown, schema, figure from the results;
* :mod:`.cli` — the ``run`` and ``report`` verbs.
"""
