"""Chapter 7's experiment: chapter 6's two-relation task and model, with h query heads sharing g
key/value heads.

The task, the model, the training recipe and the test sets are chapter 6's, imported from
two_relation.py. Only the attention changes: `GroupedQuerySelfAttention` replaces chapter 6's
`MultiHeadSelfAttention` through the model's `attention` argument. With g = h it *is* that module:
the same parameters, of the same shapes, drawn in the same order, and the same computation, so a
seed gives chapter 6's four-head run exactly.

Conventions: N batch, L sequence length, E model width, h query heads, g key/value groups,
d_k = E / h; boolean masks are True where a query may NOT attend (the course's convention).
"""

from __future__ import annotations

from torch import nn
from two_relation import MultiHeadSelfAttention


class GroupedQuerySelfAttention(MultiHeadSelfAttention):
    """Self-attention with h query heads and g key/value heads (g divides h; d_k = E / h).

    g = h is multi-head attention, g = 1 multi-query attention. Query head i uses key/value head
    i // (h / g), as ``F.scaled_dot_product_attention(..., enable_gqa=True)`` pairs them.
    """

    def __init__(self, E, num_heads, num_groups):
        nn.Module.__init__(self)
        if E % num_heads or num_heads % num_groups:
            raise ValueError("need E divisible by num_heads and num_heads by num_groups")
        self.num_heads, self.num_groups = num_heads, num_groups
        d_k = E // num_heads
        # weight (E + 2 g d_k, E): W_Q (E rows), then W_K and W_V (g d_k rows each)
        self.in_proj = nn.Linear(E, E + 2 * num_groups * d_k)
        self.out_proj = nn.Linear(E, E)  # W_O (E, E)

    def project(self, x):
        """Queries (N, h, L, d_k); keys and values, each of the g heads repeated h / g times in
        place, also (N, h, L, d_k)."""
        N, L, E = x.shape
        h, g, d_k = self.num_heads, self.num_groups, E // self.num_heads
        q, k, v = self.in_proj(x).split([E, g * d_k, g * d_k], dim=-1)
        q = q.view(N, L, h, d_k).transpose(1, 2)
        k, v = (t.view(N, L, g, d_k).transpose(1, 2) for t in (k, v))  # (N, g, L, d_k)
        if g < h:  # key/value head j serves query heads j*h/g ... (j+1)*h/g - 1
            k, v = (t.repeat_interleave(h // g, dim=1) for t in (k, v))
        return q, k, v


def attention_parameters(E: int, num_heads: int, num_groups: int) -> int:
    """Weights and biases of one GroupedQuerySelfAttention: W_Q, W_O (E, E); W_K, W_V (E, g d_k)."""
    return sum(p.numel() for p in GroupedQuerySelfAttention(E, num_heads, num_groups).parameters())
