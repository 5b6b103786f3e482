"""What a learner reads when a hidden check fails: that it was hidden, the call and its shapes,
the error in one sentence, and the notebook globals their function reads."""

import numpy as np
import pytest

from autograder.checks.hidden import describe_call, explain, hidden_check
from autograder.course import notebook_format

RNN_READING_GLOBALS = """
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    h = np.zeros((N, H)) if h0 is None else h0
    states = np.empty((N, L, H))
    for t in range(L):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states[:, t] = h
    return states, h
"""


def _notebook_function(source, name, **setup):
    """A function defined as a notebook cell defines it: in a namespace holding the setup's
    globals."""
    namespace = {"np": np, **setup}
    exec(source, namespace)
    return namespace[name]


def _graded(tmp_path, assignment, answer, student="feedback-test"):
    """The course's grader (the learner's functions in the sandbox) on the solution notebook with
    `answer` (a known mistake, or anything with a name, a cell and a source) in place."""
    from autograder import course
    from autograder.grade import notebook as grader
    from autograder.sandbox.host import Limits

    path = tmp_path / course.notebook_name(assignment)
    course.write_notebook(
        notebook_format.apply_mistake(
            course.read_notebook(course.solution_notebook(assignment)), answer
        ),
        path,
    )
    return grader.grade_notebook(
        grader.AssignmentSpec(assignment), student, path, Limits(), budget=300
    )


def _mistake(assignment, pattern):
    from autograder.checks.mistakes import known_mistakes

    return next(mistake for mistake in known_mistakes(assignment) if pattern in mistake.name)


@pytest.fixture(autouse=True)
def fixed_secret(monkeypatch):
    monkeypatch.setenv("MHA_GRADING_SECRET", "feedback-test")
    monkeypatch.setenv("MHA_STUDENT_ID", "feedback-test")


def test_function_reading_chapter_2_setup_globals_is_told_so():
    """Does the rnn_forward that reads N, L, E, H of the setup cell hear which globals it read?"""
    rnn_forward = _notebook_function(RNN_READING_GLOBALS, "rnn_forward", N=2, L=6, E=3, H=4)
    with pytest.raises(AssertionError) as failure:
        hidden_check("02-rnn-limitations", "rnn-forward", rnn_forward)
    message = str(failure.value)
    assert message.startswith("Hidden check 'rnn-forward' failed")
    assert "rnn_forward reads the notebook's globals `H`, `L`, `N`; take sizes" in message
    assert "rnn_forward(x (" in message and "float64" in message


def test_globals_read_through_a_helper_are_named():
    """Is a global read by a notebook function that the graded one calls also named?"""
    source = "def helper():\n    return E\n\ndef f(x):\n    return x * helper()\n"
    f = _notebook_function(source, "f", E=3, unrelated=np.ones(2))
    from autograder.checks.notebook_helpers import notebook_globals_read as data_globals_read

    assert data_globals_read(f) == ["E"]


def test_a_function_reading_no_globals_hears_nothing_about_globals():
    source = "def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):\n    return None\n"
    rnn_forward = _notebook_function(source, "rnn_forward", N=2, L=6)
    with pytest.raises(AssertionError) as failure:
        hidden_check("02-rnn-limitations", "rnn-forward", rnn_forward)
    assert "global" not in str(failure.value)


@pytest.mark.parametrize(
    "error, words",
    [
        (IndexError("index 2 is out of bounds for axis 1 with size 2"), "index went past the end"),
        (
            ValueError("matmul: Input operand 1 has a mismatch in its core dimension 0"),
            "shapes do not fit",
        ),
        (
            TypeError("'NoneType' object is not subscriptable"),
            "was None where an array was expected",
        ),
        (TypeError("f() takes 2 positional arguments but 3 were given"), "wrong arguments"),
        (np.exceptions.AxisError(3, 2), "axis the array does not have"),
        (
            ValueError(
                "matmul: Input operand 0 does not have enough dimensions (has 0, gufunc core with "
                "signature (n?,k),(k,m?)->(n?,m?) requires 1)"
            ),
            "without handling None",
        ),
    ],
)
def test_each_raw_error_gets_one_sentence_of_context(error, words):
    sentence = explain(error)
    assert words in sentence and sentence.endswith(".") and sentence.count(". ") == 0


def test_a_raised_error_is_reported_with_the_call_and_translated():
    """Does a raw IndexError from a hidden check read as a sentence, with the call's shapes?"""
    source = "def attention_scores(Q, K):\n    return Q @ K\n"
    attention_scores = _notebook_function(source, "attention_scores")
    with pytest.raises(AssertionError) as failure:
        hidden_check("03-self-attention", "attention-scores", attention_scores)
    message = str(failure.value)
    assert "Hidden check 'attention-scores' failed" in message
    assert (
        "attention_scores(Q (" in message
        and "ValueError" in message
        and "shapes do not fit" in message
    )


def test_call_descriptions_show_shapes_never_values():
    x = np.arange(6.0).reshape(2, 3) + 0.123456
    text = describe_call(lambda x, k, h0=None: None, (x, 3), {})
    assert text == "<lambda>(x (2, 3) float64, k=3)"
    assert "0.123" not in text


def test_the_sandboxed_grader_names_the_globals_too(tmp_path):
    """Through the course's grader (the function runs in the sandbox), is the globals sentence
    there?"""
    result = _graded(tmp_path, "02-rnn-limitations", _mistake("02-rnn-limitations", "globals"))
    messages = {test.grade_id: test.message for test in result.tests}
    assert (
        "rnn_forward reads the notebook's globals `H`, `L`, `N`; take sizes"
        in messages["test-rnn-forward"]
    )
    assert messages["test-rnn-jacobian"] == "passed"


@pytest.mark.parametrize(
    "pattern", ["without the .T on W_ih", "does not handle h0=None", "notebook's globals"]
)
def test_detectors_of_raising_mistakes_name_theirs_and_no_other(tmp_path, pattern):
    """Do the detectors of chapter 2's mistakes that raise (not return) fire, and only for their
    own?"""
    mistake = _mistake("02-rnn-limitations", pattern)
    result = _graded(tmp_path, "02-rnn-limitations", mistake, "detector-test")
    failed = {test.grade_id: test.mistakes for test in result.tests if not test.passed}
    assert set(failed) == set(mistake.fails)
    assert all(named == (mistake.name,) for named in failed.values()), failed


def test_globals_are_named_once_when_the_function_raises():
    """A globals-reading function that raises: is the globals sentence said once, and whole?"""
    source = (
        "def rnn_jacobian(hidden_states, W_hh):\n"
        "    J = np.broadcast_to(np.eye(H), (N, H, H)).copy()\n"
        "    for t in range(L):\n"
        "        J = ((1.0 - hidden_states[:, t, :, None] ** 2) * W_hh) @ J\n"
        "    return J\n"
    )
    rnn_jacobian = _notebook_function(source, "rnn_jacobian", N=2, L=6, E=3, H=4)
    with pytest.raises(AssertionError) as failure:
        hidden_check("02-rnn-limitations", "rnn-jacobian", rnn_jacobian)
    message = str(failure.value)
    assert message.count("reads the notebook's") == 1
    assert message.endswith(
        "rnn_jacobian reads the notebook's globals `H`, `L`, `N`; take sizes and data from the "
        "arguments."
    )


ZERO_STATE_OF_WIDTH_E = """
def rnn_forward(x, h0, W_ih, W_hh, b_ih, b_hh):
    N, L, E = x.shape
    h = np.zeros((N, E)) if h0 is None else h0
    states = []
    for t in range(L):
        h = np.tanh(x[:, t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        states.append(h)
    return np.stack(states, axis=1), h
"""


def test_a_mistake_is_named_only_when_the_answer_shows_it(tmp_path):
    """A zero state of width E (not H) raises the same shape error in the zero-state test as a
    missing .T on W_ih; the .T is there, and the forward test passes: is the .T left unnamed?"""
    from types import SimpleNamespace

    answer = SimpleNamespace(name="zero state", cell="rnn-forward", source=ZERO_STATE_OF_WIDTH_E)
    result = _graded(tmp_path, "02-rnn-limitations", answer, "zero-state")
    tests = {test.grade_id: test for test in result.tests}
    assert tests["test-rnn-forward"].passed and not tests["test-rnn-forward-zero-state"].passed
    assert not any(".T" in name for name in tests["test-rnn-forward-zero-state"].mistakes), tests[
        "test-rnn-forward-zero-state"
    ].mistakes


@pytest.mark.parametrize(
    "exercise, pattern, sentence",
    [
        ("04-scaling-softmax-masks", "in place", "softmax changed its argument `x` in place"),
        (
            "07-attention-at-inference",
            "lru_cache",
            "causal_mask_lower_right returned the same array on two calls",
        ),
    ],
)
def test_the_sandboxed_grader_sees_arguments_changed_and_results_shared(
    tmp_path, exercise, pattern, sentence
):
    """Through the course's grader (the learner's function runs in the sandbox, on copies of the
    arguments), are an argument changed in place and a cached result still caught, named in one
    sentence, and the known mistake named?"""
    mistake = _mistake(exercise, pattern)
    result = _graded(tmp_path, exercise, mistake, "effects-test")
    failed = {test.grade_id: test for test in result.tests if not test.passed}
    assert set(failed) == set(mistake.fails)
    for test in failed.values():
        assert test.message.startswith(sentence) and test.message.count(". ") == 0, test.message
        assert test.mistakes == (mistake.name,), test.mistakes


def test_the_sandboxed_grader_measures_memory_where_the_function_runs(tmp_path):
    """Through the course's grader, the learner's tiled_attention runs in the sandbox, so its
    memory must be measured there: does the variant that builds the whole (L, S) matrix lose
    exactly the memory check, with one sentence that says how much it held at once?"""
    mistake = _mistake("07-attention-at-inference", "whole (L, S) matrix")
    result = _graded(tmp_path, "07-attention-at-inference", mistake, "memory-test")
    failed = {test.grade_id: test.message for test in result.tests if not test.passed}
    assert set(failed) == {"test-tiled-memory"} == set(mistake.fails)
    message = failed["test-tiled-memory"]
    assert "MB at once, more than an eighth" in message and message.count(". ") == 0, message
