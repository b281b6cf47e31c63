"""NumPy/SciPy reference implementations: plain, float64, one function per quantity of the papers.

Every function here has a batched torch twin of the same name and semantics in :mod:`theory.batched`.

Policies shared by every function (each one's docstring says which apply):

* arrays: any real numeric dtype is converted to float64 (bool, integers, float16: a float16 array gives
  exactly the result of its float64 copy); a ``torch.Tensor`` counts as array_like and is read detached, on
  the CPU (one that requires grad gives the result of its values); complex or non-numeric arrays are a
  TypeError, NaN or inf a ValueError, both naming the argument;
* sizes, lags, strides and seeds are ints (not floats, strings or bools), checked before any work;
* before allocating or looping, a call whose memory or loop work would exceed the caps of
  :mod:`theory._validate` (``MEMORY_CAP``: default min(available memory, 8 GiB); ``WORK_CAP``: about a
  minute of loops) is a ValueError naming the argument and the estimate;
* a result that overflows float64 from finite inputs is a ValueError naming the arguments, never an inf
  or NaN; scale-invariant quantities (cosines, Pearson correlations) are computed scale-invariantly, so
  they are correct for any finite magnitudes.
"""

from . import correlations, gram, identity, orthogonality, pearson, pedcc, similarity
from .correlations import *  # noqa: F401,F403
from .identity import *  # noqa: F401,F403
from .similarity import *  # noqa: F401,F403
from .pearson import *  # noqa: F401,F403
from .pedcc import *  # noqa: F401,F403
from .orthogonality import *  # noqa: F401,F403
from .gram import *  # noqa: F401,F403

__all__ = [*correlations.__all__, *identity.__all__, *similarity.__all__, *pearson.__all__, *pedcc.__all__,
           *orthogonality.__all__, *gram.__all__]
