"""The MFD paper's training experiments (Tables I-IV analogues): ``python -m experiments mfd``."""
