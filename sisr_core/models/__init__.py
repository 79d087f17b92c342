"""Super-resolution networks; each module registers its networks in :mod:`.registry`."""
from sisr_core.models import (  # noqa: F401  (imported to register)
    edsr,
    espcn,
    fdsrcnn,
    fsrcnn,
    resnet_sr,
    span,
    srcnn,
    srresnet,
    wdsr,
)
from sisr_core.models.registry import ModelSpec, build_model, fold_for_inference, get_spec, list_models, register_model

__all__ = ["ModelSpec", "build_model", "fold_for_inference", "get_spec", "list_models", "register_model"]
