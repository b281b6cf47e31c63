"""Batched torch twins of :mod:`theory.reference`: same names, same semantics.

Every array argument may carry leading batch axes, broadcast against each other; results keep them.
The twins are differentiable (checked with ``torch.autograd.gradcheck`` in float64) and run on the
device of their inputs (CPU or CUDA; ``meta`` tensors give shape-only results).

Policies shared with the references (each docstring says which apply): float16 and bfloat16 tensors are
computed in float32 and the results are float32 (their sums of products overflow float16 and lose most
digits in bfloat16; the gradient flows back in the input's dtype); a call whose outputs or intermediates
would exceed the memory cap of :mod:`theory._validate` (default min(available memory, 8 GiB)) is refused
before allocating, with a ValueError naming the argument and the estimate; a result that overflows its
dtype from finite inputs is a ValueError naming the arguments, never an inf or NaN (except the Monte Carlo
engines of :mod:`theory.batched.gram`, which propagate non-finite values by design); cosines and Pearson
correlations are correct for any finite magnitudes; a ``device=`` argument naming a device this machine
lacks (e.g. ``'cuda'`` without CUDA) is a ValueError naming ``device``.
"""

from . import correlations, fast_similarity, gram, identity, orthogonality, pearson, pedcc, similarity
from .correlations import *  # noqa: F401,F403
from .identity import *  # noqa: F401,F403
from .similarity import *  # noqa: F401,F403
from .pearson import *  # noqa: F401,F403
from .pedcc import *  # noqa: F401,F403
from .fast_similarity import *  # noqa: F401,F403
from .orthogonality import *  # noqa: F401,F403
from .gram import *  # noqa: F401,F403

__all__ = list(dict.fromkeys([*correlations.__all__, *identity.__all__, *similarity.__all__, *pearson.__all__,
                              *pedcc.__all__, *fast_similarity.__all__, *orthogonality.__all__, *gram.__all__]))
