"""autograder/sandbox/wire.py: `decode` rebuilds plain data from the sandbox's answer, strictly."""

import numpy as np
import pytest

from autograder.sandbox.wire import MAX_DEPTH, ProtocolError, Unsupported, decode

pytestmark = pytest.mark.unit


def test_plain_values_pass_through():
    """Are None, booleans, integers, floats and strings returned as they are?"""
    for value in [None, True, 3, 2.5, "text"]:
        assert decode(value, []) == value


def test_special_floats():
    """Are nan and the infinities, which JSON cannot carry, decoded from their tags?"""
    assert np.isnan(decode({"float": "nan"}, []))
    assert decode({"float": "-inf"}, []) == float("-inf")
    with pytest.raises(ProtocolError):
        decode({"float": "1e400"}, [])


def test_containers():
    """Are lists, tuples and dicts rebuilt with their types?"""
    value = {"dict": [["a", {"tuple": [1, {"list": [2, 3]}]}], [4, None]]}
    assert decode(value, []) == {"a": (1, [2, 3]), 4: None}


def test_an_array_is_built_on_its_blob():
    """Is an array rebuilt from its blob with its dtype and shape, in native byte order?"""
    data = np.arange(6, dtype=">f4").reshape(2, 3)
    array = decode({"array": 0, "dtype": ">f4", "shape": [2, 3]}, [bytearray(data.tobytes())])
    assert array.dtype == np.dtype("float32") and array.dtype.isnative
    np.testing.assert_array_equal(array, data)


def test_a_scalar():
    """Is a numpy scalar rebuilt from exactly itemsize bytes?"""
    assert decode({"scalar": 0, "dtype": "<i8"}, [np.int64(7).tobytes()]) == 7
    with pytest.raises(ProtocolError):
        decode({"scalar": 0, "dtype": "<i8"}, [b"\0" * 4])


@pytest.mark.parametrize(
    "value, blobs, reason",
    [
        ({"array": 0, "dtype": "<f8", "shape": [3]}, [b"\0" * 16], "size does not match"),
        ({"array": 1, "dtype": "<f8", "shape": [1]}, [b"\0" * 8], "malformed array"),
        ({"array": 0, "dtype": "|O", "shape": [1]}, [b"\0" * 8], "malformed array"),
        ({"array": 0, "dtype": "<f8", "shape": [-1]}, [b"\0" * 8], "malformed shape"),
        (
            {"list": [{"array": 0, "dtype": "<f8", "shape": [1]}] * 2},
            [b"\0" * 8],
            "referenced twice",
        ),
        ({"dict": [[{"list": []}, 1]]}, [], "unhashable"),
        ({"pickle": "gASV"}, [], "unknown value"),
        ({"a": 1, "b": 2, "c": 3, "d": 4}, [], "malformed value"),
        (b"bytes", [], "malformed value"),
    ],
)
def test_what_is_not_a_well_formed_answer_is_refused(value, blobs, reason):
    """Is each malformed or unexpected answer a ProtocolError that says what was wrong (an object
    dtype, an array's bytes used twice, a size that does not match, a type we do not know)?"""
    with pytest.raises(ProtocolError, match=reason):
        decode(value, blobs)


def test_nesting_is_bounded():
    """Is an answer nested deeper than MAX_DEPTH refused rather than recursed into?"""
    value = 1
    for _ in range(MAX_DEPTH + 2):
        value = {"list": [value]}
    with pytest.raises(ProtocolError, match="nested too deeply"):
        decode(value, [])


def test_unsupported_values_are_named_and_cut():
    """Does a value the sandbox could not send come back as Unsupported, its text cut to 300?"""
    result = decode({"unsupported": "x" * 1000}, [])
    assert isinstance(result, Unsupported) and result.description == "x" * 300
