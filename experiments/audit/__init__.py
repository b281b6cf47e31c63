"""What the public implementations' deviations change (``python -m experiments audit run``)."""
