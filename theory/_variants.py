"""The known variants of registry operations (:class:`theory.opinfo.Variant`), attached by the registry."""

from __future__ import annotations

from .batched import variants as BV
from .opinfo import Variant
from .reference import variants as RV

VARIANTS = {
    "conv_similarity": (
        Variant("cs_convsim2d_adjacent_same_channel", RV.conv_similarity_adjacent, BV.conv_similarity_adjacent,
                source="CS paper's CUDA library (ConvSim2D)",
                differs="only adjacent output kernels (i, i+1) and the same input channel: no cross-channel terms, "
                        "not invariant to permuting the kernels; equal to eq. 10 for S = 2, C = 1"),
    ),
    "mfd_loss": (
        Variant("mfd_clamped_denominator", RV.mfd_loss_clamped, BV.mfd_loss_clamped,
                source="MFD paper's code",
                differs="Pearson denominator clamped at 1e-8: not scale invariant for small activations; equal "
                        "to eq. 5-6 when every product of norms exceeds 1e-8"),
    ),
    "sc_loss": (
        Variant("pod_sc_over_n_minus_1", RV.sc_loss_over_n_minus_1, BV.sc_loss_over_n_minus_1,
                source="POD paper's code (2021)",
                differs="eq. 14-15 divided by n - 1 (n: the feature dimension)"),
    ),
}
