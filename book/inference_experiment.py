"""Chapter 7's experiment: chapter 6's two-relation task, learnt with grouped-query attention.

A small, self-contained copy of the task of chapter 6 (``06-why-multi-head.md``): a start token,
six (letter, digit) pairs, then the same six letters in a new order with fresh digits. Each
position of the second half must output two digits: the digit two positions back (a relation of
position) and the digit that stood beside the same letter in the first half (a relation of content).
The model is chapter 6's (embeddings, one attention layer with a residual connection, a small
readout), except that its attention has h query heads sharing g key/value heads.

Chapter 7 imports this module so that the chapter shows the experiment, not its plumbing.
Conventions: N batch, L sequence length, E model width, h query heads, g key/value groups,
d_k = E / h; boolean masks are True where a query may NOT attend (the course's convention).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

LETTERS, PAIRS, DIGITS = 12, 6, 10  # letters A..L, pairs per half, digits 0..9
L = 1 + 2 * PAIRS  # start token + two halves = 13 positions
START_LETTER, START_DIGIT = LETTERS, DIGITS  # extra embedding rows for the start token
QUERIES = np.arange(PAIRS + 1, L)  # the scored positions: the second half

# Strictly causal (a position sees only earlier ones); the start token sees itself, so that no row
# is fully masked. True = may NOT attend.
MASK = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=0)
MASK[0, 0] = False


def make_batch(rng: np.random.Generator, n: int):
    """n sequences: letters, digits (n, L); targets two_back, match (n, PAIRS); as torch tensors."""
    letters = np.empty((n, L), dtype=np.int64)
    digits = rng.integers(0, DIGITS, size=(n, L))
    letters[:, 0], digits[:, 0] = START_LETTER, START_DIGIT
    first = np.argsort(rng.random((n, LETTERS)), axis=1)[:, :PAIRS]  # six different letters
    order = np.argsort(rng.random((n, PAIRS)), axis=1)  # their order in the second half
    letters[:, 1 : PAIRS + 1] = first
    letters[:, PAIRS + 1 :] = np.take_along_axis(first, order, axis=1)
    two_back = digits[:, QUERIES - 2]
    match = np.take_along_axis(digits[:, 1 : PAIRS + 1], order, axis=1)
    return tuple(torch.from_numpy(a) for a in (letters, digits, two_back, match))


class GroupedQuerySelfAttention(nn.Module):
    """Self-attention with h query heads and g key/value heads (g divides h; d_k = E / h).

    g = h is multi-head attention, g = 1 multi-query attention. Query head i uses key/value head
    i // (h / g), which is what ``F.scaled_dot_product_attention(..., enable_gqa=True)`` does.
    """

    def __init__(self, E: int, num_heads: int, num_groups: int):
        super().__init__()
        if E % num_heads or num_heads % num_groups:
            raise ValueError("need E divisible by num_heads and num_heads by num_groups")
        self.h, self.g, self.d_k = num_heads, num_groups, E // num_heads
        self.q_proj = nn.Linear(E, E)  # W_Q: (E, E), h heads of width d_k
        self.kv_proj = nn.Linear(E, 2 * num_groups * self.d_k)  # W_K, W_V: g heads each
        self.out_proj = nn.Linear(E, E)  # W_O

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        N, L_x, E = x.shape
        q = self.q_proj(x).view(N, L_x, self.h, self.d_k).transpose(1, 2)  # (N, h, L, d_k)
        k, v = self.kv_proj(x).split(self.g * self.d_k, dim=-1)
        k = k.view(N, L_x, self.g, self.d_k).transpose(1, 2)  # (N, g, L, d_k)
        v = v.view(N, L_x, self.g, self.d_k).transpose(1, 2)  # (N, g, L, d_k)
        # SDPA's boolean mask means "may attend": the opposite of the course's, hence ~mask.
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=~mask, enable_gqa=True)
        return self.out_proj(heads.transpose(1, 2).reshape(N, L_x, E))


class TwoRelationModel(nn.Module):
    """Embeddings -> grouped-query self-attention (+ residual) -> two 10-way readouts."""

    def __init__(self, E: int, num_heads: int, num_groups: int, hidden: int = 64):
        super().__init__()
        self.letter = nn.Embedding(LETTERS + 1, E)
        self.digit = nn.Embedding(DIGITS + 1, E)
        self.position = nn.Embedding(L, E)
        self.attention = GroupedQuerySelfAttention(E, num_heads, num_groups)
        self.readout = nn.Sequential(nn.Linear(E, hidden), nn.ReLU(), nn.Linear(hidden, 2 * DIGITS))

    def forward(self, letters: torch.Tensor, digits: torch.Tensor):
        x = self.letter(letters) + self.digit(digits) + self.position(torch.arange(L))  # (N, L, E)
        logits = self.readout(x + self.attention(x, MASK))[:, PAIRS + 1 :]  # (N, PAIRS, 20)
        return logits[..., :DIGITS], logits[..., DIGITS:]


@dataclass(frozen=True)
class Run:
    """One trained model's test accuracies (fractions of the 6 scored positions x test
    sequences)."""

    num_heads: int
    num_groups: int
    seed: int
    both: float  # both digits right
    two_back: float
    match: float


def attention_parameters(E: int, num_heads: int, num_groups: int) -> int:
    """Weights and biases of one GroupedQuerySelfAttention: W_Q, W_O (E, E); W_K, W_V (E, g d_k)."""
    return sum(p.numel() for p in GroupedQuerySelfAttention(E, num_heads, num_groups).parameters())


class Ensemble(nn.Module):
    """M copies of TwoRelationModel with separate parameters, computed side by side.

    Training M small models one after another costs M times Python's fixed cost per step; stacking
    their parameters on a leading axis of size M runs them in one pass. Each model has its own
    initial parameters (drawn as TwoRelationModel draws them, from its own seed), its own data and,
    because Adam works entry by entry, its own optimiser state. The loss is the sum of the M
    models' losses, so no gradient crosses from one model to another.
    """

    def __init__(self, E: int, num_heads: int, num_groups: int, seeds: list[int]):
        super().__init__()
        self.h, self.g, self.d_k = num_heads, num_groups, E // num_heads
        models = []
        for seed in seeds:
            torch.manual_seed(seed)
            models.append(TwoRelationModel(E, num_heads, num_groups))
        stack = lambda get: nn.Parameter(torch.stack([get(m).detach() for m in models]))  # noqa: E731
        self.letter = stack(lambda m: m.letter.weight)  # (M, LETTERS + 1, E)
        self.digit = stack(lambda m: m.digit.weight)  # (M, DIGITS + 1, E)
        self.position = stack(lambda m: m.position.weight)  # (M, L, E)
        names = {
            "q": "attention.q_proj",
            "kv": "attention.kv_proj",
            "o": "attention.out_proj",
            "r1": "readout.0",
            "r2": "readout.2",
        }
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        for short, name in names.items():
            # (M, in, out): transposed from nn.Linear's (out, in), so that x @ W works
            self.weights[short] = stack(lambda m: m.get_submodule(name).weight.T)
            self.biases[short] = stack(
                lambda m: m.get_submodule(name).bias[:, None].T
            )  # (M, 1, out)

    def _linear(self, x: torch.Tensor, short: str) -> torch.Tensor:
        """x (M, rows, in) -> (M, rows, out), each model with its own weights."""
        return torch.baddbmm(self.biases[short], x, self.weights[short])

    def forward(self, letters: torch.Tensor, digits: torch.Tensor):
        """letters, digits (M, B, L) -> two logits (M, B, PAIRS, DIGITS)."""
        M, B, _ = letters.shape
        models = torch.arange(M)[:, None, None]
        x = self.letter[models, letters] + self.digit[models, digits] + self.position[:, None]
        E = x.shape[-1]  # x: (M, B, L, E)
        flat = x.reshape(M, B * L, E)
        q = self._linear(flat, "q").view(M * B, L, self.h, self.d_k).transpose(1, 2)
        k, v = self._linear(flat, "kv").split(self.g * self.d_k, dim=-1)
        k = k.reshape(M * B, L, self.g, self.d_k).transpose(1, 2)  # (M B, g, L, d_k)
        v = v.reshape(M * B, L, self.g, self.d_k).transpose(1, 2)
        # SDPA's boolean mask means "may attend": the opposite of the course's, hence ~MASK.
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=~MASK, enable_gqa=True)
        attended = self._linear(heads.transpose(1, 2).reshape(M, B * L, E), "o")
        hidden = torch.relu(self._linear(flat + attended, "r1"))
        logits = self._linear(hidden, "r2").view(M, B, L, 2 * DIGITS)[:, :, PAIRS + 1 :]
        return logits[..., :DIGITS], logits[..., DIGITS:]


def _batches(rngs, n):
    """One batch of n sequences per model, each from its own generator: four (M, n, ...) tensors."""
    parts = [make_batch(rng, n) for rng in rngs]
    return tuple(torch.stack(column) for column in zip(*parts))


def train(
    E: int,
    num_heads: int,
    num_groups: int,
    seeds: list[int],
    *,
    steps: int = 500,
    batch: int = 64,
    learning_rate: float = 3e-3,
    test_size: int = 2000,
) -> list[Run]:
    """Train one model per seed (Adam, fresh random batches), side by side; score each on
    `test_size` new sequences. Chapter 6's budget: 500 steps of 64 sequences, learning rate 3e-3."""
    ensemble = Ensemble(E, num_heads, num_groups, seeds)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    optimiser = torch.optim.Adam(ensemble.parameters(), lr=learning_rate)
    for _ in range(steps):
        letters, digits, two_back, match = _batches(rngs, batch)
        logits_back, logits_match = ensemble(letters, digits)
        # the sum over models of each model's mean loss
        loss = F.cross_entropy(
            logits_back.permute(0, 3, 1, 2), two_back, reduction="none"
        ) + F.cross_entropy(logits_match.permute(0, 3, 1, 2), match, reduction="none")
        loss = loss.mean(dim=(1, 2)).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    test = [np.random.default_rng(10_000 + seed) for seed in seeds]
    letters, digits, two_back, match = _batches(test, test_size)
    with torch.no_grad():
        logits_back, logits_match = ensemble(letters, digits)
    right_back = logits_back.argmax(-1) == two_back  # (M, test_size, PAIRS)
    right_match = logits_match.argmax(-1) == match
    fraction = lambda right: right.double().mean(dim=(1, 2)).tolist()  # noqa: E731
    return [
        Run(num_heads, num_groups, seed, both, back, same)
        for seed, both, back, same in zip(
            seeds, fraction(right_back & right_match), fraction(right_back), fraction(right_match)
        )
    ]


def t_quantile_975(degrees_of_freedom: int) -> float:
    """The 97.5 % quantile of Student's t distribution, by integrating its density numerically.

    (The course has no scipy; this is accurate to about 1e-6, far below what the intervals need.)
    """
    nu = degrees_of_freedom
    log_scale = math.lgamma((nu + 1) / 2) - math.lgamma(nu / 2) - 0.5 * math.log(nu * math.pi)
    grid = np.linspace(0.0, 60.0, 600_001)
    density = np.exp(log_scale - (nu + 1) / 2 * np.log1p(grid**2 / nu))
    # cumulative probability from 0 (trapezoids); P(T <= t) = 0.5 + that
    cumulative = np.concatenate(
        [[0.0], np.cumsum((density[1:] + density[:-1]) / 2 * np.diff(grid))]
    )
    return float(np.interp(0.475, cumulative, grid))


def mean_and_interval(values) -> tuple[float, float, float]:
    """Mean over seeds and its two-sided 95 % t interval, (mean, low, high)."""
    values = np.asarray(values, dtype=float)
    mean = values.mean()
    half_width = t_quantile_975(len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return float(mean), float(mean - half_width), float(mean + half_width)
