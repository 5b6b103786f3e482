"""A constructed class for the similarity report: independently written correct answers to
exercise 05, a disguised copy, and notebooks that hold nothing but the released template.

The answers are not one solution renamed. Each of the four graded functions has several
hand-written implementations (vectorised or looping over heads, np.split or slicing, einsum or
@, a helper function or inline code, the provided softmax or one's own), and a student draws each
choice independently, then names, orders and comments the code in their own style. Every
answer is checked against PyTorch by tests/test_similarity.py. Used by that test and by the
similarity benchmark (autograder/tools/benchmark.py).

Most of its length is the answers themselves, written out as text (several ways to write each
step); the code that draws, assembles and disguises them is the last third.
"""

import ast
import builtins
import copy
import json
import random
import re
import textwrap

from autograder import course
from autograder.course.notebook_format import nbgrader_metadata

ASSIGNMENT = "05-multi-head-attention"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"

NAMINGS = [
    dict(
        N="N",
        L="L",
        S="S",
        E="E",
        h="h",
        d="d_k",
        Q="Q",
        K="K",
        V="V",
        Wq="W_q",
        Wk="W_k",
        Wv="W_v",
        bq="b_q",
        bk="b_k",
        bv="b_v",
        scores="scores",
        weights="weights",
        heads="heads",
        concat="concat",
        out="output",
    ),
    dict(
        N="batch",
        L="tgt_len",
        S="src_len",
        E="embed_dim",
        h="heads",
        d="head_dim",
        Q="q",
        K="k",
        V="v",
        Wq="wq",
        Wk="wk",
        Wv="wv",
        bq="bias_q",
        bk="bias_k",
        bv="bias_v",
        scores="logits",
        weights="attn",
        heads="per_head",
        concat="merged",
        out="result",
    ),
    dict(
        N="n",
        L="l",
        S="s",
        E="e",
        h="nh",
        d="dk",
        Q="queries",
        K="keys",
        V="values",
        Wq="wQ",
        Wk="wK",
        Wv="wV",
        bq="bQ",
        bk="bK",
        bv="bV",
        scores="att",
        weights="probs",
        heads="ctx",
        concat="joined",
        out="y",
    ),
    dict(
        N="B",
        L="T",
        S="T_src",
        E="D",
        h="H",
        d="Dh",
        Q="Qh",
        K="Kh",
        V="Vh",
        Wq="Wq",
        Wk="Wk",
        Wv="Wv",
        bq="bq",
        bk="bk",
        bv="bv",
        scores="energy",
        weights="alpha",
        heads="mixed",
        concat="cat",
        out="o",
    ),
    dict(
        N="num_seq",
        L="len_q",
        S="len_k",
        E="width",
        h="n_heads",
        d="d_head",
        Q="query_h",
        K="key_h",
        V="value_h",
        Wq="w_query",
        Wk="w_key",
        Wv="w_value",
        bq="b_query",
        bk="b_key",
        bv="b_value",
        scores="sim",
        weights="w",
        heads="z",
        concat="z_cat",
        out="out",
    ),
]
HELPER_NAMES = {
    "pack": ["one", "pack_one", "side_by_side", "to_rows", "_pack"],
    "proj": ["project", "linear_heads", "proj_split", "_project", "in_proj"],
    "additive": ["to_additive", "as_additive", "mask_to_float", "additive_mask", "_float_mask"],
}

SPLIT_HEADS = [
    """{N}, {L}, {E} = x.shape
{d} = {E} // num_heads
return x.reshape({N}, {L}, num_heads, {d}).transpose(0, 2, 1, 3)""",
    """{N}, {L}, {E} = x.shape
grouped = x.reshape({N}, {L}, num_heads, -1)
return np.swapaxes(grouped, 1, 2)""",
    """{d} = x.shape[-1] // num_heads
return np.moveaxis(x.reshape(*x.shape[:2], num_heads, {d}), 2, 1)""",
    """{d} = x.shape[2] // num_heads
parts = [x[:, :, i * {d}:(i + 1) * {d}] for i in range(num_heads)]
return np.stack(parts, axis=1)""",
    """return np.stack(np.split(x, num_heads, axis=-1), axis=1)""",
    """{N}, {L}, {E} = x.shape
{d} = {E} // num_heads
result = np.empty(({N}, num_heads, {L}, {d}), dtype=x.dtype)
for i in range(num_heads):
    result[:, i] = x[:, :, i * {d}:(i + 1) * {d}]
return result""",
]
# split_heads must refuse an E that num_heads does not divide, with a message naming E.
SPLIT_GUARDS = [
    """if x.shape[-1] % num_heads != 0:
    raise ValueError(f"E={{x.shape[-1]}} is not a multiple of num_heads={{num_heads}}")""",
    """if x.shape[2] % num_heads:
    raise ValueError("E = %d cannot be split into %d heads" % (x.shape[2], num_heads))""",
    """width = x.shape[-1]
if width % num_heads != 0:
    raise ValueError("model width " + str(width) + " is not divisible by num_heads " + """
    """str(num_heads))""",
]
MERGE_HEADS = [
    """{N}, {h}, {L}, {d} = x.shape
return x.transpose(0, 2, 1, 3).reshape({N}, {L}, {h} * {d})""",
    """return np.swapaxes(x, 1, 2).reshape(x.shape[0], x.shape[2], -1)""",
    """return np.concatenate([x[:, i] for i in range(x.shape[1])], axis=-1)""",
    """{N}, {h}, {L}, {d} = x.shape
moved = np.moveaxis(x, 1, 2)
return moved.reshape({N}, {L}, -1)""",
    """{N}, {h}, {L}, {d} = x.shape
merged = np.zeros(({N}, {L}, {h} * {d}))
for i in range({h}):
    merged[:, :, i * {d}:(i + 1) * {d}] = x[:, i, :, :]
return merged""",
    """return np.concatenate(np.split(x, x.shape[1], axis=1), axis=-1)[:, 0]""",
]
PACK_IN_PROJ = [
    """def {pack}(W):
    {h}, {E}, {d} = W.shape
    return W.transpose(1, 0, 2).reshape({E}, {h} * {d}).T
return np.concatenate([{pack}(W_Q), {pack}(W_K), {pack}(W_V)], axis=0)""",
    """blocks = []
for W in (W_Q, W_K, W_V):
    blocks.append(np.hstack(list(W)).T)
return np.vstack(blocks)""",
    """return np.concatenate([W.transpose(0, 2, 1).reshape(-1, W.shape[1]) for W in (W_Q, W_K, """
    """W_V)])""",
    """{h}, {E}, {d} = W_Q.shape
packed = np.zeros((3 * {E}, {E}))
for block, W in enumerate([W_Q, W_K, W_V]):
    for i in range({h}):
        start = block * {E} + i * {d}
        packed[start:start + {d}] = W[i].T
return packed""",
    """return np.concatenate([np.concatenate(list(W), axis=1) for W in (W_Q, W_K, W_V)], """
    """axis=1).T""",
]

# multi_head_attention, in steps; each step has several ways of writing it.
MHA_SIZES = [
    """{N}, {L}, {E} = query.shape
{S} = key.shape[1]
{h} = num_heads
{d} = {E} // {h}""",
    """{N}, {L}, {E} = query.shape
{S} = key.shape[-2]
{h} = num_heads
{d} = int({E} / {h})""",
    """{h} = num_heads
{N}, {L}, {E} = query.shape
{d} = {E} // {h}
{S} = key.shape[1]""",
]
MHA_WEIGHTS = [
    """if in_proj_weight is not None:
    {Wq}, {Wk}, {Wv} = np.split(in_proj_weight, 3)
else:
    {Wq}, {Wk}, {Wv} = q_proj_weight, k_proj_weight, v_proj_weight""",
    """if in_proj_weight is None:
    {Wq} = q_proj_weight
    {Wk} = k_proj_weight
    {Wv} = v_proj_weight
else:
    {Wq} = in_proj_weight[:{E}]
    {Wk} = in_proj_weight[{E}:2 * {E}]
    {Wv} = in_proj_weight[2 * {E}:]""",
    """packed = (q_proj_weight, k_proj_weight, v_proj_weight)
{Wq}, {Wk}, {Wv} = packed if in_proj_weight is None else in_proj_weight.reshape(3, {E}, {E})""",
]
MHA_BIASES = [
    """if in_proj_bias is not None:
    {bq}, {bk}, {bv} = np.split(in_proj_bias, 3)
else:
    {bq} = {bk} = {bv} = 0.0""",
    """all_bias = np.zeros(3 * {E}) if in_proj_bias is None else in_proj_bias
{bq}, {bk}, {bv} = all_bias[:{E}], all_bias[{E}:2 * {E}], all_bias[2 * {E}:]""",
    """has_bias = in_proj_bias is not None
{bq} = in_proj_bias[:{E}] if has_bias else 0
{bk} = in_proj_bias[{E}:2 * {E}] if has_bias else 0
{bv} = in_proj_bias[2 * {E}:] if has_bias else 0""",
]
# Project and split into heads: one line per role (query, key, value), in the student's order.
MHA_PROJECT = [
    ("", "{X} = split_heads({x} @ {W}.T + {b}, {h})"),
    ("", "{X} = (np.matmul({x}, {W}.T) + {b}).reshape({N}, {len}, {h}, {d}).transpose(0, 2, 1, 3)"),
    (
        """def {proj}(x, W, b, length):
    y = x @ W.T + b
    return y.reshape({N}, length, {h}, {d}).swapaxes(1, 2)""",
        "{X} = {proj}({x}, {W}, {b}, {len})",
    ),
    (
        "",
        "{X} = np.einsum('nle,fe->nlf', {x}, {W}) + {b}\n{X} = {X}.reshape({N}, {len}, {h}, "
        "{d}).transpose(0, 2, 1, 3)",
    ),
]
MHA_SCORES = [
    "{scores} = {Q} @ {K}.transpose(0, 1, 3, 2) / np.sqrt({d})",
    "{scores} = np.einsum('nhld,nhsd->nhls', {Q}, {K}) / np.sqrt({d})",
    "scale = 1.0 / np.sqrt({d})\n{scores} = np.matmul({Q}, np.swapaxes({K}, -1, -2)) * scale",
    "{scores} = ({Q} / np.sqrt({d})) @ {K}.swapaxes(2, 3)",
]
MHA_MASKS = [
    """def {additive}(mask):
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return np.where(mask, -np.inf, 0.0)
    return mask
if attn_mask is not None:
    extra = {additive}(attn_mask)
    if extra.ndim == 3:
        extra = extra.reshape({N}, {h}, {L}, {S})
    {scores} = {scores} + extra
if key_padding_mask is not None:
    {scores} = {scores} + {additive}(key_padding_mask)[:, None, None, :]""",
    """if attn_mask is not None:
    attn_mask = np.asarray(attn_mask)
    if attn_mask.ndim == 3:
        attn_mask = attn_mask.reshape({N}, {h}, {L}, {S})
    if attn_mask.dtype == bool:
        {scores} = np.where(attn_mask, -np.inf, {scores})
    else:
        {scores} = {scores} + attn_mask
if key_padding_mask is not None:
    pad = np.asarray(key_padding_mask).reshape({N}, 1, 1, {S})
    if pad.dtype == bool:
        {scores} = np.where(pad, -np.inf, {scores})
    else:
        {scores} = {scores} + pad""",
    """if attn_mask is not None:
    extra = np.where(attn_mask, -np.inf, 0.0) if attn_mask.dtype == np.bool_ else attn_mask
    if extra.ndim == 3:
        extra = extra.reshape(-1, {h}, {L}, {S})
    {scores} += extra
if key_padding_mask is not None:
    extra = np.where(key_padding_mask, -np.inf, 0.0) if key_padding_mask.dtype == np.bool_ else """
    """key_padding_mask
    {scores} += np.expand_dims(extra, axis=(1, 2))""",
]
MHA_ATTEND = [
    "{weights} = softmax({scores}, axis=-1)\n{heads} = {weights} @ {V}",
    """{scores} = {scores} - {scores}.max(axis=-1, keepdims=True)
{weights} = np.exp({scores})
{weights} = {weights} / {weights}.sum(axis=-1, keepdims=True)
{heads} = np.matmul({weights}, {V})""",
    "{weights} = softmax({scores})\n{heads} = np.einsum('nhls,nhsd->nhld', {weights}, {V})",
]
MHA_OUTPUT = [
    """{concat} = merge_heads({heads})
{out} = {concat} @ out_proj_weight.T
if out_proj_bias is not None:
    {out} = {out} + out_proj_bias""",
    """{concat} = {heads}.transpose(0, 2, 1, 3).reshape({N}, {L}, {E})
{out} = np.matmul({concat}, out_proj_weight.T) + (0.0 if out_proj_bias is None else """
    """out_proj_bias)""",
    """{out} = np.einsum('nlf,ef->nle', np.swapaxes({heads}, 1, 2).reshape({N}, {L}, -1), """
    """out_proj_weight)
if out_proj_bias is not None:
    {out} += out_proj_bias""",
]
MHA_RETURN = [
    """if not need_weights:
    return {out}, None
return {out}, ({weights}.mean(axis=1) if average_attn_weights else {weights})""",
    """if need_weights and average_attn_weights:
    return {out}, {weights}.mean(axis=1)
if need_weights:
    return {out}, {weights}
return {out}, None""",
    """returned = None
if need_weights:
    returned = np.mean({weights}, axis=1) if average_attn_weights else {weights}
return {out}, returned""",
]
# The whole of steps 3 to 6 as a Python loop over heads, for the students who think per head.
MHA_PER_HEAD = (
    """Q_all = query @ {Wq}.T + {bq}
K_all = key @ {Wk}.T + {bk}
V_all = value @ {Wv}.T + {bv}
head_outputs, head_weights = [], []
for i in range({h}):
    cols = slice(i * {d}, (i + 1) * {d})
    head_scores = Q_all[:, :, cols] @ K_all[:, :, cols].transpose(0, 2, 1) / np.sqrt({d})
    if attn_mask is not None:
        head_mask = np.asarray(attn_mask)
        if head_mask.ndim == 3:
            head_mask = head_mask.reshape({N}, {h}, {L}, {S})[:, i]
        head_scores = head_scores + (np.where(head_mask, -np.inf, 0.0) if head_mask.dtype == """
    """bool else head_mask)
    if key_padding_mask is not None:
        padding = np.asarray(key_padding_mask)
        padding = np.where(padding, -np.inf, 0.0) if padding.dtype == bool else padding
        head_scores = head_scores + padding[:, None, :]
    head_attention = softmax(head_scores, axis=-1)
    head_outputs.append(head_attention @ V_all[:, :, cols])
    head_weights.append(head_attention)
{weights} = np.stack(head_weights, axis=1)
{out} = np.concatenate(head_outputs, axis=-1) @ out_proj_weight.T
if out_proj_bias is not None:
    {out} = {out} + out_proj_bias"""
)

# attention_weights_bytes, the analysis question: written as they are, not through styled()
# (their dict literals hold braces that str.format would read).
WEIGHTS_BYTES = [
    """if not need_weights:
    return 0
size = {"float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}[dtype]
heads = 1 if average_attn_weights else num_heads
return N * heads * L * S * size""",
    """if not need_weights:
    return 0  # None is returned
itemsize = 8 if dtype == "float64" else 4 if dtype == "float32" else 2
count = N * L * S
if not average_attn_weights:
    count *= num_heads
return count * itemsize""",
    """bits = {"float16": 16, "bfloat16": 16, "float32": 32, "float64": 64}
if need_weights is False:
    return 0
shape = (N, L, S) if average_attn_weights else (N, num_heads, L, S)
total = 1
for size in shape:
    total *= size
return total * bits[dtype] // 8""",
    """width = int(dtype[-2:]) // 8  # float16, bfloat16, float32, float64: bits / 8
numbers = N * L * S * (1 if average_attn_weights else num_heads)
return numbers * width if need_weights else 0""",
]

TRANSPOSE_STYLES = [
    "{}.T",
    "{}.transpose()",
    "np.transpose({})",
    "{}.swapaxes(0, 1)",
]  # of a matrix
SQRT_STYLES = ["np.sqrt({})", "{} ** 0.5", "np.sqrt(float({}))", "np.power({}, 0.5)"]
HABITS = [  # (pattern, the ways a student may write it), one way per student
    (r"-np\.inf", [r"-np.inf", r"float('-inf')", r"-float('inf')"]),
    (r"\baxis=(-?\d)\b(?!,)", [r"axis=\1", r"\1"]),  # axis given by name or by position
    (
        r"transpose\(0, 2, 1, 3\)",
        [r"transpose(0, 2, 1, 3)", r"transpose((0, 2, 1, 3))", r"transpose([0, 2, 1, 3])"],
    ),
    (r"^(\s*)(\w+) = \2 ([-+/]) ", [r"\1\2 = \2 \3 ", r"\1\2 \3= "]),  # a = a + b, or a += b
    (
        r"np\.split\(in_proj_(weight|bias), 3\)",
        [r"np.split(in_proj_\1, 3)", r"np.split(in_proj_\1, 3, axis=0)"],
    ),
    (r"^(\s*)return (.*,.*)$", [r"\1return \2", r"\1return (\2)"]),
]
# Checks a student may add of their own accord (each holds for every valid input), by place.
HABITUAL_CHECKS = {
    "split-heads": [
        "assert x.ndim == 3",
        "assert x.ndim == 3, 'expected (N, L, E)'",
        "x = np.asarray(x)",
    ],
    "merge-heads": [
        "assert x.ndim == 4",
        "x = np.asarray(x)",
        "assert len(x.shape) == 4, 'expected (N, h, L, d_k)'",
    ],
    "pack-in-proj": ["assert W_Q.shape == W_K.shape == W_V.shape", "assert W_Q.ndim == 3"],
    "sizes": [
        "assert {E} % {h} == 0, 'num_heads must divide E'",
        "if {E} % {h} != 0:\n    raise ValueError('E is not a multiple of num_heads')",
        "assert key.shape[:2] == value.shape[:2]",
    ],
    "project": [
        "assert {Q}.shape == ({N}, {h}, {L}, {d})",
        "assert {K}.shape[2] == {S}",
        "assert {V}.ndim == 4",
    ],
    "scores": ["assert {scores}.shape == ({N}, {h}, {L}, {S})", "assert {scores}.ndim == 4"],
    "output": ["assert {out}.shape == ({N}, {L}, {E})", "assert {out}.shape[-1] == {E}"],
}
CHECK_CHANCE = 0.35


def _checks(rng: random.Random, place: str) -> str:
    """The checks this student writes at `place`: each one with some chance, in their order."""
    chosen = [check for check in HABITUAL_CHECKS[place] if rng.random() < CHECK_CHANCE]
    rng.shuffle(chosen)
    return "\n".join(chosen)


COMMENTS = {  # a student's comment style: what, if anything, they write above each step
    "steps": [
        "# 1. sizes",
        "# 2. weights",
        "# 3. biases",
        "# 4. project and split",
        "# 5. scores",
        "# 6. masks",
        "# 7. softmax",
        "# 8. merge and project",
        "# 9. return",
    ],
    "shapes": [
        "# shapes",
        "# (E, E) blocks",
        "# (E,) each",
        "# (N, h, L, d_k)",
        "# (N, h, L, S)",
        "# True -> -inf",
        "# over keys",
        "# (N, L, E)",
        "# weights optional",
    ],
    "none": [""] * 9,
}


def _body(code: str, names: dict, blank: bool) -> str:
    text = code.format(**names)
    return textwrap.indent(text, "    ") + ("\n" if blank else "")


def _mha(rng: random.Random, names: dict, comments: list[str]) -> str:
    roles = [
        ("Q", "query", "Wq", "bq", "L"),
        ("K", "key", "Wk", "bk", "S"),
        ("V", "value", "Wv", "bv", "S"),
    ]
    steps = [
        (rng.choice(MHA_SIZES) + "\n" + _checks(rng, "sizes")).rstrip("\n"),
        rng.choice(MHA_WEIGHTS),
        rng.choice(MHA_BIASES),
    ]
    if rng.random() < 0.5:
        steps[1], steps[2] = steps[2], steps[1]
    if rng.random() < 0.2:
        steps += [MHA_PER_HEAD, "", "", "", "", rng.choice(MHA_RETURN)]
    else:
        helper, line = rng.choice(MHA_PROJECT)
        rng.shuffle(roles)
        lines = [
            line.format_map(
                {
                    **names,
                    "X": "{" + X + "}",
                    "x": x,
                    "W": "{" + W + "}",
                    "b": "{" + b + "}",
                    "len": "{" + length + "}",
                }
            )
            for X, x, W, b, length in roles
        ]
        steps += [
            (helper + "\n" if helper else "")
            + "\n".join(lines + [_checks(rng, "project")]).rstrip("\n"),
            (rng.choice(MHA_SCORES) + "\n" + _checks(rng, "scores")).rstrip("\n"),
            rng.choice(MHA_MASKS),
            rng.choice(MHA_ATTEND),
            (rng.choice(MHA_OUTPUT) + "\n" + _checks(rng, "output")).rstrip("\n"),
            rng.choice(MHA_RETURN),
        ]
    parts = []
    for comment, step in zip(comments, steps):
        if step:
            parts.append((comment + "\n" if comment else "") + step)
    return "\n\n".join(parts) if rng.random() < 0.5 else "\n".join(parts)


def _with_checks(rng: random.Random, place: str, code: str) -> str:
    checks = _checks(rng, place)
    return checks + "\n" + code if checks else code


def answers(seed: int) -> dict[str, str]:
    """grade_id -> the body (without signature) of one student's solution cells."""
    rng = random.Random(seed)
    names = dict(rng.choice(NAMINGS))
    names.update({role: rng.choice(options) for role, options in HELPER_NAMES.items()})
    comments = COMMENTS[rng.choice(list(COMMENTS))]
    transpose, root = rng.choice(TRANSPOSE_STYLES), rng.choice(SQRT_STYLES)
    habits = [(pattern, rng.choice(options)) for pattern, options in HABITS]

    def styled(code: str) -> str:
        code = re.sub(r"(\w+)\.T\b", lambda m: transpose.format(m.group(1)), code.format(**names))
        code = re.sub(r"np\.sqrt\((\w+)\)", lambda m: root.format(m.group(1)), code)
        for pattern, replacement in habits:
            code = re.sub(pattern, replacement, code, flags=re.MULTILINE)
        return textwrap.indent(code, "    ")

    return {
        "split-heads": styled(
            _with_checks(
                rng, "split-heads", rng.choice(SPLIT_GUARDS) + "\n" + rng.choice(SPLIT_HEADS)
            )
        ),
        "merge-heads": styled(_with_checks(rng, "merge-heads", rng.choice(MERGE_HEADS))),
        "pack-in-proj": styled(_with_checks(rng, "pack-in-proj", rng.choice(PACK_IN_PROJ))),
        "multi-head-attention": styled(_mha(rng, names, comments)),
        "attention-weights-bytes": textwrap.indent(rng.choice(WEIGHTS_BYTES), "    "),
    }


def release() -> dict:
    return json.loads(course.release_notebook(ASSIGNMENT).read_text())


def _solution_cells(notebook: dict):
    return {
        cell["metadata"]["nbgrader"]["grade_id"]: cell
        for cell in notebook["cells"]
        if nbgrader_metadata(cell).get("solution")
    }


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def notebook_with(bodies: dict[str, str]) -> dict:
    """The released notebook with each solution cell's stub replaced by the given body."""
    notebook = release()
    for grade_id, cell in _solution_cells(notebook).items():
        source = _source(cell)
        assert STUB in source, f"the release of {grade_id} changed: no stub to replace"
        cell["source"] = source.replace(STUB, bodies[grade_id].rstrip("\n"))
    return notebook


def honest_notebook(seed: int) -> dict:
    return notebook_with(answers(seed))


def template_notebook(trivial_lines: tuple[str, ...] = ()) -> dict:
    """The untouched release, or the release with a few trivial lines above each stub."""
    notebook = release()
    for cell in _solution_cells(notebook).values():
        extra = "".join(f"    {line}\n" for line in trivial_lines)
        cell["source"] = _source(cell).replace(STUB, extra + STUB)
    return notebook


# ------------------------------------------------------------------------------------------------
# A disguised copy: helpers inlined, renamed, re-commented and reordered, done to the text as a
# copier would

PROTECTED = {
    "split_heads",
    "merge_heads",
    "pack_in_proj",
    "multi_head_attention",
    "attention_weights_bytes",
    "dtype",
    "softmax",
    "np",
    "query",
    "key",
    "value",
    "num_heads",
    "in_proj_weight",
    "in_proj_bias",
    "out_proj_weight",
    "out_proj_bias",
    "q_proj_weight",
    "k_proj_weight",
    "v_proj_weight",
    "key_padding_mask",
    "attn_mask",
    "need_weights",
    "average_attn_weights",
    "W_Q",
    "W_K",
    "W_V",
} | set(dir(builtins))
NEW_NAMES = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "omega",
    "sigma",
    "theta",
    "kappa",
    "zeta",
    "lam",
    "mu",
    "nu",
    "xi",
    "rho",
    "tau",
    "phi",
    "chi",
    "psi",
    "eta",
    "iota",
    "ups",
    "epsi",
    "omi",
    "pi_",
]
NEW_COMMENTS = [
    "# as in the chapter",
    "# careful with the shapes here",
    "# heads first",
    "# see part 1",
    "# PyTorch layout",
    "# keep it general",
    "# works for any h",
]


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping):
        self.mapping = mapping

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.mapping.get(node.arg, node.arg)
        return node

    def visit_FunctionDef(self, node):
        node.name = self.mapping.get(node.name, node.name)
        self.generic_visit(node)
        return node


def _names_of(statement) -> tuple[set, set]:
    """(names it assigns, names it reads)."""
    stored, loaded = set(), set()
    for node in ast.walk(statement):
        if isinstance(node, ast.Name):
            (stored if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
    return stored, loaded


def _plain_assignment(statement) -> bool:
    """`a = ...` or `a, b = ...`: it changes no object, only binds names."""
    if not isinstance(statement, ast.Assign):
        return False
    targets = [
        element
        for target in statement.targets
        for element in (target.elts if isinstance(target, ast.Tuple) else [target])
    ]
    return all(isinstance(target, ast.Name) for target in targets)


def _reorder(body: list, rng: random.Random) -> None:
    """Swap adjacent assignments that do not depend on each other; helpers move to the top."""
    helpers = [statement for statement in body if isinstance(statement, ast.FunctionDef)]
    rest = [statement for statement in body if not isinstance(statement, ast.FunctionDef)]
    docstring = (
        rest[:1]
        if rest and isinstance(rest[0], ast.Expr) and isinstance(rest[0].value, ast.Constant)
        else []
    )
    body[:] = docstring + helpers[::-1] + rest[len(docstring) :]
    for i in range(len(body) - 1):
        first, second = body[i], body[i + 1]
        if not all(_plain_assignment(s) for s in (first, second)):
            continue
        (stored_1, loaded_1), (stored_2, loaded_2) = _names_of(first), _names_of(second)
        if not (stored_1 & (loaded_2 | stored_2) or stored_2 & loaded_1) and rng.random() < 0.4:
            body[i], body[i + 1] = second, first
    for statement in body:
        for field_name in ("body", "orelse"):
            inner = getattr(statement, field_name, None)
            if isinstance(inner, list) and inner:
                _reorder(inner, rng)


class _Substitute(ast.NodeTransformer):
    """Replace names by (copies of) expressions."""

    def __init__(self, values: dict):
        self.values = values

    def visit_Name(self, node):
        if isinstance(node.ctx, ast.Load) and node.id in self.values:
            return copy.deepcopy(self.values[node.id])
        return node


def _as_expression(helper: ast.FunctionDef) -> ast.expr | None:
    """The value a helper returns, as one expression of its parameters, when its body is
    assignments to names followed by a return (`h, E, d = W.shape` binds h to W.shape[0]...)."""
    arguments = helper.args
    if arguments.vararg or arguments.kwarg or arguments.kwonlyargs or arguments.defaults:
        return None
    *steps, last = helper.body
    if not isinstance(last, ast.Return) or last.value is None:
        return None
    values = {}
    for step in steps:
        if not (isinstance(step, ast.Assign) and len(step.targets) == 1):
            return None
        target, value = step.targets[0], _Substitute(values).visit(copy.deepcopy(step.value))
        if isinstance(target, ast.Name):
            values[target.id] = value
        elif isinstance(target, ast.Tuple) and all(isinstance(e, ast.Name) for e in target.elts):
            for index, element in enumerate(target.elts):
                values[element.id] = ast.Subscript(value, ast.Constant(index), ast.Load())
        else:
            return None
    return _Substitute(values).visit(copy.deepcopy(last.value))


def _inline_helpers(function: ast.FunctionDef) -> None:
    """Inline the helpers defined inside `function` that `_as_expression` can write as one
    expression and that are only ever called (with positional arguments): each call becomes the
    helper's expression with the arguments in place of the parameters, and the helper goes."""
    for helper in [s for s in function.body if isinstance(s, ast.FunctionDef)]:
        expression = _as_expression(helper)
        parameters = [argument.arg for argument in helper.args.args]
        uses = [
            node
            for node in ast.walk(function)
            if isinstance(node, ast.Name) and node.id == helper.name
        ]
        calls = [
            node
            for node in ast.walk(function)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == helper.name
        ]
        if (
            expression is None
            or not calls
            or len(uses) != len(calls)
            or any(len(call.args) != len(parameters) or call.keywords for call in calls)
        ):
            continue

        class _Inline(ast.NodeTransformer):
            def visit_Call(self, node):
                self.generic_visit(node)
                if node in calls:
                    values = dict(zip(parameters, node.args))
                    return _Substitute(values).visit(copy.deepcopy(expression))
                return node

        function.body.remove(helper)
        _Inline().visit(function)


def disguise(source: str, rng: random.Random) -> str:
    """`source` with its simple helpers inlined, renamed, its comments replaced by others,
    independent lines swapped, re-laid out."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            _inline_helpers(node)
    local = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
        elif isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, ast.FunctionDef):
            local.add(node.name)
    pool = [name for name in NEW_NAMES if name not in local]  # every name really changes
    rng.shuffle(pool)
    mapping = {
        name: pool[i % len(pool)] + ("" if i < len(pool) else str(i // len(pool)))
        for i, name in enumerate(sorted(local - PROTECTED))
    }
    tree = _Renamer(mapping).visit(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            _reorder(node.body, rng)
    lines = []
    for line in ast.unparse(tree).splitlines():
        if (
            line.startswith("    ")
            and not line.strip().startswith(('"""', "'"))
            and rng.random() < 0.25
        ):
            lines.append(line[: len(line) - len(line.lstrip())] + rng.choice(NEW_COMMENTS))
        lines.append(line)
    return "\n".join(lines)


def disguised_copy(notebook: dict, seed: int) -> dict:
    """A copy of `notebook` whose own code cells (every code cell that is not the release's:
    answer cells and cells the student added) are disguised (see `disguise`)."""
    rng = random.Random(seed)
    copy = json.loads(json.dumps(notebook))
    handed_out = {_source(cell) for cell in release()["cells"] if cell["cell_type"] == "code"}
    for cell in copy["cells"]:
        if cell["cell_type"] == "code" and _source(cell) not in handed_out:
            cell["source"] = disguise(_source(cell), rng)
    return copy


def constructed_class(honest: int = 30, seed: int = 0) -> dict[str, dict]:
    """student -> notebook: `honest` independent answers, a copy of the first, three
    template-only."""
    students = {
        f"honest-{number:03d}": honest_notebook(seed * 100_000 + number) for number in range(honest)
    }
    students["copier"] = disguised_copy(students["honest-000"], seed + 1)
    students["template-a"] = template_notebook()
    students["template-b"] = template_notebook()
    students["template-c"] = template_notebook(("print('not finished yet')", "result = None"))
    return students


def write_notebooks(students: dict[str, dict], folder) -> None:
    from pathlib import Path

    for student, notebook in students.items():
        path = Path(folder) / student / ASSIGNMENT / course.notebook_name(ASSIGNMENT)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(notebook, indent=1))
