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
    "ocnn_orthogonality": (
        Variant("ocnn_public_norm_padding1", RV.ocnn_orthogonality_public, BV.ocnn_orthogonality_public,
                source="OCNN code (deconv_orth_dist)",
                differs="the Frobenius norm, not squared, and padding fixed at 1: a 3x3 kernel at stride 1 is "
                        "penalised at lags -1..1 only, and at stride 2 the identity target lands on lag (+1, +1)"),
    ),
    "orthoreg_pair_weight": (
        Variant("orthoreg_pytorch_port_linear", RV.orthoreg_pair_weight_port, BV.orthoreg_pair_weight_port,
                source="OrthoReg's PyTorch port (orthoreg_pytorch.py)",
                differs="λC/(C + e^λ) instead of λe^{λC}/(e^{λC} + e^λ): linear in C and negative for C < 0, a "
                        "non-local decorrelation (not the gradient of the paper's loss for any λ)"),
    ),
    "sc_loss": (
        Variant("pod_sc_over_n_minus_1", RV.sc_loss_over_n_minus_1, BV.sc_loss_over_n_minus_1,
                source="POD paper's code (2021)",
                differs="eq. 14-15 divided by n - 1 (n: the feature dimension)"),
    ),
}
