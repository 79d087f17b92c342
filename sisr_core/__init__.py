"""SISR Studio's library: super-resolution networks, weights, inference, training and metrics.

No Qt here: the app and the command line call this package, never the other way round.
"""
__version__ = "0.1.0"

# Arithmetic: auto (bf16 on a CPU that computes it natively, else fp32), fp32, bf16; fp16 only on a GPU
# and only for inference.
CPU_PRECISIONS = ("auto", "fp32", "bf16")
PRECISIONS = CPU_PRECISIONS + ("fp16",)

# A network's weights: for clean (lossless) input, and for real photos (blur, noise, JPEG); a user may
# also ask for auto, which picks by the input file (sisr_core.zoo.choose_variant).
VARIANTS = ("clean", "photo")
VARIANT_CHOICES = ("auto", *VARIANTS)
