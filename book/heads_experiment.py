"""Training many seeds at once, for the experiments of chapters 6 and 7.

Chapter 6 trains the same small model from many random seeds. Training them one after another
would cost most of the page's build time in Python overhead, because the model is tiny. Instead,
`train_seeds` stacks the R models' parameters along a new leading axis and runs all of them in
one `torch.func.vmap` call. Each model still has its own initialisation (from its own seed), its
own stream of training batches and its own loss; the losses are summed only so that one
`backward` computes every model's gradient. Adam updates every parameter entry on its own, so one
Adam over the stacked tensors is R independent Adams. The chapter checks that one member of the
ensemble gives the same outputs as the plain model built from the same seed.

The task and the model are in two_relation.py; the statistics in seed_statistics.py.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


@dataclass
class SeedEnsemble:
    """R models of one architecture, trained from R seeds; parameters stacked as (R, ...)."""

    template: nn.Module  # the architecture; its own parameter values are never used
    params: dict[str, torch.Tensor]  # name -> (R, *shape)
    seeds: list[int]
    steps: int
    # the same runs after fewer steps, when train_seeds was asked to keep them: steps -> ensemble
    earlier: dict[int, "SeedEnsemble"] = field(default_factory=dict)

    def __call__(self, *inputs: torch.Tensor):
        """Run every model on its own inputs: each input is (R, ...) and row r goes to model r."""

        def one_model(params, *one_input):
            return functional_call(self.template, params, one_input)

        return vmap(one_model)(self.params, *inputs)

    def model(self, index: int) -> nn.Module:
        """A plain copy of model `index` (the one trained from seeds[index])."""
        single = copy.deepcopy(self.template)
        state = {name: value[index].detach().clone() for name, value in self.params.items()}
        single.load_state_dict(state)
        return single

    def with_params(self, changes: dict[str, Callable[[torch.Tensor], None]]) -> "SeedEnsemble":
        """A copy in which change(p) has edited a clone p of each named parameter (an ablation)."""
        params = dict(self.params)
        for name, change in changes.items():
            params[name] = params[name].clone()
            change(params[name])
        return SeedEnsemble(self.template, params, self.seeds, self.steps)


def stack_batches(sample: Callable[[np.random.Generator], tuple], rngs) -> tuple:
    """One batch per model, from its own generator, stacked along a new first axis (R, ...)."""
    batches = [sample(rng) for rng in rngs]
    return tuple(torch.stack(parts) for parts in zip(*batches))


def train_seeds(
    build: Callable[[], nn.Module],
    sample: Callable[[np.random.Generator], tuple],
    loss_of: Callable[[tuple, tuple], torch.Tensor],
    seeds: Sequence[int],
    steps: int,
    learning_rate: float,
    num_inputs: int = 2,
    keep: Sequence[int] = (),
) -> SeedEnsemble:
    """Train one model per seed with Adam, all at once; return the trained ensemble.

    build() makes one model (called after torch.manual_seed(seed), so the seed sets its
    initialisation); sample(rng) draws one training batch as a tuple of tensors, the inputs
    first (num_inputs of them); loss_of(outputs, batch) returns one loss per model, shape (R,).
    keep: step counts below `steps` at which a copy of the ensemble is kept, in `.earlier`; it
    is exactly what training for that many steps would have returned.
    """
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(build())
    params, _ = stack_module_state(models)  # name -> (R, *shape), leaves requiring grad
    template = copy.deepcopy(models[0])
    ensemble = SeedEnsemble(template, params, list(seeds), steps)
    optimiser = torch.optim.Adam(params.values(), lr=learning_rate)
    rngs = [np.random.default_rng(seed) for seed in seeds]
    for step in range(1, steps + 1):
        batch = stack_batches(sample, rngs)
        losses = loss_of(ensemble(*batch[:num_inputs]), batch)  # (R,)
        optimiser.zero_grad()
        losses.sum().backward()  # model r's parameters get the gradient of losses[r] only
        optimiser.step()
        if step in keep and step < steps:
            frozen = {name: value.detach().clone() for name, value in params.items()}
            ensemble.earlier[step] = SeedEnsemble(template, frozen, list(seeds), step)
    for value in params.values():
        value.requires_grad_(False)
    return ensemble


def plot_series(ax, heads, values, summaries, *, color, mean_color) -> None:
    """One series: a dot per run, and the mean with its bootstrap interval, per h.

    values[i] holds the runs' accuracies for heads[i]; summaries[i] is the chapter's
    (solved, runs, wilson_low, wilson_high, mean, mean_low, mean_high) for heads[i].
    """
    heads = np.asarray(heads, dtype=np.float64)
    for x, runs in zip(heads, values):
        jitter = 1 + 0.12 * (np.arange(len(runs)) / max(1, len(runs) - 1) - 0.5)
        ax.scatter(x * jitter, runs, color=color, alpha=0.55, s=16)
    means = np.array([s[4] for s in summaries])
    low = means - np.array([s[5] for s in summaries])
    high = np.array([s[6] for s in summaries]) - means
    ax.errorbar(
        heads,
        means,
        yerr=[low, high],
        color=mean_color,
        marker="D",
        capsize=4,
        label="mean, 95% bootstrap interval",
    )
    ax.scatter([], [], color=color, alpha=0.55, s=16, label="one run (seed)")
    ax.set_xscale("log", base=2)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("number of heads h")
