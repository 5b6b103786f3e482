"""Assignment 02-rnn-limitations: hidden checks against torch."""

import functools

import numpy as np
import torch
import torch.autograd.forward_ad as forward_ad

from .. import stress
from ..oracle import (
    call_learner,
    call_numpy_only,
    check_array,
    check_count,
    distinct_sizes,
    numpy,
    quiet,
    require_error,
    tensor,
)
from ..stress import LONG, Axis


def _rnn_parameters(rng, E, H, scale=0.6):
    """Weights in torch.nn.RNN's orientation: W_ih (H, E), W_hh (H, H), biases (H,)."""
    return (
        rng.normal(scale=scale / np.sqrt(E), size=(H, E)),
        rng.normal(scale=scale * 1.5 / np.sqrt(H), size=(H, H)),
        rng.normal(scale=0.3, size=H),
        rng.normal(scale=0.3, size=H),
    )


def _torch_rnn(W_ih, W_hh, b_ih=None, b_hh=None):
    """A float64 torch.nn.RNN (tanh, batch_first) holding copies of the given weights; without
    biases when none are given."""
    H, E = W_ih.shape
    bias = b_ih is not None
    rnn = torch.nn.RNN(E, H, bias=bias, batch_first=True, nonlinearity="tanh", dtype=torch.float64)
    names = ["weight_ih_l0", "weight_hh_l0"] + (["bias_ih_l0", "bias_hh_l0"] if bias else [])
    with torch.no_grad():
        for name, value in zip(names, [W_ih, W_hh, b_ih, b_hh]):
            getattr(rnn, name).copy_(tensor(value))
    return rnn


def _forward_case(rng, **fixed):
    """Sizes N, L, E, H all different (so no size can be taken from another, or from the
    notebook's globals N=2, L=6, E=3, H=4 unnoticed), then any of them `fixed`; weights, biases,
    x and h0."""
    sizes = distinct_sizes(rng, ["N", "L", "E", "H"], low=2, high=10)
    while (sizes["N"], sizes["L"], sizes["E"], sizes["H"]) in [(2, 6, 3, 4)]:
        sizes = distinct_sizes(rng, ["N", "L", "E", "H"], low=2, high=10)
    sizes.update(fixed)
    N, L, E, H = (sizes[name] for name in ("N", "L", "E", "H"))
    return (
        rng.normal(size=(N, L, E)),
        rng.normal(scale=0.5, size=(N, H)),
        _rnn_parameters(rng, E, H),
    )


def _long_case(rng):
    """64 or more steps whose Jacobian neither vanishes nor explodes: W_hh orthogonal, and inputs,
    biases and h0 small, so that every tanh' is close to 1 and dh_L/dh_0 is close to W_hh^L."""
    sizes = distinct_sizes(rng, ["N", "E", "H"], low=2, high=8)
    N, E, H, L = sizes["N"], sizes["E"], sizes["H"], int(rng.integers(LONG, LONG + 16))
    W_hh, _ = np.linalg.qr(rng.normal(size=(H, H)))
    params = (rng.normal(scale=0.01, size=(H, E)), W_hh, np.zeros(H), np.zeros(H))
    return rng.normal(scale=0.01, size=(N, L, E)), rng.normal(scale=0.01, size=(N, H)), params


def _extreme_cases(rng):
    """L = 1, N = 1, E = 1, H = 1, 64 or more steps, and inputs x1000 (tanh saturated: a tanh
    written with exp overflows)."""
    x, h0, params = _forward_case(rng)
    return [
        _forward_case(rng, L=1),
        _forward_case(rng, N=1),
        _forward_case(rng, E=1),
        _forward_case(rng, H=1),
        _long_case(rng),
        (1000.0 * x, h0, params),
    ]


def _check_forward(rnn_forward, x, initial, params):
    rnn = _torch_rnn(*params)
    with quiet(), torch.no_grad():
        expected_all, expected_last = (
            rnn(tensor(x)) if initial is None else rnn(tensor(x), tensor(initial)[None])
        )
    result = call_numpy_only(
        rnn_forward,
        x.copy(),
        None if initial is None else initial.copy(),
        *(p.copy() for p in params),
    )
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError(
            "rnn_forward should return a pair (hidden_states, h_last), got "
            f"{type(result).__qualname__}"
        )
    H = params[0].shape[0]
    described = (
        f"rnn_forward(x {x.shape}, h0 {'None' if initial is None else initial.shape}, H={H})"
    )
    check_array(f"{described}: hidden states", result[0], numpy(expected_all))
    check_array(f"{described}: last hidden state", result[1], numpy(expected_last[0]))


def check_rnn_forward(rng, rnn_forward):
    """From a given h0, at two sets of sizes, then at each extreme of _extreme_cases."""
    for x, h0, params in [_forward_case(rng), _forward_case(rng), *_extreme_cases(rng)]:
        _check_forward(rnn_forward, x, h0, params)


def check_rnn_forward_zero_state(rng, rnn_forward):
    """h0=None: the state starts at zeros; also with 64 or more steps, and H = 1."""
    for x, _, params in [_forward_case(rng), _long_case(rng), _forward_case(rng, H=1)]:
        _check_forward(rnn_forward, x, None, params)


def check_rnn_jacobian(rng, rnn_jacobian):
    """Two sets of sizes; 64 or more steps with a Jacobian of order 1; L = 1, N = 1, H = 1."""
    cases = [_forward_case(rng), _forward_case(rng), _long_case(rng)]
    cases += [_forward_case(rng, **{name: 1}) for name in ("L", "N", "H")]
    for case in cases:
        _check_jacobian(rnn_jacobian, *case)


def _check_jacobian(rnn_jacobian, x, h0, params):
    N, H = h0.shape
    rnn = _torch_rnn(*params)
    x, h0 = tensor(x), tensor(h0)
    with quiet():
        with torch.no_grad():
            hidden_states = numpy(rnn(x, h0[None])[0])
        full = torch.autograd.functional.jacobian(
            lambda h: rnn(x, h[None])[1][0], h0
        )  # (N, H, N, H)
    expected = numpy(
        full[torch.arange(N), :, torch.arange(N), :]
    )  # the (N, H, H) blocks dh_T[n]/dh_0[n]
    got = call_numpy_only(rnn_jacobian, hidden_states.copy(), params[1].copy())
    check_array(
        f"rnn_jacobian(hidden_states {hidden_states.shape}, W_hh {params[1].shape})", got, expected
    )


# ---------------------------------------------------------------- part 3: the analysis question

CHUNK = 128  # steps of the oracle RNN per call
MOST_STEPS = 4096  # the oracle gives up beyond this (no hidden case comes near it)
CLEARANCE = 1e-6  # no ||W_hh^t||_2 of a case lies within this relative distance of its eps


def _torch_gradient_norms(W_hh, eps):
    """The oracle: ||dh_t/dh_0||_2 for t = 0, 1, ... up to the first that is <= eps (the last one
    returned), for a real torch.nn.RNN at rest (inputs, biases and h0 zero), from forward-mode
    autograd; None when there is none within MOST_STEPS steps. H copies of the zero state run
    side by side, copy j nudged along e_j, so the tangents are the columns of dh_t/dh_0."""
    return _gradient_norms(W_hh.tobytes(), W_hh.shape[0], eps)


@functools.lru_cache(maxsize=64)  # each case is asked twice: is it clear of eps, and the answer
def _gradient_norms(W_bytes, H, eps):
    W_hh = np.frombuffer(W_bytes, dtype=np.float64).reshape(H, H)
    # No biases (at rest they are zero), and the zero inputs get a zero tangent of their own:
    # without these, PyTorch gives them a symbolic zero tangent whose additions run through Python
    # decompositions, 17x slower for the same numbers.
    rnn = _torch_rnn(np.zeros((H, 1)), W_hh)
    norms, tangent = [1.0], torch.eye(H, dtype=torch.float64)[None]  # dh_0/dh_0 = I
    inputs = torch.zeros(H, CHUNK, 1, dtype=torch.float64)
    with quiet(), torch.no_grad(), forward_ad.dual_level():
        inputs = forward_ad.make_dual(inputs, torch.zeros_like(inputs))
        while norms[-1] > eps:
            if len(norms) > MOST_STEPS:
                return None
            h0 = forward_ad.make_dual(torch.zeros(1, H, H, dtype=torch.float64), tangent)
            states = rnn(inputs, h0)[0]
            jacobians = forward_ad.unpack_dual(states).tangent  # [j, t, i] = dh_t[i]/dh_0[j]
            for step in torch.linalg.matrix_norm(jacobians.permute(1, 2, 0), ord=2).tolist():
                norms.append(step)
                if step <= eps:
                    break
            tangent = jacobians[:, -1][None]
    return norms


def _never_below(W_hh, eps) -> bool:
    """No T exists: eps < 1 and the spectral radius of W_hh (torch's eigenvalues) is >= 1."""
    return eps < 1 and torch.linalg.eigvals(tensor(W_hh)).abs().max().item() >= 1


def _clear(W_hh, eps) -> bool:
    """Is every ||W_hh^t||_2 up to the answer clear of eps by more than rounding could move it?
    (||W_hh^0||_2 = ||I||_2 = 1 exactly: eps = 1 is clear.)"""
    if _never_below(W_hh, eps):
        return True
    norms = _torch_gradient_norms(W_hh, eps)
    return norms is not None and all(abs(np.log(n / eps)) > CLEARANCE for n in norms[1:] if n > 0)


def _check_steps(steps_until_gradient_below, W_hh, eps):
    """The learner's count against the oracle's, or the ValueError when there is none."""
    what = f"steps_until_gradient_below(W_hh {W_hh.shape}, eps={eps:.3g})"
    if _never_below(W_hh, eps):
        require_error(
            what,
            steps_until_gradient_below,
            W_hh.copy(),
            eps,
            why="the spectral radius of W_hh is at least 1, so ||W_hh^T||_2 >= 1 > eps for every T",
        )
        return
    norms = _torch_gradient_norms(W_hh, eps)
    got = call_learner(what, steps_until_gradient_below, W_hh.copy(), eps)
    check_count(what, got, len(norms) - 1)


def _scaled_to_radius(W, radius):
    return W * radius / np.abs(np.linalg.eigvals(W)).max()


def _recurrent_weights(rng, kind, H):
    """W_hh (H, H) of one kind: general (random, radius 0.3..0.9), normal (radius times an
    orthogonal matrix), transient (||W_hh||_2 above 1 with radius below 1, an entry of 10 or
    more), zero, nilpotent (strictly upper triangular), slow (radius 0.93..0.96: with eps below
    1e-3, 64 steps or more), or growing (radius 1.05..2)."""
    if kind == "zero":
        return np.zeros((H, H))
    if kind == "nilpotent":
        return np.triu(rng.normal(scale=2.0, size=(H, H)), k=1)
    if kind == "normal":
        orthogonal, _ = np.linalg.qr(rng.normal(size=(H, H)))
        return rng.uniform(0.3, 0.9) * orthogonal
    if kind == "transient":  # a small diagonal under a large upper part: ||W||_2 >> 1 > radius
        diagonal = np.diag(rng.uniform(-0.7, 0.7, size=H))
        upper = np.triu(rng.normal(scale=10.0, size=(H, H)), k=1)
        upper[0, -1] = rng.choice([-1.0, 1.0]) * rng.uniform(10.0, 30.0)  # 10 or more in every draw
        return diagonal + upper
    radius = {"general": (0.3, 0.9), "slow": (0.93, 0.96), "growing": (1.05, 2.0)}[kind]
    return _scaled_to_radius(rng.normal(size=(H, H)), rng.uniform(*radius))


def _case(rng, kind, H, low=-6.0, high=-1.0):
    """A W_hh of `kind` and an eps = 10**uniform(low, high) clear of every ||W_hh^t||_2."""
    W_hh = _recurrent_weights(rng, kind, H)
    while True:
        eps = float(10 ** rng.uniform(low, high))
        if _clear(W_hh, eps):
            return W_hh, eps


def _eps_between_the_norms(rng, W_hh) -> float:
    """An eps between ||W_hh^T||_2 and the larger Frobenius norm ||W_hh^T||_F for some T, clear of
    every ||W_hh^t||_2. For a normal W_hh (radius times an orthogonal matrix) these are radius**T
    and sqrt(H) radius**T, so a count by the Frobenius norm comes out larger in every draw."""
    while True:
        power = np.linalg.matrix_power(W_hh, int(rng.integers(1, 8)))
        spectral, frobenius = np.linalg.norm(power, ord=2), np.linalg.norm(power)
        eps = float(spectral * (frobenius / spectral) ** rng.uniform(0.2, 0.8))
        if _clear(W_hh, eps):
            return eps


def check_steps_until_gradient_below(rng, steps_until_gradient_below):
    """General, normal (eps between the 2-norm and the Frobenius norm of a power) and transient
    W_hh (||W_hh||_2 > 1 > radius, an entry of 10 or more), zero and nilpotent W_hh, H = 1, 64 or
    more steps (radius 0.93..0.96), and eps as small as 1e-200."""
    H = int(rng.integers(2, 10))
    normal = _recurrent_weights(rng, "normal", H)
    cases = [_case(rng, "general", H), (normal, _eps_between_the_norms(rng, normal))]
    cases += [_case(rng, "transient", H)]
    cases += [_case(rng, kind, int(rng.integers(2, 10))) for kind in ("zero", "nilpotent")]
    cases += [_case(rng, "general", 1), _case(rng, "slow", H, -5.0, -3.0)]
    cases += [_case(rng, "general", H, -200.0, -100.0)]
    for W_hh, eps in cases:
        _check_steps(steps_until_gradient_below, W_hh, eps)


def check_steps_never_below(rng, steps_until_gradient_below):
    """A ValueError for radius 1.05..2 (general and H = 1) with eps < 1; and T = 0 for eps >= 1,
    eps = 1 exactly with H = 1, whatever the radius."""
    H = int(rng.integers(2, 10))
    growing = _recurrent_weights(rng, "growing", H)
    one = _recurrent_weights(rng, "growing", 1)
    cases = [(growing, float(10 ** rng.uniform(-6, -0.1))), (one, 0.5), (one, 1.0)]
    cases += [(_recurrent_weights(rng, "general", H), float(rng.uniform(2 * np.sqrt(H), 50)))]
    cases += [(growing, float(rng.uniform(2 * np.sqrt(H), 50)))]
    for W_hh, eps in cases:
        _check_steps(steps_until_gradient_below, W_hh, eps)


CHECKS = {
    "rnn-forward": check_rnn_forward,
    "rnn-forward-zero-state": check_rnn_forward_zero_state,
    "rnn-jacobian": check_rnn_jacobian,
    "steps-until-gradient-below": check_steps_until_gradient_below,
    "steps-never-below": check_steps_never_below,
}


AXES = {
    "rnn_forward": stress.axes(
        Axis("length", "64 or more steps", lambda c: c.x.shape[1] >= LONG),
        Axis("magnitude", "inputs x1000 (tanh saturated)", lambda c: stress.large(c.x)),
        Axis("size extremes", "L = 1", lambda c: c.x.shape[1] == 1),
        Axis("size extremes", "N = 1", lambda c: c.x.shape[0] == 1),
        Axis("size extremes", "E = 1", lambda c: c.x.shape[2] == 1),
        Axis("size extremes", "H = 1", lambda c: c.W_hh.shape[0] == 1),
        Axis("size extremes", "h0 given", lambda c: c.h0 is not None),
        Axis("size extremes", "h0 None", lambda c: c.h0 is None),
    ),
    "rnn_jacobian": stress.axes(
        Axis("length", "64 or more steps", lambda c: c.hidden_states.shape[1] >= LONG),
        Axis("size extremes", "L = 1", lambda c: c.hidden_states.shape[1] == 1),
        Axis("size extremes", "N = 1", lambda c: c.hidden_states.shape[0] == 1),
        Axis("size extremes", "H = 1", lambda c: c.W_hh.shape[0] == 1),
    ),
    "steps_until_gradient_below": stress.axes(
        Axis("length", "64 or more steps", lambda c: _numpy_steps(c.W_hh, c.eps) >= LONG),
        Axis("magnitude", "eps of 1e-100 or less", lambda c: c.eps <= 1e-100),
        Axis(
            "magnitude",
            "entries of 10 or more, radius below 1",
            lambda c: np.abs(c.W_hh).max() >= 10 and _radius(c.W_hh) < 1,
        ),
        Axis("degenerate geometry", "W_hh = 0", lambda c: not np.any(c.W_hh)),
        Axis(
            "degenerate geometry",
            "nilpotent W_hh (radius 0)",
            lambda c: np.any(c.W_hh) and not np.any(np.linalg.matrix_power(c.W_hh, len(c.W_hh))),
        ),
        Axis(
            "degenerate geometry",
            "a normal W_hh (norm = radius)",
            lambda c: (
                c.W_hh.shape[0] > 1
                and np.allclose(c.W_hh @ c.W_hh.T, c.W_hh.T @ c.W_hh)
                and np.any(c.W_hh)
            ),
        ),
        Axis(
            "degenerate geometry",
            "||W_hh||_2 > 1 > radius",
            lambda c: np.linalg.norm(c.W_hh, ord=2) > 1 > _radius(c.W_hh),
        ),
        Axis("size extremes", "H = 1", lambda c: c.W_hh.shape[0] == 1),
        Axis("size extremes", "eps >= 1: T = 0", lambda c: c.eps >= 1),
        Axis("size extremes", "eps = 1 exactly", lambda c: c.eps == 1),
        Axis(
            "size extremes",
            "radius >= 1: a ValueError",
            lambda c: c.eps < 1 and _radius(c.W_hh) >= 1,
        ),
    ),
}


def _radius(W_hh) -> float:
    return float(np.abs(np.linalg.eigvals(W_hh)).max())


def _numpy_steps(W_hh, eps) -> int:
    """The first T with ||W_hh^T||_2 <= eps, for the axes (the checks use the torch oracle); -1
    when there is none."""
    if eps < 1 and _radius(W_hh) >= 1:
        return -1
    power, steps = np.eye(len(W_hh)), 0
    while np.linalg.norm(power, ord=2) > eps and steps <= MOST_STEPS:
        power, steps = W_hh @ power, steps + 1
    return steps


COVERAGE = {
    "rnn-forward": {
        "64 or more steps": "L = 64..79, orthogonal W_hh",
        "inputs x1000 (tanh saturated)": "x scaled by 1000",
        "L = 1": "one step",
        "N = 1": "one sequence",
        "E = 1": "inputs of width 1",
        "H = 1": "a state of width 1",
        "h0 given": "every case",
        **stress.EVERY_CALL,
    },
    "rnn-forward-zero-state": {
        "64 or more steps": "L = 64..79 from zeros",
        "H = 1": "a state of width 1",
        "h0 None": "every case",
        **stress.EVERY_CALL,
    },
    "steps-until-gradient-below": {
        "64 or more steps": "radius 0.93..0.96, eps 1e-5..1e-3",
        "eps of 1e-100 or less": "eps 1e-200..1e-100",
        "entries of 10 or more, radius below 1": (
            "a diagonal below 0.7 under entries of scale 10, one of 10..30"
        ),
        "W_hh = 0": "a zero W_hh: T = 1",
        "nilpotent W_hh (radius 0)": "a strictly upper triangular W_hh",
        "a normal W_hh (norm = radius)": (
            "radius 0.3..0.9 times an orthogonal matrix, eps between its 2- and Frobenius norms"
        ),
        "||W_hh||_2 > 1 > radius": "the same large upper triangle",
        "H = 1": "W_hh of one number",
        **stress.EVERY_CALL,
    },
    "steps-never-below": {
        "radius >= 1: a ValueError": "radius 1.05..2 with eps below 1, H > 1 and H = 1",
        "eps >= 1: T = 0": "eps 2 sqrt(H)..50, radius below and above 1",
        "eps = 1 exactly": "H = 1, radius above 1",
        "H = 1": "W_hh of one number",
        **stress.EVERY_CALL,
    },
    "rnn-jacobian": {
        "64 or more steps": "L = 64..79 with orthogonal W_hh: a Jacobian of order 1",
        "L = 1": "one step",
        "N = 1": "one sequence",
        "H = 1": "a state of width 1",
        **stress.EVERY_CALL,
    },
}
