"""The CS paper's CNN training experiments (Table 5, Figures 1-3 and 5 analogues): ``python -m experiments cs``."""
