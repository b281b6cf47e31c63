"""The CS paper's central claim in 2-D: ``python -m experiments claim2d {run,report}``.

Monte Carlo of "kernel orthogonality does not imply feature-map orthogonality" and of the Convolutional
Similarity (plain and scale-invariant) in the setting CNNs use: k×k kernels, C input channels, S kernels,
inputs U(0, 1) and real images, paddings full / same / valid.

* :mod:`.spec` — the grid, seeds and the options of the verbs;
* :mod:`.objectives` — the batched objectives (orthogonality baselines, L_CS, normalised L_CS);
* :mod:`.data` — U(0, 1), Fashion-MNIST and scikit-image photograph samplers;
* :mod:`.runner` — one batch of episodes optimised with Adam, measured on every (input, padding) through
  the registered Gram-matrix engines of :mod:`theory.batched`;
* :mod:`.metrics` — the Table 1/2/3 columns for S kernels and the scale-invariant columns;
* :mod:`.verdict` — the data-driven findings; :mod:`.run` — orchestration, the results JSON;
  :mod:`.report` — markdown and figure from the results; :mod:`.cli` — the verbs.
"""
