"""What every training study shares: data, the papers' networks, the training engine, loss terms, run plans
and the results layout (``python -m experiments training run`` for one run)."""
