"""Assignment 02-rnn-limitations: hidden checks against torch."""

import numpy as np
import torch

from .. import stress
from ..oracle import call_numpy_only, check_array, distinct_sizes, numpy, quiet, tensor
from ..stress import LONG, Axis


def _rnn_parameters(rng, E, H, scale=0.6):
    """Weights in torch.nn.RNN's orientation: W_ih (H, E), W_hh (H, H), biases (H,)."""
    return (
        rng.normal(scale=scale / np.sqrt(E), size=(H, E)),
        rng.normal(scale=scale * 1.5 / np.sqrt(H), size=(H, H)),
        rng.normal(scale=0.3, size=H),
        rng.normal(scale=0.3, size=H),
    )


def _torch_rnn(W_ih, W_hh, b_ih, b_hh):
    """A float64 torch.nn.RNN (tanh, batch_first) holding copies of the given weights."""
    H, E = W_ih.shape
    rnn = torch.nn.RNN(E, H, batch_first=True, nonlinearity="tanh", dtype=torch.float64)
    with torch.no_grad():
        for name, value in zip(
            ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], [W_ih, W_hh, b_ih, b_hh]
        ):
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


CHECKS = {
    "rnn-forward": check_rnn_forward,
    "rnn-forward-zero-state": check_rnn_forward_zero_state,
    "rnn-jacobian": check_rnn_jacobian,
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
}

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
    "rnn-jacobian": {
        "64 or more steps": "L = 64..79 with orthogonal W_hh: a Jacobian of order 1",
        "L = 1": "one step",
        "N = 1": "one sequence",
        "H = 1": "a state of width 1",
        **stress.EVERY_CALL,
    },
}
