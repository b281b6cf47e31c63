"""Batched torch twins of :mod:`theory.reference`: same names, same semantics.

Every array argument may carry leading batch axes, broadcast against each other; results keep them.
The twins are differentiable (checked with ``torch.autograd.gradcheck`` in float64) and run on the
device of their inputs (CPU or CUDA).
"""

from .correlations import *  # noqa: F401,F403
from .identity import *  # noqa: F401,F403
from .similarity import *  # noqa: F401,F403
from .pearson import *  # noqa: F401,F403
from .pedcc import *  # noqa: F401,F403
from .fast_similarity import *  # noqa: F401,F403
from .orthogonality import *  # noqa: F401,F403
from .gram import *  # noqa: F401,F403
