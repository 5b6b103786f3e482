"""The visible tests on their own, as a learner runs them at home: they pass the reference solution,
and each known-wrong variant fails every test cell it loses points in, so no hidden check is the
first to find a mistake ("one mistake, one loss", and no surprise at grading time). Also: correct
answers written another way than the reference (a list for `lengths`, keyword calls) get full marks
from the visible and the hidden tests alike."""

from types import SimpleNamespace

import pytest

from autograder import course
from autograder.checks.mistakes import known_mistakes
from autograder.course import notebook_format

HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"

# Each assignment's solution and every known mistake run in full: minutes.
pytestmark = pytest.mark.slow

# Every exercise's visible tests are held to this (issue 11).
COVERED = course.assignments()


def run_tests(notebook, *, hidden: bool) -> dict:
    """Execute the notebook's code cells in one namespace; a test cell runs its visible part (and
    its hidden block when `hidden`). Returns test grade_id -> the exception it raised, or None."""
    namespace = {"__name__": "__main__"}
    results = {}
    for cell in notebook.cells:
        if cell.cell_type != "code" or notebook_format.skips_execution(cell):
            continue  # markdown, and the ungraded demonstration no grader runs
        metadata = notebook_format.nbgrader_metadata(cell)
        source = cell.source
        if metadata.get("grade") and not metadata.get("solution"):
            before, rest = source.split(HIDDEN_BEGIN)
            hidden_block, after = rest.split(HIDDEN_END)
            source = before + (hidden_block if hidden else "") + after
            try:
                exec(
                    compile(source, metadata["grade_id"], "exec"), namespace
                )  # the course's own cells
                results[metadata["grade_id"]] = None
            except Exception as failure:  # nbgrader scores any exception as a failure
                results[metadata["grade_id"]] = failure
        else:
            try:
                exec(
                    compile(source, metadata.get("grade_id", "cell"), "exec"), namespace
                )  # the course's own cells
            except NotImplementedError:
                pass
    return results


def replace_answer(notebook, cell: str, source: str):
    # apply_mistake reads a mistake's name, cell and source: an alternative answer states its own.
    alternative = SimpleNamespace(name="alternative", cell=cell, source=source)
    return notebook_format.apply_mistake(notebook, alternative)


@pytest.fixture(params=COVERED)
def covered(request):
    return request.param


def test_reference_passes_every_visible_test(covered, solution_notebooks):
    failures = {
        name: error
        for name, error in run_tests(solution_notebooks[covered], hidden=False).items()
        if error
    }
    assert not failures


def test_visible_tests_alone_catch_each_known_wrong_variant(covered, solution_notebooks):
    for mistake in known_mistakes(covered):
        results = run_tests(
            notebook_format.apply_mistake(solution_notebooks[covered], mistake), hidden=False
        )
        failed = {name for name, error in results.items() if error}
        assert failed == set(mistake.fails), mistake.name
        for name in failed:
            assert str(results[name]).strip(), f"{mistake.name}: {name} failed without a message"


# Correct answers that differ from the reference in a way the docstrings allow.
ALTERNATIVES = [
    (
        "04-scaling-softmax-masks",
        "padding-mask",
        """
def padding_mask(lengths, S):
    return np.array([[j >= n for j in range(S)] for n in lengths], dtype=bool)
""",
    ),
    (
        "04-scaling-softmax-masks",
        "to-sdpa-mask",
        """
def to_sdpa_mask(mask):
    mask = np.asarray(mask)
    return np.logical_not(mask) if mask.dtype == np.bool_ else mask.copy()
""",
    ),
    (
        "06-why-multi-head",
        "encoder-layer",
        """
def transformer_encoder_layer(x, params, num_heads, attention, eps=1e-5, norm=None):
    norm = layer_norm if norm is None else norm
    p = params
    attended = attention(x, num_heads=num_heads, in_proj_weight=p["self_attn.in_proj_weight"],
                         in_proj_bias=p["self_attn.in_proj_bias"],
                         out_proj_weight=p["self_attn.out_proj.weight"],
                         out_proj_bias=p["self_attn.out_proj.bias"])
    h = norm(x + attended, weight=p["norm1.weight"], bias=p["norm1.bias"], eps=eps)
    hidden = np.maximum(0.0, h @ p["linear1.weight"].T + p["linear1.bias"])
    return norm(h + hidden @ p["linear2.weight"].T + p["linear2.bias"],
                p["norm2.weight"], p["norm2.bias"], eps=eps)
""",
    ),
]


# Correct answers written close to a known mistake of the stress axes: each must keep full marks
# (no false alarm from the checks that catch the mistake).
ALTERNATIVES += [
    (  # works in place, but in its own copy
        "04-scaling-softmax-masks",
        "softmax",
        """
def softmax(x, axis=-1):
    x = np.array(x, dtype=np.float64 if np.asarray(x).dtype.kind in "iu" else None)  # a copy
    x -= x.max(axis=axis, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=axis, keepdims=True)
    return x
""",
    ),
    (  # memoised, but hands out a copy
        "04-scaling-softmax-masks",
        "causal-mask",
        """
import functools


@functools.lru_cache(maxsize=None)
def _causal(L, S):
    mask = np.arange(S)[None, :] > np.arange(L)[:, None]
    mask.flags.writeable = False
    return mask


def causal_mask(L, S=None):
    return _causal(L, L if S is None else S).copy()
""",
    ),
    (  # returns a view of its argument: allowed
        "05-multi-head-attention",
        "split-heads",
        """
def split_heads(x, num_heads):
    N, L, E = x.shape
    if E % num_heads:
        raise ValueError(f"cannot split E={E} into num_heads={num_heads} heads")
    return np.swapaxes(x.reshape(N, L, num_heads, -1), 1, 2)
""",
    ),
    (  # the query's own entry set to -inf through a mask, not by writing into the similarities
        "01-word-embeddings",
        "nearest-neighbours",
        """
def nearest_neighbours(table, query_ids, k, similarity=None):
    similarity = cosine_similarity if similarity is None else similarity
    query_ids = np.asarray(query_ids)
    sims = similarity(table[query_ids][:, None, :], table[None, :, :])
    own = np.arange(len(table))[None, :] == query_ids[:, None]
    sims = np.where(own, -np.inf, sims)
    ids = np.argsort(-sims, axis=-1, kind="stable")[:, :k]
    return ids, np.take_along_axis(sims, ids, axis=-1)
""",
    ),
    (  # divides a copy of q, keeps every key in its cache
        "07-attention-at-inference",
        "grouped-query-attention",
        """
def grouped_query_attention(q, k, v, mask=None):
    h, g = q.shape[1], k.shape[1]
    if h % g:
        raise ValueError(f"g={g} does not divide h={h}")
    q = q / np.sqrt(q.shape[-1])
    k, v = np.repeat(k, h // g, axis=1), np.repeat(v, h // g, axis=1)
    scores = q @ np.swapaxes(k, -1, -2)
    if mask is not None:
        scores = np.where(mask, -np.inf, scores) if mask.dtype == np.bool_ else scores + mask
    return softmax(scores, axis=-1) @ v
""",
    ),
    (  # the Euclidean norm, then divided by E: its float32 stays float32
        "08-small-gpt",
        "rms-norm",
        """
def rms_norm(x, weight, eps):
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.sqrt(norm * norm / x.shape[-1] + eps) * weight
""",
    ),
    (  # complex numbers in numpy, as the oracle does in torch
        "08-small-gpt",
        "apply-rope",
        """
def apply_rope(x, positions, base=10000.0):
    d_k = x.shape[-1]
    pairs = x[..., 0::2] + 1j * x[..., 1::2]
    theta = base ** (-np.arange(0, d_k, 2) / d_k)
    turned = pairs * np.exp(1j * np.outer(positions, theta))
    out = np.empty(x.shape)
    out[..., 0::2], out[..., 1::2] = turned.real, turned.imag
    return out
""",
    ),
    (  # numpy's two-pass variance, einsum for the heads, a float causal mask
        "08-small-gpt",
        "decoder-block",
        """
def decoder_block(x, params, num_heads, eps=1e-5):
    N, L, E = x.shape
    d_k = E // num_heads

    def norm(z, name):
        scaled = (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + eps)
        return scaled * params[name + ".weight"] + params[name + ".bias"]

    W, b = params["self_attn.in_proj_weight"], params["self_attn.in_proj_bias"]
    n = norm(x, "norm1")
    q, k, v = (
        (np.einsum("nle,fe->nlf", n, W[i * E : (i + 1) * E]) + b[i * E : (i + 1) * E]).reshape(
            N, L, num_heads, d_k
        )
        for i in range(3)
    )
    scores = np.einsum("nlhd,nshd->nhls", q, k) / np.sqrt(d_k)
    scores = scores + np.triu(np.full((L, L), -np.inf), k=1)
    heads = np.einsum("nhls,nshd->nlhd", softmax(scores), v).reshape(N, L, E)
    y = x + heads @ params["self_attn.out_proj.weight"].T + params["self_attn.out_proj.bias"]
    hidden = np.maximum(norm(y, "norm2") @ params["linear1.weight"].T + params["linear1.bias"], 0)
    return y + hidden @ params["linear2.weight"].T + params["linear2.bias"]
""",
    ),
    (  # every target looked up, padding first replaced by an id that exists, then left out
        "08-small-gpt",
        "next-token-loss",
        """
def next_token_loss(logits, tokens, pad_id):
    targets = tokens[:, 1:]
    counts = targets != pad_id
    safe = np.where(counts, targets, 0)
    scores = logits[:, :-1]
    top = scores.max(axis=-1, keepdims=True)
    log_probabilities = scores - top - np.log(np.exp(scores - top).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probabilities, safe[..., None], axis=-1)[..., 0]
    return -np.sum(np.where(counts, picked, 0.0)) / counts.sum()
""",
    ),
    (  # a copy of the cache list updated, chapter 7's bottom-right mask by S - L
        "08-small-gpt",
        "gpt-forward",
        """
def gpt_forward(tokens, cache, params, num_heads):
    N, L = tokens.shape
    E = params["embed"].shape[1]
    d_k = E // num_heads
    blocks = params["blocks"]
    empty = (np.zeros((N, num_heads, 0, d_k)), np.zeros((N, num_heads, 0, d_k)))
    updated = list(cache) if cache is not None else [empty] * len(blocks)
    positions = updated[0][0].shape[2] + np.arange(L)
    x = params["embed"][tokens]
    for i, block in enumerate(blocks):
        qkv = rms_norm(x, block["norm1"], 1e-5) @ block["in_proj"].T
        q, k, v = (
            qkv[..., j * E : (j + 1) * E].reshape(N, L, num_heads, d_k).transpose(0, 2, 1, 3)
            for j in range(3)
        )
        k = np.concatenate([updated[i][0], apply_rope(k, positions)], axis=2)
        v = np.concatenate([updated[i][1], v], axis=2)
        updated[i] = (k, v)
        S = k.shape[2]
        scores = apply_rope(q, positions) @ k.transpose(0, 1, 3, 2) / np.sqrt(d_k)
        scores = np.where(np.triu(np.ones((L, S), dtype=bool), k=S - L + 1), -np.inf, scores)
        out = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(N, L, E)
        x = x + out @ block["out_proj"].T
        inner = np.maximum(rms_norm(x, block["norm2"], 1e-5) @ block["linear1"].T, 0)
        x = x + inner @ block["linear2"].T
    return rms_norm(x, params["norm"], 1e-5) @ params["embed"].T, updated
""",
    ),
    (  # the last token never fed back: no wasted forward pass
        "08-small-gpt",
        "generate-greedy",
        """
def generate_greedy(prompt, new_tokens, params, num_heads):
    logits, cache = gpt_forward(prompt, None, params, num_heads)
    tokens, chosen = np.asarray(prompt), []
    for step in range(new_tokens):
        last = logits[:, -1]
        chosen.append(last)
        token = last.argmax(axis=-1)[:, None]
        tokens = np.concatenate([tokens, token], axis=1)
        if step + 1 < new_tokens:
            logits, cache = gpt_forward(token, cache, params, num_heads)
    return tokens, np.stack(chosen, axis=1)
""",
    ),
    (  # scalar starting state; the NaN of a tile seen only masked replaced after the fact
        "07-attention-at-inference",
        "tiled-attention",
        """
def tiled_attention(q, k, v, mask, block):
    L, S = q.shape[-2], k.shape[-2]
    out = np.zeros(q.shape[:-1] + v.shape[-1:])
    for i in range(0, L, block):
        qi = q[..., i : i + block, :] / np.sqrt(q.shape[-1])
        m, total, o = -np.inf, 0.0, 0.0
        for j in range(0, S, block):
            s = qi @ np.swapaxes(k[..., j : j + block, :], -1, -2)
            if mask is not None:
                part = mask[..., i : i + block, j : j + block]
                s = np.where(part, -np.inf, s) if part.dtype == np.bool_ else s + part
            m_new = np.maximum(m, s.max(axis=-1, keepdims=True))
            with np.errstate(invalid="ignore"):
                shrink = np.where(np.isneginf(m_new), 0.0, np.exp(m - m_new))
                p = np.where(np.isneginf(m_new), 0.0, np.exp(s - m_new))
            total = total * shrink + p.sum(axis=-1, keepdims=True)
            o = o * shrink + p @ v[..., j : j + block, :]
            m = m_new
        out[..., i : i + block, :] = o / total
    return out
""",
    ),
    (  # the variance of numpy, any table length
        "06-why-multi-head",
        "layer-norm",
        """
def layer_norm(x, weight, bias, eps=1e-5):
    centred = x - x.mean(axis=-1, keepdims=True)
    return centred / np.sqrt(x.var(axis=-1, keepdims=True) + eps) * weight + bias
""",
    ),
]


@pytest.mark.parametrize("alternative", ALTERNATIVES, ids=[f"{a}:{c}" for a, c, _ in ALTERNATIVES])
def test_correct_alternatives_pass_visible_and_hidden_tests(alternative, solution_notebooks):
    assignment, cell, source = alternative
    results = run_tests(replace_answer(solution_notebooks[assignment], cell, source), hidden=True)
    assert not {name: error for name, error in results.items() if error}
