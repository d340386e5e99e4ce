"""MiniCPM-V 2.6 as a plain transformers model: ``vpm`` (NaViT SigLIP) -> ``resampler`` -> ``llm`` (Qwen2).

Built from transformers' own parts -- `Idefics2VisionTransformer` (the NaViT-style SigLIP with a patch-attention
mask: any slice size, positions bucketed onto the pre-training grid) and `Qwen2ForCausalLM` -- plus the resampler of
`resampler_minicpmv`. The module names, and so the state-dict keys, are those of ``openbmb/MiniCPM-V-2_6``
(``vpm.*``, ``resampler.*``, ``llm.model.*``, ``llm.lm_head.*``), so its weights load without renaming.

Unlike the published remote code (``forward(data=...)`` with ragged lists), the forward is transformers' usual one:
``input_ids`` with ``query_num`` ``<unk>`` placeholders per slice, ``pixel_values`` of all slices of the batch padded
to one size with their ``pixel_attention_mask``, ``labels`` for the causal-LM loss (``num_items_in_batch`` honoured),
``past_key_values`` for generation. So the stock `Trainer` and ``generate`` work, and so do PEFT and DeepSpeed.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, Qwen2ForCausalLM
from transformers.models.idefics2.modeling_idefics2 import Idefics2VisionEmbeddings, Idefics2VisionTransformer

from .configuration_minicpmv import MiniCPMVConfig
from .resampler_minicpmv import MiniCPMVResampler


__all__ = [
    "MiniCPMVForConditionalGeneration",
    "MiniCPMVPreTrainedModel",
    "MiniCPMVVisionEmbeddings",
    "patch_mask_from_sizes",
]


def patch_mask_from_sizes(tgt_sizes: torch.Tensor, height: int, width: int) -> torch.BoolTensor:
    """The ``(n, height, width)`` patch mask of slices whose ``(h, w)`` patch grids are ``tgt_sizes``."""
    rows = torch.arange(height, device=tgt_sizes.device)[None, :, None] < tgt_sizes[:, 0, None, None]
    cols = torch.arange(width, device=tgt_sizes.device)[None, None, :] < tgt_sizes[:, 1, None, None]
    return rows & cols


class MiniCPMVVisionEmbeddings(Idefics2VisionEmbeddings):
    """`Idefics2VisionEmbeddings` with the published model's position buckets.

    Both map a slice's ``h x w`` patches onto the pre-training grid by bucketing fractional coordinates; the
    published code builds them as ``torch.arange(0, 1 - 1e-6, 1 / h)`` with ``h`` a tensor (``tgt_sizes[i][0]``,
    int32), so the step is a float32 ``1 / h``; transformers' as ``i * (1 / h)``, and they round differently at
    bucket boundaries (276 of the 70 x 70 grids of a 980 px SigLIP get some other positions with transformers
    5.23; a float64 step, ``1 / h`` with a Python int, differs too: 675 grids, those with a side of 25, 49, 50, 55
    or 58 patches).
    This override reproduces the published ids exactly; weights and names are unchanged.
    """

    def forward(self, pixel_values: torch.Tensor, patch_attention_mask: torch.BoolTensor) -> torch.Tensor:
        batch_size = pixel_values.shape[0]
        embeddings = self.patch_embedding(pixel_values).flatten(2).transpose(1, 2)
        side = self.num_patches_per_side
        boundaries = torch.arange(1 / side, 1.0, 1 / side)
        heights = patch_attention_mask[:, :, 0].sum(dim=1).tolist()
        widths = patch_attention_mask[:, 0, :].sum(dim=1).tolist()
        position_ids = torch.zeros(batch_size, patch_attention_mask[0].numel(), dtype=torch.long)
        cache: dict[tuple[int, int], torch.Tensor] = {}
        for i, (height, width) in enumerate(zip(heights, widths)):
            if (height, width) not in cache:
                # 1 / tensor: a float32 step, as the published code's ``1 / tgt_sizes[i][0]`` (not a float64 one)
                rows = torch.bucketize(torch.arange(0, 1 - 1e-6, 1 / torch.tensor(height)), boundaries, right=True)
                cols = torch.bucketize(torch.arange(0, 1 - 1e-6, 1 / torch.tensor(width)), boundaries, right=True)
                cache[height, width] = (rows[:, None] * side + cols).flatten()
            position_ids[i][patch_attention_mask[i].reshape(-1).cpu()] = cache[height, width]
        return embeddings + self.position_embedding(position_ids.to(embeddings.device))


class MiniCPMVPreTrainedModel(PreTrainedModel):
    config: MiniCPMVConfig
    config_class = MiniCPMVConfig
    base_model_prefix = "model"
    main_input_name = "input_ids"
    input_modalities = ("image", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["Qwen2DecoderLayer", "Idefics2EncoderLayer", "MiniCPMVResampler"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, MiniCPMVResampler):
            nn.init.trunc_normal_(module.query, std=0.02)
            module.proj.normal_(std=module.embed_dim**-0.5)


class MiniCPMVForConditionalGeneration(MiniCPMVPreTrainedModel, GenerationMixin):
    r"""
    MiniCPM-V 2.6 for conditional generation.

    Submodules: ``vpm`` (`Idefics2VisionTransformer`), ``resampler`` (`MiniCPMVResampler`), ``llm``
    (`Qwen2ForCausalLM`). Load the published ``openbmb/MiniCPM-V-2_6`` checkpoint (no remote code) with
    [`addressvlm.models.load_pretrained`]; save and reload ours with ``save_pretrained`` /
    ``AutoModelForImageTextToText.from_pretrained`` after ``import addressvlm.models``.
    """

    def __init__(self, config: MiniCPMVConfig):
        super().__init__(config)
        self.llm = Qwen2ForCausalLM(config.text_config)
        self.vpm = Idefics2VisionTransformer(config.vision_config)
        self.vpm.embeddings = MiniCPMVVisionEmbeddings(config.vision_config)
        self.resampler = MiniCPMVResampler(
            num_queries=config.query_num,
            embed_dim=config.text_config.hidden_size,
            num_heads=config.resampler_heads,
            kv_dim=config.vision_config.hidden_size,
        )
        self.post_init()

    def get_input_embeddings(self):
        return self.llm.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.llm.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.llm.get_output_embeddings()

    def set_output_embeddings(self, new_embeddings):
        self.llm.set_output_embeddings(new_embeddings)

    def get_decoder(self):
        return self.llm.model

    def get_image_features(self, pixel_values: torch.Tensor, pixel_attention_mask: torch.Tensor) -> torch.Tensor:
        """Vision tower then resampler, ``config.vision_batch_size`` slices at a time.

        Args:
            pixel_values (`torch.FloatTensor` of shape `(n_slices, 3, H, W)`): slices, each in the top-left corner
                of a zero canvas of the batch's largest size.
            pixel_attention_mask (`torch.BoolTensor` of shape `(n_slices, H / 14, W / 14)`): each slice's patches.

        Returns:
            `torch.FloatTensor` of shape `(n_slices, query_num, hidden_size)`.
        """
        pixel_values = pixel_values.to(self.vpm.embeddings.patch_embedding.weight.dtype)
        step = self.config.vision_batch_size if not self.training else len(pixel_values)
        out = []
        for start in range(0, len(pixel_values), max(step, 1)):
            mask = pixel_attention_mask[start : start + step].bool()
            features = self.vpm(pixel_values[start : start + step], patch_attention_mask=mask).last_hidden_state
            out.append(self.resampler(features, mask))
        return torch.cat(out)

    def _dummy_image_term(self, like: torch.Tensor) -> torch.Tensor:
        """Zero times a one-patch image's features: keeps the vision parameters in the graph of a text-only training
        batch (DDP and ZeRO expect every trained parameter to get a gradient)."""
        size = self.config.patch_size
        pixels = torch.zeros(1, 3, size, size, dtype=like.dtype, device=like.device)
        mask = torch.ones(1, 1, 1, dtype=torch.bool, device=like.device)
        return self.get_image_features(pixels, mask).sum() * 0.0

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values: torch.FloatTensor | None = None,
        pixel_attention_mask: torch.BoolTensor | None = None,
        tgt_sizes: torch.LongTensor | None = None,
        image_grids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values=None,
        inputs_embeds: torch.FloatTensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ):
        r"""
        Args:
            input_ids (`torch.LongTensor` of shape `(batch, seq)`): with ``query_num`` ``image_token_id``
                placeholders per slice (the processor's expansion).
            pixel_values (`torch.FloatTensor` of shape `(n_slices, 3, H, W)`, *optional*): every slice of the
                batch, in text order.
            pixel_attention_mask (`torch.BoolTensor` of shape `(n_slices, H / 14, W / 14)`, *optional*): each
                slice's patches; derived from ``tgt_sizes`` when absent.
            tgt_sizes (`torch.LongTensor` of shape `(n_slices, 2)`, *optional*): each slice's patch grid (rows,
                columns), as the published processor reports it.
            image_grids (`torch.LongTensor` of shape `(n_images, 2)`, *optional*): the processor's slice grid of
                each image; not needed here (accepted so the processor's output can be passed as is).
            attention_mask (`torch.Tensor`, *optional*): `(batch, seq)` padding mask, or a 4-D boolean mask
                (turn-isolated training rows).
            labels (`torch.LongTensor` of shape `(batch, seq)`, *optional*): next-token targets (``-100`` ignored);
                shifted inside, as every transformers causal LM.
            **kwargs: passed to the language model (``num_items_in_batch``, attention kwargs).

        Returns:
            `CausalLMOutputWithPast`
        """
        if inputs_embeds is None:
            if input_ids is None:
                raise ValueError("Pass input_ids (or inputs_embeds)")
            inputs_embeds = self.get_input_embeddings()(input_ids)
            is_image = input_ids == self.config.image_token_id
            n_tokens = int(is_image.sum())
            if pixel_values is not None:
                if pixel_attention_mask is None:
                    if tgt_sizes is None:
                        raise ValueError("pixel_values need pixel_attention_mask or tgt_sizes")
                    size = self.config.patch_size
                    pixel_attention_mask = patch_mask_from_sizes(
                        tgt_sizes, pixel_values.shape[2] // size, pixel_values.shape[3] // size
                    )
                features = self.get_image_features(pixel_values, pixel_attention_mask)
                if n_tokens != features.shape[0] * features.shape[1]:
                    raise ValueError(
                        f"Image features and image tokens do not match: the text holds {n_tokens} image tokens "
                        f"(id {self.config.image_token_id}) but {features.shape[0]} slice(s) give "
                        f"{features.shape[0] * features.shape[1]} features ({features.shape[1]} per slice). Was the "
                        "text truncated through an image, or tokenized without the processor's expansion?"
                    )
                inputs_embeds = inputs_embeds.masked_scatter(
                    is_image[..., None].expand_as(inputs_embeds), features.to(inputs_embeds.dtype)
                )
            else:
                has_past = past_key_values is not None and past_key_values.get_seq_length() > 0
                if n_tokens and not has_past:
                    raise ValueError(f"The text holds {n_tokens} image tokens but no pixel_values were given")
                if self.training and torch.is_grad_enabled():
                    inputs_embeds = inputs_embeds + self._dummy_image_term(inputs_embeds)
        return self.llm(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=past_key_values,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )
