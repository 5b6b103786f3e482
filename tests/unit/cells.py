"""Small hand-built notebook cells, for the unit tests."""


def code(source, grade_id=None, *, solution=False, grade=False, locked=False, points=None) -> dict:
    """A code cell as nbformat writes it; nbgrader metadata only when `grade_id` is given."""
    metadata = {}
    if grade_id is not None:
        metadata["nbgrader"] = {
            "grade_id": grade_id,
            "solution": solution,
            "grade": grade,
            "locked": locked,
            "schema_version": 3,
        }
        if points is not None:
            metadata["nbgrader"]["points"] = points
    return {
        "cell_type": "code",
        "metadata": metadata,
        "source": source,
        "outputs": [],
        "execution_count": None,
    }


def markdown(source) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}
