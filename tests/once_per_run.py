"""What a test run builds once, shared by all its pytest-xdist workers.

`make test` runs the suite on every core with pytest-xdist (`-n auto --dist loadgroup`). Each
worker is a pytest session of its own, so a session-scoped fixture runs once per worker, not once
per run. `once_per_run` makes it once per run, as pytest-xdist's documentation recommends: the first
worker that asks computes the value while holding a file lock in the folder that the workers of this
run share (the parent of each worker's base temporary folder), writes it there as JSON, and the
workers that ask later wait for the lock and read it. In one process (no `-n`), it computes the
value.
"""

import json
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock


def xdist_worker() -> str | None:
    """This process's pytest-xdist worker id ("gw0", "gw1"...), or None outside a worker."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def once_per_run(
    tmp_path_factory: pytest.TempPathFactory, name: str, produce: Callable[[Path], Any]
) -> Any:
    """`produce(folder)` once per test run, whichever worker asks first; its value for everyone.

    `folder` is an empty folder that outlives every worker (for files the value names); the value
    is what JSON makes of it (lists for tuples, strings for paths), with or without workers. A
    `produce` that raised fails every worker that asks later, with its traceback, instead of being
    tried again."""
    if xdist_worker() is None:
        return json.loads(json.dumps(produce(tmp_path_factory.mktemp(name))))
    shared = tmp_path_factory.getbasetemp().parent  # pytest-<n>/, each worker's is popen-gw<k>/
    record = shared / f"{name}.json"
    with FileLock(shared / f"{name}.lock"):
        if not record.exists():
            folder = shared / name
            folder.mkdir()
            try:
                value = {"value": produce(folder)}
            except Exception:
                record.write_text(json.dumps({"error": traceback.format_exc()}))
                raise
            record.write_text(json.dumps(value))
    saved = json.loads(record.read_text())
    if "error" in saved:
        pytest.fail(f"{name}, made once for this run by another worker, failed:\n{saved['error']}")
    return saved["value"]
