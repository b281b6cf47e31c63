"""The POD paper's training experiments (Tables I, V-VII analogues): ``python -m experiments pod``."""
