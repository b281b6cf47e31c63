"""NumPy/SciPy reference implementations: plain, float64, one function per quantity of the papers.

Every function here has a batched torch twin of the same name and semantics in :mod:`theory.batched`.
"""

from .correlations import *  # noqa: F401,F403
from .identity import *  # noqa: F401,F403
from .similarity import *  # noqa: F401,F403
from .pearson import *  # noqa: F401,F403
from .pedcc import *  # noqa: F401,F403
from .orthogonality import *  # noqa: F401,F403
from .gram import *  # noqa: F401,F403
