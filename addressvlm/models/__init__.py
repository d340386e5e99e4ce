"""Model families behind one interface: the backbone registry, the processor contract, loading and adapters.

Each backbone lives in its own subpackage and registers itself when imported; this package imports them all, so
``import addressvlm.models`` makes every backbone (and its Auto classes) available. Code outside the subpackages
uses only the names below.
"""

from . import llava_phi3, minicpmv  # noqa: F401  (each registers its backbone)
from .adapters import apply_adapter
from .conversation import conversation_pairs, single_turn, strip_image_placeholder, to_messages
from .loading import (
    cast_parameters,
    check_tokenizer_fits,
    has_saved_processor,
    load_pretrained,
    processor_settings,
    read_config,
    resolve_checkpoint_dir,
)
from .processing_common import IGNORE_INDEX
from .protocol import BackboneProcessor
from .registry import BackboneSpec, Exporter, get_backbone, list_backbones, register_backbone


__all__ = [
    "IGNORE_INDEX",
    "BackboneProcessor",
    "BackboneSpec",
    "Exporter",
    "apply_adapter",
    "cast_parameters",
    "check_tokenizer_fits",
    "conversation_pairs",
    "get_backbone",
    "has_saved_processor",
    "list_backbones",
    "load_pretrained",
    "processor_settings",
    "read_config",
    "register_backbone",
    "resolve_checkpoint_dir",
    "single_turn",
    "strip_image_placeholder",
    "to_messages",
]
