"""MiniCPM-V's resampler: learnable queries cross-attending to a slice's vision features with 2-D sin-cos positions.

One layer of cross-attention (a perceiver resampler): ``query_num`` learnable queries (``ln_q``) attend to the
slice's patch features projected to the LLM width (``kv_proj``, ``ln_kv``); keys get a fixed 2-D sin-cos position
embedding of each patch's (row, column) in the slice's own grid, values do not. The result goes through ``ln_post``
and the square matrix ``proj``. Parameter names are those of ``openbmb/MiniCPM-V-2_6`` (``query``, ``kv_proj``,
``attn.in_proj_weight`` / ``in_proj_bias`` / ``out_proj``, ``ln_q``, ``ln_kv``, ``ln_post``, ``proj``).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


__all__ = ["MiniCPMVResampler", "sincos_2d"]


def _sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """``(..., dim)``: sines of ``positions`` times ``dim / 2`` frequencies, then cosines (float32, as the
    published model computes its table)."""
    omega = torch.arange(dim // 2, dtype=torch.float32) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float32)[..., None] * omega
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def sincos_2d(dim: int, height: int, width: int) -> torch.Tensor:
    """The ``(height, width, dim)`` float32 table: the first half of the channels encodes the column, the second the
    row (MiniCPM-V's layout)."""
    if dim % 4:
        raise ValueError(f"the 2-D sin-cos embedding needs a width divisible by 4, got {dim}")
    rows = torch.arange(height)[:, None].expand(height, width)
    cols = torch.arange(width)[None, :].expand(height, width)
    return torch.cat([_sincos_1d(dim // 2, cols), _sincos_1d(dim // 2, rows)], dim=-1).float()


class _CrossAttention(nn.Module):
    """Multi-head attention with packed q/k/v input projections (``nn.MultiheadAttention``'s parameter layout),
    computed with ``scaled_dot_product_attention`` and batch-first tensors."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * dim, dim))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * dim))
        self.out_proj = nn.Linear(dim, dim)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, query, key, value, key_mask):
        """``query`` (B, Q, D), ``key``/``value`` (B, L, D), ``key_mask`` (B, L) True where a key is valid."""
        batch, n_query, dim = query.shape
        w_q, w_k, w_v = self.in_proj_weight.chunk(3)
        b_q, b_k, b_v = self.in_proj_bias.chunk(3)

        def heads(x, weight, bias):
            return F.linear(x, weight, bias).view(batch, -1, self.num_heads, dim // self.num_heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(
            heads(query, w_q, b_q), heads(key, w_k, b_k), heads(value, w_v, b_v), attn_mask=key_mask[:, None, None, :]
        )
        return self.out_proj(out.transpose(1, 2).reshape(batch, n_query, dim))


class MiniCPMVResampler(nn.Module):
    r"""
    Compress each slice's patch features to ``num_queries`` vectors of the LLM width.

    Args:
        num_queries (`int`): learnable queries (tokens per slice).
        embed_dim (`int`): the LLM's hidden size.
        num_heads (`int`): attention heads.
        kv_dim (`int`): the vision tower's hidden size.

    The position table is computed for each batch's patch grid (no buffer: nothing to restore after loading, and
    any slice size works).
    """

    def __init__(self, num_queries: int, embed_dim: int, num_heads: int, kv_dim: int):
        super().__init__()
        self.embed_dim = embed_dim
        self.query = nn.Parameter(torch.zeros(num_queries, embed_dim))
        self.kv_proj = nn.Linear(kv_dim, embed_dim, bias=False) if kv_dim != embed_dim else nn.Identity()
        self.attn = _CrossAttention(embed_dim, num_heads)
        self.ln_q = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ln_kv = nn.LayerNorm(embed_dim, eps=1e-6)
        self.ln_post = nn.LayerNorm(embed_dim, eps=1e-6)
        self.proj = nn.Parameter((embed_dim**-0.5) * torch.randn(embed_dim, embed_dim))

    def forward(self, features: torch.Tensor, patch_mask: torch.Tensor) -> torch.Tensor:
        """Resample a batch of slices.

        Args:
            features (`torch.Tensor` of shape `(n_slices, height * width, kv_dim)`): patch features in row-major
                order over a padded ``height x width`` grid.
            patch_mask (`torch.BoolTensor` of shape `(n_slices, height, width)`): each slice's patches (its own
                ``h x w`` grid in the top-left corner); the rest is padding.

        Returns:
            `torch.Tensor` of shape `(n_slices, num_queries, embed_dim)`.
        """
        n_slices, height, width = patch_mask.shape
        positions = sincos_2d(self.embed_dim, height, width).to(features.device).reshape(height * width, -1)
        kv = self.ln_kv(self.kv_proj(features))
        query = self.ln_q(self.query).to(kv.dtype).expand(n_slices, -1, -1)
        out = self.attn(query, kv + positions.to(kv.dtype), kv, patch_mask.reshape(n_slices, -1))
        return self.ln_post(out) @ self.proj
