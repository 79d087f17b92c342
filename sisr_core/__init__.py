"""SISR Studio's library: super-resolution networks, weights, inference, training and metrics.

No Qt here: the app and the command line call this package, never the other way round.
"""
from sisr_core import startup as _startup  # noqa: F401  (before torch loads: see sisr_core.startup)

__version__ = "0.1.0"

# Arithmetic: auto (bf16 on a CPU with AMX or AMD's AVX512-BF16, or a GPU that has it, else fp16 on a GPU, else
# fp32), fp32, bf16; fp16 only on a GPU.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Where networks run: auto takes a CUDA GPU, then Apple's Metal (MPS), then the CPU (sisr_core.devices).
DEVICES = ("auto", "cpu", "cuda", "mps")

# A network's weights: for clean (lossless) input, and for real photos (blur, noise, JPEG); a user may
# also ask for auto, which picks by the input file (sisr_core.zoo.choose_variant).
VARIANTS = ("clean", "photo")
VARIANT_CHOICES = ("auto", *VARIANTS)
