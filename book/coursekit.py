"""Shared plotting and data helpers for the chapters of *Multi-head attention, step by step*.

Every chapter starts with ``import coursekit as ck`` and ``ck.use_course_style()``. Anything two
chapters need lives here, once; a helper used by a single chapter stays in that chapter.

Conventions (the same everywhere): N batch, L query length, S key length, E (= d_model) model
width, h heads, d_k = E / h head width; arrays are batch first, (N, L, E).
"""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import matplotlib as mpl
import numpy as np

# Okabe & Ito's palette: distinguishable with every common form of colour blindness.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SEQUENTIAL_CMAP = "viridis"  # perceptually uniform and colour-blind safe
DIVERGING_CMAP = "PuOr"  # colour-blind safe, for signed values centred on 0

SENTENCE = ["The", "cat", "sat", "on", "the", "mat"]  # the running example of chapters 3 to 6


def use_course_style() -> None:
    """Apply the book's matplotlib style: colour-blind-safe colours, readable sizes, crisp
    figures."""
    mpl.rcParams.update(
        {
            "axes.prop_cycle": mpl.cycler(color=OKABE_ITO),
            "image.cmap": SEQUENTIAL_CMAP,
            "figure.dpi": 110,
            "savefig.dpi": 110,
            "figure.figsize": (6.4, 3.8),
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "font.size": 10,
            "legend.frameon": False,
        }
    )
    np.set_printoptions(precision=4, suppress=True, linewidth=100)


def seed_everything(seed: int) -> np.random.Generator:
    """Seed numpy and torch (when present) for a reproducible chapter; return a numpy Generator."""
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # a chapter without torch
        pass
    return np.random.default_rng(seed)


def attention_heatmap(
    ax, weights, query_labels, key_labels, *, title=None, colorbar=True, annotate=False
):
    """Draw an (L, S) attention-weight matrix with token labels: rows are queries, columns keys."""
    weights = np.asarray(weights)
    image = ax.imshow(
        weights,
        cmap=SEQUENTIAL_CMAP,
        vmin=0.0,
        vmax=max(1e-12, float(weights.max())),
        aspect="auto",
    )
    ax.set_xticks(range(len(key_labels)), key_labels, rotation=45, ha="right")
    ax.set_yticks(range(len(query_labels)), query_labels)
    ax.set_xlabel("key (attended to)")
    ax.set_ylabel("query (attending)")
    ax.grid(False)
    if title:
        ax.set_title(title)
    if annotate:
        for (row, column), value in np.ndenumerate(weights):
            color = "white" if value < 0.6 * weights.max() else "black"
            ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize=8, color=color)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    return image


def mask_picture(ax, mask, *, title=None, query_labels=None, key_labels=None):
    """Draw a boolean (L, S) mask: dark cells are True ("may not attend"), light cells may
    attend."""
    mask = np.asarray(mask, dtype=bool)
    ax.imshow(
        mask, cmap=mpl.colors.ListedColormap(["#F0F0F0", "#404040"]), vmin=0, vmax=1, aspect="auto"
    )
    L, S = mask.shape
    ax.set_xticks(range(S), key_labels if key_labels is not None else range(S))
    ax.set_yticks(range(L), query_labels if query_labels is not None else range(L))
    ax.set_xlabel("key position j")
    ax.set_ylabel("query position i")
    ax.grid(False)
    if title:
        ax.set_title(title)


def median_seconds(function, *args, repeats: int = 5, **kwargs) -> float:
    """Median wall-clock seconds of `function(*args, **kwargs)` over `repeats` runs (one warm-up
    first).

    Timings are shown in the book, never asserted: they depend on the machine.
    """
    function(*args, **kwargs)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(*args, **kwargs)
        samples.append(time.perf_counter() - start)
    return float(np.median(samples))


def show_shapes(**arrays) -> None:
    """Print the name and shape of each array, one per line: the book writes every shape out."""
    width = max(len(name) for name in arrays)
    for name, array in arrays.items():
        print(f"{name:<{width}} {tuple(array.shape)}")


def grading_tolerance() -> tuple[float, float]:
    """(ATOL, RTOL) of the exercises' tests: an entry passes when |got - expected| <= ATOL + RTOL *
    |expected|.

    Read from the tests' one source, autograder/checks/notebook_helpers.py of this repository
    (loaded by path,
    so that the book always states the tolerance of the tree it was built from).
    """
    path = Path(__file__).resolve().parent.parent / "autograder" / "checks" / "notebook_helpers.py"
    spec = importlib.util.spec_from_file_location("_course_notebook_helpers", path)
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    return float(helpers.ATOL), float(helpers.RTOL)


def reference_answers(assignment: str) -> dict:
    """The namespace left by running the course's reference solution of an exercise: every code
    cell of solutions/<assignment>/<assignment>.ipynb except its test cells, in order.

    A chapter runs it to measure a claim about correct answers (how far inside the tests'
    tolerance one lies) and never prints it: the answers belong to the exercise, not the page.
    """
    path = Path(__file__).resolve().parent.parent / "solutions" / assignment / f"{assignment}.ipynb"
    namespace: dict = {"__name__": f"reference_{assignment.replace('-', '_')}"}
    for cell in json.loads(path.read_text())["cells"]:
        grading = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] != "code" or grading.get("grade"):  # test cells are graded
            continue
        source = "".join(cell["source"])
        exec(compile(source, f"{path.name}: {grading.get('grade_id')}", "exec"), namespace)
    return namespace
