"""The environment requirements.txt installs, where a choice in it is about speed."""

import subprocess
import sys


def test_importing_nbformat_leaves_out_the_iri_grammars():
    """Every kernel nbgrader runs a notebook in imports nbformat (the hidden checks read the
    course's notebooks), and so does each nbgrader, jupyter-book and grading process. jsonschema
    4.25 and later import rfc3987_syntax there when it is installed, which compiles its grammars:
    a second of CPU a process, for a string format no notebook schema uses (requirements.txt pins
    jsonschema for this)."""
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, nbformat; print(sorted(set(sys.modules) & {'lark', 'rfc3987_syntax'}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "[]", f"importing nbformat loaded {loaded}"
