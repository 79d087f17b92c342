"""SISR Studio's library: super-resolution networks, weights, inference, training and metrics.

No Qt here: the app and the command line call this package, never the other way round.
"""
import os as _os

__version__ = "0.1.0"

# OpenMP threads waiting for work spin 10,000 times before they sleep, not libgomp's 300,000: while the
# network runs, the reader and the PNG writer need the cycles a spinning thread burns (`sisr upscale -m
# espcn` on a 2000x2000 photo: 0.33 s less CPU and 2.6% faster; fsrcnn batches of small photos 5% faster;
# the network alone and training unchanged). libgomp reads it when torch loads, so it is set here, before
# any module of ours imports torch; a value the user set is kept.
_os.environ.setdefault("GOMP_SPINCOUNT", "10000")

# Arithmetic: auto (bf16 on a CPU with AMX or AMD's AVX512-BF16, or a GPU that has it, else fp16 on a GPU, else
# fp32), fp32, bf16; fp16 only on a GPU.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Where networks run: auto takes a CUDA GPU, then Apple's Metal (MPS), then the CPU (sisr_core.devices).
DEVICES = ("auto", "cpu", "cuda", "mps")

# A network's weights: for clean (lossless) input, and for real photos (blur, noise, JPEG); a user may
# also ask for auto, which picks by the input file (sisr_core.zoo.choose_variant).
VARIANTS = ("clean", "photo")
VARIANT_CHOICES = ("auto", *VARIANTS)
