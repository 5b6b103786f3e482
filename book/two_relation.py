"""Chapter 6's experiment, which chapter 7 runs again with shared keys and values: the task, the
model, and how a trained ensemble is scored.

The task. Each sequence is a start token, six (letter, digit) pairs with six different letters out
of twelve, then the same six letters in a new order, each with a fresh digit. Every position of the
second half must output two digits: the digit two positions back (a relation of position) and the
digit that stood beside the same letter in the first half (a relation of content).

The model. Embeddings of the letter, the digit and the position, summed; one multi-head
self-attention layer with a residual connection; a small two-layer readout of the two digits.

Chapter 6 shows these definitions on the page (``literalinclude``) and trains them; chapter 7
imports them, so that both chapters run one task with one model and one training recipe.
Conventions: N batch, L sequence length, E model width, h heads, d_k = E / h; boolean masks are
True where a query may NOT attend (the course's convention).
"""

from __future__ import annotations

from typing import Sequence

import heads_experiment as hx
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

LETTERS, PAIRS, DIGITS = 12, 6, 10  # letters A..L, pairs per half, digits 0..9
L = 1 + 2 * PAIRS  # sequence length: start token + two halves = 13
START_LETTER, START_DIGIT = LETTERS, DIGITS  # extra embedding rows for the start token
QUERIES = np.arange(PAIRS + 1, L)  # the scored positions: the second half, 7..12
TWO_BACK = QUERIES - 2  # the key two back of each scored position

# Strictly causal, True = may not attend; the start token may attend to itself, so that no row of
# the mask is fully masked.
MASK = torch.triu(torch.ones(L, L, dtype=torch.bool), diagonal=0)
MASK[0, 0] = False


def second_half_order(rng: np.random.Generator, n: int) -> np.ndarray:
    """n random orders (n, PAIRS) of the six first-half pairs for the second half, drawn uniformly
    among the orders in which no scored position's key two back is also its matching key.

    Queries 7 and 8 look two back into the first half (positions 5 and 6). Were query 7's letter
    the one at position 5, one key would answer both relations, and a model that had learnt only
    one of them would get the other right there for free. Such orders are drawn again.
    """
    order = np.argsort(rng.random((n, PAIRS)), axis=1)
    while True:
        clash = np.any(1 + order == TWO_BACK, axis=1)  # match key position == key two back
        if not clash.any():
            return order
        order[clash] = np.argsort(rng.random((int(clash.sum()), PAIRS)), axis=1)


def make_batch(rng: np.random.Generator, n: int):
    """n sequences: (letters, digits (n, L), two_back, match (n, PAIRS)) as tensors, and the
    order (n, PAIRS): the matching key of scored position QUERIES[c] is position 1 + order[:, c]."""
    letters = np.empty((n, L), dtype=np.int64)
    digits = rng.integers(0, DIGITS, size=(n, L))
    letters[:, 0], digits[:, 0] = START_LETTER, START_DIGIT
    first = np.argsort(rng.random((n, LETTERS)), axis=1)[:, :PAIRS]  # six different letters
    order = second_half_order(rng, n)
    letters[:, 1 : PAIRS + 1] = first
    letters[:, PAIRS + 1 :] = np.take_along_axis(first, order, axis=1)
    two_back = digits[:, TWO_BACK]
    match = np.take_along_axis(digits[:, 1 : PAIRS + 1], order, axis=1)
    arrays = (letters, digits, two_back, match)
    return tuple(torch.from_numpy(a) for a in arrays), order


def token_names(letters, digits) -> list[str]:
    """'<s>' for the start token, then letter-digit pairs such as 'G5'."""
    pairs = zip(letters[1:].tolist(), digits[1:].tolist())
    return ["<s>"] + ["ABCDEFGHIJKL"[letter] + str(digit) for letter, digit in pairs]


class MultiHeadSelfAttention(nn.Module):
    """Multi-head self-attention, laid out as nn.MultiheadAttention."""

    def __init__(self, E, num_heads):
        super().__init__()
        assert E % num_heads == 0, "E must be a multiple of the number of heads"
        self.num_heads = num_heads
        # weight (3E, E): W_Q, W_K, W_V as row blocks
        self.in_proj = nn.Linear(E, 3 * E)
        self.out_proj = nn.Linear(E, E)  # W_O (E, E)

    def project(self, x):
        """Queries, keys and values split into heads: each (N, h, L, d_k)."""
        N, L, E = x.shape
        h, d_k = self.num_heads, E // self.num_heads
        q, k, v = self.in_proj(x).split(E, dim=-1)  # each (N, L, E)
        return tuple(t.view(N, L, h, d_k).transpose(1, 2) for t in (q, k, v))

    def heads(self, x, mask=None):
        """Concat(head_0, ..., head_{h-1}) (N, L, E) and the weights (N, h, L, L)."""
        N, L, E = x.shape
        q, k, v = self.project(x)  # each (N, h, L, d_k)
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5  # (N, h, L, L)
        if mask is not None:  # True = may not attend
            scores = scores.masked_fill(mask, float("-inf"))
        # the softmax over the keys, written out as in chapter 4: for rows of 13 keys it runs
        # faster on a CPU than torch.softmax, and this is the page's most expensive line
        weights = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        weights = weights / weights.sum(dim=-1, keepdim=True)  # (N, h, L, L)
        # (N, h, L, d_k) -> (N, L, h * d_k): head i fills columns i*d_k .. (i+1)*d_k - 1
        return (weights @ v).transpose(1, 2).reshape(N, L, E), weights

    def forward(self, x, mask=None):
        concatenated, weights = self.heads(x, mask)
        return self.out_proj(concatenated), weights


class TwoRelationModel(nn.Module):
    """Embeddings -> self-attention (+ residual) -> two 10-way readouts."""

    def __init__(self, E, num_heads, hidden=64, attention=MultiHeadSelfAttention, **options):
        super().__init__()
        self.letter = nn.Embedding(LETTERS + 1, E)
        self.digit = nn.Embedding(DIGITS + 1, E)
        self.position = nn.Embedding(L, E)  # learned positions
        self.attention = attention(E, num_heads, **options)
        self.readout = nn.Sequential(
            nn.Linear(E, hidden), nn.ReLU(), nn.Linear(hidden, 2 * DIGITS)
        )

    def embed(self, letters, digits):  # (N, L) each -> (N, L, E)
        positions = self.position(torch.arange(L))
        return self.letter(letters) + self.digit(digits) + positions

    def forward(self, letters, digits):
        x = self.embed(letters, digits)
        attended, weights = self.attention(x, MASK)  # (N, L, E), (N, h, L, L)
        # only the second half is scored: (N, PAIRS, E) -> (N, PAIRS, 20)
        logits = self.readout((x + attended)[:, PAIRS + 1 :])
        return logits[..., :DIGITS], logits[..., DIGITS:], weights


# The training recipe of chapter 6, which chapter 7 reuses.
STEPS, BATCH, LEARNING_RATE = 500, 32, 3e-3
SEEDS = list(range(10))
TEST_SEQUENCES = 1000  # per seed: 6000 scored positions
TEST_SEED_OFFSET = 1000  # the test set of seed s is drawn from seed 1000 + s


def losses(outputs, batch) -> torch.Tensor:
    """One loss per model, (R,): the sum of the two cross-entropies."""
    logits_back, logits_match, _ = outputs  # (R, BATCH, PAIRS, 10) each
    _, _, two_back, match = batch  # (R, BATCH, PAIRS) each

    def cross_entropy(logits, targets):
        each = F.cross_entropy(logits.flatten(0, 2), targets.flatten(), reduction="none")
        return each.view(len(targets), -1).mean(dim=1)

    return cross_entropy(logits_back, two_back) + cross_entropy(logits_match, match)


def train(
    E: int,
    num_heads: int,
    *,
    steps: int = STEPS,
    seeds: Sequence[int] = SEEDS,
    learning_rate: float = LEARNING_RATE,
    batch: int = BATCH,
    keep: Sequence[int] = (),
    **model_options,
) -> hx.SeedEnsemble:
    """One TwoRelationModel per seed, trained with Adam on fresh batches, all seeds at once;
    `keep` as in hx.train_seeds."""

    def sample(rng):
        return make_batch(rng, batch)[0]

    return hx.train_seeds(
        lambda: TwoRelationModel(E, num_heads, **model_options),
        sample,
        losses,
        seeds,
        steps,
        learning_rate,
        keep=keep,
    )


def accuracy(ensemble: hx.SeedEnsemble, sequences: int = TEST_SEQUENCES) -> dict[str, np.ndarray]:
    """Test accuracy of every model: 'both', 'two back', 'match' -> (R,) arrays. The model of seed
    s is scored on its own test set, drawn from seed TEST_SEED_OFFSET + s."""
    rngs = [np.random.default_rng(TEST_SEED_OFFSET + seed) for seed in ensemble.seeds]
    batch = hx.stack_batches(lambda rng: make_batch(rng, sequences)[0], rngs)
    with torch.no_grad():
        logits_back, logits_match, _ = ensemble(*batch[:2])
    right_back = logits_back.argmax(-1) == batch[2]  # (R, sequences, PAIRS)
    right_match = logits_match.argmax(-1) == batch[3]
    rates = {"both": right_back & right_match, "two back": right_back, "match": right_match}
    return {key: right.double().mean(dim=(1, 2)).numpy() for key, right in rates.items()}
