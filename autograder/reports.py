"""What the grading command writes under OUT: grades.csv, results.json, one feedback page per
student and assignment, a score-distribution plot per assignment, the nbgrader gradebook, and a
copy of each graded notebook in autograded/ (where formgrader looks for them).

Every file is written to a temporary name and then renamed, so a run that is interrupted leaves
the previous complete files, and a re-run with the same secret writes the same bytes.
"""

import csv
import html
import io
import json
import os
from pathlib import Path

FIELDS = ["student_id", "assignment", "score", "max_score", "status", "message"]


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
    os.replace(temporary, path)


def _number(value):
    if value is None:
        return ""
    return f"{value:g}"


def grades_csv(results: list) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for result in results:
        writer.writerow({
            "student_id": result["student"], "assignment": result["assignment"],
            "score": _number(result["score"]), "max_score": _number(result["max_score"]),
            "status": result["status"], "message": result["message"],
        })
    return buffer.getvalue()


def feedback_text(result: dict) -> str:
    """Plain-text feedback: what passed and failed, with the checks' messages, never their code."""
    lines = [f"Feedback for {result['student']}, assignment {result['assignment']}",
             f"Score: {_number(result['score'])} / {_number(result['max_score'])}", ""]
    if result["status"] != "graded":
        lines += [f"Your notebook could not be graded: {result['message']}", ""]
    for test in result["tests"]:
        mark = "PASSED" if test["passed"] else "FAILED"
        lines.append(f"[{mark}] {test['grade_id']} ({_number(test['score'])} / {_number(test['points'])} points)")
        if not test["passed"] and test["message"]:
            lines.append(f"    {test['message']}")
        for mistake in test["mistakes"]:
            lines.append(f"    This looks like a known mistake: {mistake}.")
    if result["cell_errors"]:
        lines += ["", "Cells of yours that raised an error when run from the top:"]
        lines += [f"    {label}: {error}" for label, error in result["cell_errors"].items()]
    if result["events"]:
        lines += ["", "Your code was stopped:"] + [f"    {event}" for event in result["events"]]
    if result["notes"]:
        lines += ["", "About your notebook:"] + [f"    {note}" for note in result["notes"]]
    return "\n".join(lines) + "\n"


def feedback_html(result: dict) -> str:
    escape = html.escape
    rows = []
    for test in result["tests"]:
        detail = escape(test["message"]) if not test["passed"] else ""
        for mistake in test["mistakes"]:
            detail += f"<br><strong>Looks like a known mistake:</strong> {escape(mistake)}."
        colour = "#009E73" if test["passed"] else "#D55E00"
        rows.append(f"<tr><td><code>{escape(test['grade_id'])}</code></td>"
                    f"<td style='color:{colour}'>{'passed' if test['passed'] else 'failed'}</td>"
                    f"<td>{_number(test['score'])} / {_number(test['points'])}</td><td>{detail}</td></tr>")
    sections = []
    if result["status"] != "graded":
        sections.append(f"<p><strong>Your notebook could not be graded:</strong> {escape(result['message'])}</p>")
    for title, items in [("Cells of yours that raised an error", [f"{k}: {v}" for k, v in result["cell_errors"].items()]),
                         ("Your code was stopped", result["events"]), ("About your notebook", result["notes"])]:
        if items:
            sections.append(f"<h2>{title}</h2><ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Feedback: {escape(result['assignment'])}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{border-bottom:1px solid #ccc;padding:.4em;text-align:left;vertical-align:top}</style>"
        f"</head><body><h1>Feedback on {escape(result['assignment'])}</h1>"
        f"<p>Student: {escape(result['student'])}. Score: <strong>{_number(result['score'])} / {_number(result['max_score'])}</strong>.</p>"
        "<table><tr><th>Test</th><th>Result</th><th>Points</th><th>What was checked and what went wrong</th></tr>"
        + "".join(rows) + "</table>" + "".join(sections) + "</body></html>\n"
    )


def score_plot(assignment: str, scores: list, max_score: float) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    top = max_score or max(scores, default=1) or 1
    bins = [x - 0.25 for x in range(int(top) + 2)] if float(top).is_integer() and top <= 40 else 20
    axes.hist(scores, bins=bins, color="#0072B2", edgecolor="white")
    axes.set_xlabel(f"score (out of {top:g})")
    axes.set_ylabel("number of students")
    axes.set_title(f"{assignment}: {len(scores)} notebooks, mean {sum(scores) / max(len(scores), 1):.2f}")
    axes.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


def write_reports(results: list, out: Path, known: list) -> None:
    from .gradebook import write_gradebook

    _write(out / "grades.csv", grades_csv(results))
    _write(out / "results.json", json.dumps(results, indent=1, sort_keys=True, default=str))
    for result in results:
        folder = out / "feedback" / result["student"] / result["assignment"]
        _write(folder / "feedback.txt", feedback_text(result))
        _write(folder / "feedback.html", feedback_html(result))
    for result in results:  # formgrader opens the submitted notebooks from autograded/
        if result["status"] == "graded" and result.get("notebook"):
            try:
                with os.fdopen(os.open(result["notebook"], os.O_RDONLY | os.O_NOFOLLOW), "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            _write(out / "autograded" / result["student"] / result["assignment"] / f"{result['assignment']}.ipynb", data)
    for assignment in sorted({result["assignment"] for result in results if result["assignment"] in known}):
        rows = [result for result in results if result["assignment"] == assignment and result["max_score"] is not None]
        if rows:
            _write(out / "plots" / f"{assignment}.png", score_plot(assignment, [row["score"] for row in rows], rows[0]["max_score"]))
    write_gradebook(results, out / "gradebook.db", known)
