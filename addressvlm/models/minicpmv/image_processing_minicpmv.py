"""MiniCPM-V 2.6 image slicing: an overview of about ``scale_resolution``² pixels plus up to ``max_slice_nums``
slices of the same size, each resized to a multiple of the patch size.

The grid choice follows the published processor: with ``r = W·H / scale_resolution²`` and ``m = min(ceil(r),
max_slice_nums)``, an image with ``m <= 1`` is only resized (up- or down-scaled, aspect kept); otherwise every
``cols x rows`` factorisation of ``m - 1``, ``m`` and ``m + 1`` slices (1 and more than ``max_slice_nums`` excluded) is
a candidate and the one whose log aspect ratio is closest to the image's wins. Resizes are PIL bicubic; pixels are
scaled to [0, 1] and normalised with mean = std = 0.5.

Outputs are batch tensors: every slice of every image, padded (bottom and right, zeros) to the largest slice of the
call, its ``pixel_attention_mask`` of patches and ``tgt_sizes`` (patch rows, columns), and per image its grid
(``image_grids``: columns, rows; ``(0, 0)`` when not sliced). `patchify` gives the published model's
``(3, 14, n_patches * 14)`` layout of one slice.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image
from transformers.image_processing_utils import BaseImageProcessor, BatchFeature


__all__ = ["MiniCPMVImageProcessor", "get_sliced_grid", "patchify", "slice_sizes"]


def _ensure_divide(length: float, patch_size: int) -> int:
    return max(round(length / patch_size) * patch_size, patch_size)


def _best_resize(size, scale_resolution: int, patch_size: int, allow_upscale: bool = False) -> tuple[int, int]:
    width, height = size
    if width * height > scale_resolution * scale_resolution or allow_upscale:
        ratio = width / height
        height = int(scale_resolution / math.sqrt(ratio))
        width = int(height * ratio)
    return _ensure_divide(width, patch_size), _ensure_divide(height, patch_size)


def _refine_size(size, grid, scale_resolution: int, patch_size: int) -> tuple[int, int]:
    width, height = size
    cols, rows = grid
    refine_width, refine_height = _ensure_divide(width, cols), _ensure_divide(height, rows)
    cell = _best_resize((refine_width / cols, refine_height / rows), scale_resolution, patch_size, allow_upscale=True)
    return cell[0] * cols, cell[1] * rows


def get_sliced_grid(size: tuple[int, int], max_slice_nums: int, scale_resolution: int) -> tuple[int, int] | None:
    """The ``(cols, rows)`` slice grid of an image of ``size`` (width, height), or `None` when it is not sliced."""
    width, height = size
    log_ratio = math.log(width / height)
    multiple = min(math.ceil(width * height / (scale_resolution * scale_resolution)), max_slice_nums)
    if multiple <= 1:
        return None
    best, error = None, float("inf")
    for count in (multiple - 1, multiple, multiple + 1):
        if count == 1 or count > max_slice_nums:
            continue
        for cols in range(1, count + 1):
            if count % cols == 0:
                candidate = abs(log_ratio - math.log(cols / (count // cols)))
                if candidate < error:
                    best, error = (cols, count // cols), candidate
    return best


def slice_sizes(size, max_slice_nums: int, scale_resolution: int, patch_size: int):
    """The grid and the pixel sizes of the overview and of one slice, without touching pixels.

    Returns:
        `tuple`: ``(grid or None, (overview width, height), (slice width, height) or None)``.
    """
    grid = get_sliced_grid(size, max_slice_nums, scale_resolution)
    if grid is None:
        return None, _best_resize(size, scale_resolution, patch_size, allow_upscale=True), None
    overview = _best_resize(size, scale_resolution, patch_size)
    refine = _refine_size(size, grid, scale_resolution, patch_size)
    return grid, overview, (refine[0] // grid[0], refine[1] // grid[1])


def patchify(slice_pixels: torch.Tensor, patch_size: int = 14) -> torch.Tensor:
    """One normalised slice ``(3, H, W)`` in the published model's layout ``(3, patch, n_patches * patch)``
    (patches in row-major order, side by side)."""
    patches = torch.nn.functional.unfold(slice_pixels[None], patch_size, stride=patch_size)[0]
    patches = patches.reshape(slice_pixels.shape[0], patch_size, patch_size, -1)
    return patches.permute(0, 1, 3, 2).reshape(slice_pixels.shape[0], patch_size, -1)


class MiniCPMVImageProcessor(BaseImageProcessor):
    r"""
    Slices images as MiniCPM-V 2.6 does (module docstring). Its settings keep the published
    ``preprocessor_config.json`` names, so that file configures it and the export writes one the published processor
    reads.

    Args:
        max_slice_nums (`int`, *optional*, defaults to 9): slices per image at most (plus the overview).
        scale_resolution (`int`, *optional*, defaults to 448): target side of the overview and of each slice.
        patch_size (`int`, *optional*, defaults to 14): sizes are multiples of it.
        norm_mean (`list[float]`, *optional*, defaults to `[0.5, 0.5, 0.5]`): normalisation mean.
        norm_std (`list[float]`, *optional*, defaults to `[0.5, 0.5, 0.5]`): normalisation std.
        slice_mode (`bool`, *optional*, defaults to `True`): slice large images (else overview only).
        image_feature_size (`int`, *optional*, defaults to 64): tokens per slice (the model's ``query_num``).
        use_image_id (`bool`, *optional*, defaults to `True`): number images with ``<image_id>N</image_id>``.
    """

    model_input_names = ["pixel_values", "pixel_attention_mask", "tgt_sizes"]

    def __init__(
        self,
        max_slice_nums: int = 9,
        scale_resolution: int = 448,
        patch_size: int = 14,
        norm_mean=(0.5, 0.5, 0.5),
        norm_std=(0.5, 0.5, 0.5),
        slice_mode: bool = True,
        image_feature_size: int = 64,
        use_image_id: bool = True,
        **kwargs,
    ):
        # keys of the published preprocessor_config.json that configure nothing here
        ignored = {"im_start", "im_end", "slice_start", "slice_end", "unk", "im_id_start", "im_id_end", "version"}
        super().__init__(**{k: v for k, v in kwargs.items() if k not in ignored | {"auto_map", "processor_class"}})
        self.max_slice_nums = int(max_slice_nums)
        self.scale_resolution = int(scale_resolution)
        self.patch_size = int(patch_size)
        self.norm_mean = list(norm_mean)
        self.norm_std = list(norm_std)
        self.slice_mode = bool(slice_mode)
        self.image_feature_size = int(image_feature_size)
        self.use_image_id = bool(use_image_id)

    def grid_of(self, size: tuple[int, int]) -> tuple[int, int] | None:
        """The slice grid (cols, rows) of an image of ``size`` (width, height); `None` when not sliced."""
        if not self.slice_mode:
            return None
        return get_sliced_grid(size, self.max_slice_nums, self.scale_resolution)

    def slice_image(self, image: Image.Image) -> tuple[list[Image.Image], tuple[int, int] | None]:
        """The overview then the slices row by row, and the grid."""
        if self.slice_mode:
            grid, overview, cell = slice_sizes(image.size, self.max_slice_nums, self.scale_resolution, self.patch_size)
        else:
            grid, overview = None, _best_resize(image.size, self.scale_resolution, self.patch_size, allow_upscale=True)
        images = [image.resize(overview, resample=Image.Resampling.BICUBIC)]
        if grid is not None:
            refined = image.resize((cell[0] * grid[0], cell[1] * grid[1]), resample=Image.Resampling.BICUBIC)
            for row in range(grid[1]):
                for col in range(grid[0]):
                    box = (col * cell[0], row * cell[1], (col + 1) * cell[0], (row + 1) * cell[1])
                    images.append(refined.crop(box))
        return images, grid

    def _normalise(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
        pixels = (pixels - np.asarray(self.norm_mean, np.float32)) / np.asarray(self.norm_std, np.float32)
        return pixels.transpose(2, 0, 1)

    def _slices(self, image: Image.Image) -> tuple[list[np.ndarray], tuple[int, int]]:
        """The normalised slices and grid of ``image``; the last image's are kept, so the turns of one row (each a
        training example of its own with ``isolate_turns``) slice it once."""
        cached = getattr(self, "_last", None)
        if cached is not None and cached[0] is image:
            return cached[1], cached[2]
        pieces, grid = self.slice_image(image)
        slices, grid = [self._normalise(piece) for piece in pieces], grid or (0, 0)
        self._last = (image, slices, grid)  # holds the image, so its id cannot be reused while cached
        return slices, grid

    def to_dict(self):
        data = super().to_dict()
        data.pop("_last", None)
        return data

    def preprocess(self, images, return_tensors=None, **kwargs) -> BatchFeature:
        """Slice and normalise ``images`` (one image, a list, or a list of lists; flattened in order).

        Returns:
            `BatchFeature` with ``pixel_values`` `(n_slices, 3, H, W)`, ``pixel_attention_mask``
            `(n_slices, H / patch, W / patch)`, ``tgt_sizes`` `(n_slices, 2)` and ``image_grids`` `(n_images, 2)`.
        """
        slices, grids = [], []
        for image in flatten_images(images):
            pieces, grid = self._slices(image)
            slices.extend(pieces)
            grids.append(grid)
        patch = self.patch_size
        height = max(s.shape[1] for s in slices)
        width = max(s.shape[2] for s in slices)
        pixel_values = np.zeros((len(slices), 3, height, width), dtype=np.float32)
        mask = np.zeros((len(slices), height // patch, width // patch), dtype=bool)
        sizes = np.zeros((len(slices), 2), dtype=np.int64)
        for i, piece in enumerate(slices):
            pixel_values[i, :, : piece.shape[1], : piece.shape[2]] = piece
            mask[i, : piece.shape[1] // patch, : piece.shape[2] // patch] = True
            sizes[i] = (piece.shape[1] // patch, piece.shape[2] // patch)
        data = {
            "pixel_values": torch.from_numpy(pixel_values),
            "pixel_attention_mask": torch.from_numpy(mask),
            "tgt_sizes": torch.from_numpy(sizes),
            "image_grids": torch.tensor(grids, dtype=torch.long).reshape(-1, 2),
        }
        return BatchFeature(data, tensor_type=return_tensors)


def flatten_images(images) -> list:
    """One image, a list or a list of lists, as a flat list in order."""
    flat = []
    for item in images if isinstance(images, (list, tuple)) else [images]:
        flat.extend(flatten_images(item) if isinstance(item, (list, tuple)) else [item])
    return flat
