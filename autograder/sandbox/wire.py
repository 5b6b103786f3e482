"""The messages between the grader and the sandbox, and the strict codec of the values in them.

A message is a frame: (header length, blob count), a JSON header, then each blob with its length.
Values travel as JSON plus raw array bytes, and ``decode`` accepts only plain numbers, strings,
lists, tuples, dicts and numeric numpy arrays, so nothing the learner's code shapes is ever
unpickled or evaluated by the grader. The other side is autograder/sandbox/child.py, which keeps
its own copy of the framing (see ``frame_parts``).
"""

import json
import re
import socket
import struct
import time

import numpy as np

# the JSON part of one answer (arrays travel as blobs): ~30 MB of objects at most
MAX_HEADER = 1 << 20


MAX_BLOBS = 4096


MAX_DEPTH = 25


DTYPE = re.compile(r"^[<>|=][biufc]\d{1,2}$")


class ProtocolError(Exception):
    """The sandbox sent something that is not a well-formed answer."""


def frame_parts(header: dict, blobs=()) -> list:
    """One message: (header length, blob count), the JSON header, then each blob with its length,
    as a list of buffers (the blobs themselves, not copies).

    autograder/sandbox/child.py writes and reads the same frames with its own copy of these lines:
    it runs as a standalone script (``python -I -S child.py``, so no package is on its path) and
    Landlock then denies it every file of the grader, this one included.
    """
    data = json.dumps(header).encode()
    parts = [struct.pack(">II", len(data), len(blobs)), data]
    for blob in blobs:
        parts += [struct.pack(">Q", len(blob)), blob]
    return parts


MAX_BUFFERS_PER_SEND = 1024  # IOV_MAX on Linux


def send_frame(channel: socket.socket, header: dict, blobs, deadline: float) -> None:
    """Send one message by scatter-gather, straight from the arrays' memory: a message of many
    megabytes is not joined into one buffer first."""
    views = [memoryview(part) for part in frame_parts(header, blobs) if len(part)]
    first = 0
    while first < len(views):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        channel.settimeout(left)
        sent = channel.sendmsg(views[first : first + MAX_BUFFERS_PER_SEND])
        while sent:
            if sent >= len(views[first]):
                sent -= len(views[first])
                first += 1
            else:
                views[first], sent = views[first][sent:], 0


def array_bytes(array: np.ndarray) -> memoryview:
    """The bytes of `array` in C order, without a copy when it is contiguous already."""
    return memoryview(np.ascontiguousarray(array).reshape(-1).view(np.uint8))


def read_exactly(channel: socket.socket, size: int, deadline: float) -> bytearray:
    """Exactly `size` bytes, into one buffer (arrays are then built on it without a copy)."""
    data, done = bytearray(size), 0
    view = memoryview(data)
    while done < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        channel.settimeout(left)
        received = channel.recv_into(view[done:], min(size - done, 1 << 20))
        if not received:
            raise EOFError
        done += received
    return data


MAX_CALLBACK_ITEMS = 256  # items of plain lists, tuples and dicts in one callback's arguments


def array_shapes(value, found: set, depth: int = 0) -> int:
    """Add the shapes of the arrays in `value` (the arguments of a call) to `found`; return how
    many list, tuple and dict items it holds."""
    items = 0
    if depth <= MAX_DEPTH:
        if type(value) is np.ndarray:
            found.add(tuple(value.shape))
        elif type(value) in (list, tuple, dict):
            members = list(value.values()) if type(value) is dict else value
            items = len(members) + sum(array_shapes(item, found, depth + 1) for item in members)
    return items


def callback_problem(arguments, given: set, any_shape: bool = False) -> str | None:
    """Why the grader's function must not run on these arguments: an array of a shape the check
    did not hand out (its cost grows with the shapes: a reference attention on L = 40,000 would
    need tens of GB), or plain lists that could stand for such an array. None: they are fine.
    `any_shape`: the function bounds its own cost (a stand-in that answers from results computed
    in advance), so arrays of other shapes, such as Q and K computed from X, may reach it."""
    found = set()
    if array_shapes(arguments, found) > MAX_CALLBACK_ITEMS:
        return f"more than {MAX_CALLBACK_ITEMS} list items; pass numpy arrays"
    strangers = [] if any_shape else sorted(found - given)
    if strangers:
        return f"an array of shape {strangers[0]}, not one of the shapes it was given"
    return None


def encode(value, blobs: list, callbacks: list | None = None, depth: int = 0):
    """Arguments the grader sends: the same tagged format the sandbox answers in. A learner's
    function (a proxy) is sent by name; any other callable of the grader's is sent as a callback
    that the sandbox asks the grader to run."""
    if depth > MAX_DEPTH:
        raise TypeError("value nested too deeply to send to the sandbox")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value if np.isfinite(value) else {"float": repr(value)}
    if type(value) is np.ndarray and value.dtype.kind in "biufc":
        blobs.append(array_bytes(value))
        return {"array": len(blobs) - 1, "dtype": value.dtype.str, "shape": list(value.shape)}
    if isinstance(value, np.generic) and value.dtype.kind in "biufc":
        blobs.append(np.asarray(value).tobytes())
        return {"scalar": len(blobs) - 1, "dtype": value.dtype.str}
    if type(value) in (list, tuple):
        return {type(value).__name__: [encode(item, blobs, callbacks, depth + 1) for item in value]}
    if type(value) is dict:
        return {
            "dict": [
                [
                    encode(key, blobs, callbacks, depth + 1),
                    encode(item, blobs, callbacks, depth + 1),
                ]
                for key, item in value.items()
            ]
        }
    if getattr(value, "sandbox_function_name", None):
        return {"function": value.sandbox_function_name}
    if callable(value) and callbacks is not None:
        callbacks.append(value)
        return {"callback": len(callbacks) - 1}
    raise TypeError(f"cannot send a {type(value).__name__} to the sandbox")


class Unsupported:
    """An answer the sandbox could not send as plain data (an object array, an ndarray
    subclass...)."""

    def __init__(self, description: str):
        self.description = description

    def __repr__(self):
        return f"<{self.description}>"


def decode(value, blobs: list, used: set | None = None):
    """Rebuild plain data from the sandbox's answer; anything unexpected is a ProtocolError.

    Each blob may back one value at most (`used` collects those taken across one message), so the
    decoded arrays never hold more bytes than the message did; arrays are built on the received
    buffers without copying them."""
    try:
        return _decode(value, blobs, set() if used is None else used, 0)
    except ProtocolError:
        raise
    except (TypeError, ValueError, OverflowError, MemoryError, RecursionError) as error:
        raise ProtocolError(f"malformed value ({type(error).__name__})") from None


def _decode(value, blobs: list, used: set, depth: int):
    if depth > MAX_DEPTH:
        raise ProtocolError("answer nested too deeply")
    if value is None or type(value) in (bool, int, str):
        return value
    if type(value) is float:
        return value
    if type(value) is not dict or len(value) not in (1, 2, 3):
        raise ProtocolError("malformed value")
    if "unsupported" in value and len(value) == 1:
        return Unsupported(str(value["unsupported"])[:300])
    if "float" in value and len(value) == 1:
        if value["float"] not in ("nan", "inf", "-inf"):
            raise ProtocolError("malformed float")
        return float(value["float"])
    if "array" in value or "scalar" in value:
        index = value.get("array", value.get("scalar"))
        dtype_text = value.get("dtype")
        if (
            type(index) is not int
            or not 0 <= index < len(blobs)
            or type(dtype_text) is not str
            or not DTYPE.match(dtype_text)
        ):
            raise ProtocolError("malformed array")
        if index in used:
            raise ProtocolError("one array's bytes referenced twice")
        used.add(index)
        try:
            dtype = np.dtype(dtype_text)
        except TypeError:
            raise ProtocolError(f"unknown dtype {dtype_text}") from None
        if dtype.kind not in "biufc":
            raise ProtocolError("unsupported dtype")
        blob = blobs[index]
        if "scalar" in value:
            if len(blob) != dtype.itemsize:
                raise ProtocolError("malformed scalar")
            return np.frombuffer(blob, dtype=dtype)[0].astype(dtype.newbyteorder("="))
        shape = value.get("shape")
        if (
            type(shape) is not list
            or len(shape) > 32
            or not all(type(n) is int and n >= 0 for n in shape)
        ):
            raise ProtocolError("malformed shape")
        if int(np.prod(shape, dtype=object)) * dtype.itemsize != len(blob):
            raise ProtocolError("array size does not match its shape")
        if type(blob) is not bytearray:  # a writable buffer of our own, not shared with the caller
            blob = bytearray(blob)
        array = np.frombuffer(blob, dtype=dtype).reshape(shape)
        return array if dtype.isnative else array.astype(dtype.newbyteorder("="))
    if "list" in value and type(value["list"]) is list:
        return [_decode(item, blobs, used, depth + 1) for item in value["list"]]
    if "tuple" in value and type(value["tuple"]) is list:
        return tuple(_decode(item, blobs, used, depth + 1) for item in value["tuple"])
    if "dict" in value and type(value["dict"]) is list:
        result = {}
        for pair in value["dict"]:
            if type(pair) is not list or len(pair) != 2:
                raise ProtocolError("malformed dict")
            key = _decode(pair[0], blobs, used, depth + 1)
            if type(key) not in (str, int, float, bool, type(None)):
                raise ProtocolError("unhashable dict key")
            result[key] = _decode(pair[1], blobs, used, depth + 1)
        return result
    raise ProtocolError("unknown value")
