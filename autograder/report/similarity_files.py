"""similarity.csv and similarity.html: the pairs that autograder/report/similarity.py ranks, written
for a person to read (the page opens offline: its style is inline, nothing is fetched)."""

import html
import re
from collections import defaultdict

from autograder.report.similarity import COMMON, AssignmentReport, Submission

CSV_FIELDS = ["assignment", "student_a", "student_b", "score", "matched_lines"]
CSV_PAIRS = 100  # pairs per assignment in similarity.csv
HTML_PAIRS = 10  # pairs per assignment shown side by side in similarity.html

MEANING = (
    "This report is evidence for a person to look at, never a verdict. The score (0 to 1) says how "
    "much of two students' solution code is the same run of tokens once names, comments, layout "
    "and literal values are set aside, leaving out the released notebook, the book's code and "
    "any fingerprint that more than {common} students share. A high score does not say that anyone "
    "copied, nor who from whom: short exercises have few natural answers, students may work "
    "together as allowed, and both may have used the same outside source. A low score does not "
    "prove independent work either. Read the code side by side, and talk to the students."
)


def similarity_csv(reports: list[AssignmentReport], limit: int = CSV_PAIRS) -> str:
    from autograder.report.outputs import csv_text  # every cell made safe from spreadsheet formulas

    return csv_text(
        CSV_FIELDS,
        [
            {
                "assignment": report.assignment,
                "student_a": pair.student_a,
                "student_b": pair.student_b,
                "score": f"{pair.score:.4f}",
                "matched_lines": str(report.matched_line_count(pair)),
            }
            for report in reports
            for pair in report.pairs[:limit]
        ],
    )


def _code_html(submission: Submission, indices: set[int]) -> str:
    """The code with each run of matched tokens wrapped in <mark>, every character escaped."""
    spans = defaultdict(list)  # line -> [(start, end)] of highlighted columns
    for i in sorted(indices):
        token = submission.tokens[i]
        if token.line != token.last_line:
            for line in range(token.line, token.last_line + 1):
                spans[line].append(
                    (0, len(submission.lines[line]) if line < len(submission.lines) else 0)
                )
            continue
        previous = submission.tokens[i - 1] if i - 1 in indices else None
        if previous is not None and previous.last_line == token.line and spans[token.line]:
            spans[token.line][-1] = (spans[token.line][-1][0], token.end)  # one run: no gap
        else:
            spans[token.line].append((token.start, token.end))
    out = []
    for number, line in enumerate(submission.lines):
        pieces, position = [], 0
        for start, end in sorted(spans.get(number, [])):
            start = max(start, position)
            if end <= start:
                continue
            pieces += [
                html.escape(line[position:start]),
                "<mark>",
                html.escape(line[start:end]),
                "</mark>",
            ]
            position = end
        pieces.append(html.escape(line[position:]))
        label = " class='cell'" if number in submission.headers else ""
        out.append(f"<span{label}><span class='n'>{number + 1}</span>{''.join(pieces)}</span>")
    return "\n".join(out)


STYLE = (
    """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:110em;padding:0 1em;color:#222}
.note{border-left:.4em solid #E69F00;background:#fff8e6;padding:.6em 1em;max-width:60em}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ccc;padding:.3em .7em;text-align:left}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em}
pre{background:#f7f7f7;border:1px solid """
    """#ddd;padding:.5em;overflow-x:auto;font-size:.85em;line-height:1.35}
mark{background:#ffd27a;color:inherit}.n{display:inline-block;width:3em;color:#888;user-select:none}
.cell{color:#0072B2;font-weight:bold}h3{margin-top:2em}
"""
)


def similarity_html(
    reports: list[AssignmentReport], limit: int = HTML_PAIRS, common: int = COMMON
) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Similarity report: evidence to look at, not a verdict</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Similarity report</h1>",
        f"<p class='note'>{escape(MEANING.format(common=common))}</p>",
        "<p>Highlighted: code in runs of tokens that both students wrote, after normalisation.</p>",
    ]
    for report in reports:
        slug = re.sub(r"[^a-z0-9-]", "-", report.assignment.lower())
        parts.append(f"<h2 id='{escape(slug)}'>{escape(report.assignment)}</h2>")
        parts.append(
            f"<p>{len(report.submissions)} notebooks compared; {len(report.pairs)} pairs share "
            f"at least one fingerprint. {len(report.no_own_code)} notebooks hold no code beyond "
            "what everyone shares (for example the untouched release).</p>"
        )
        if report.unreadable:
            parts.append(
                "<p>Not compared (could not be read): "
                + ", ".join(
                    f"{escape(student)} ({escape(why)})"
                    for student, why in report.unreadable.items()
                )
                + "</p>"
            )
        if not report.pairs:
            parts.append(
                f"<p>No two notebooks share a fingerprint that at most {common} notebooks hold "
                "(code that more students share is common, and no evidence).</p>"
            )
            continue
        parts.append(
            "<table><tr><th>rank</th><th>student A</th><th>student B</th><th>score</th>"
            "<th>matched lines</th></tr>"
        )
        shown = report.pairs[:limit]
        for rank, pair in enumerate(shown, start=1):
            parts.append(
                "<tr><td><a "
                f"href='#{escape(slug)}-{rank}'>{rank}</a></td><td>{escape(pair.student_a)}</td>"
                f"<td>{escape(pair.student_b)}</td><td>{pair.score:.2f}</td>"
                f"<td>{report.matched_line_count(pair)}</td></tr>"
            )
        parts.append("</table>")
        for rank, pair in enumerate(shown, start=1):
            tokens_a, tokens_b = report.matches(pair)
            a, b = report.submissions[pair.student_a], report.submissions[pair.student_b]
            parts.append(
                f"<h3 id='{escape(slug)}-{rank}'>{rank}. {escape(pair.student_a)} and "
                f"{escape(pair.student_b)}: "
                f"score {pair.score:.2f}</h3><p>{pair.shared} shared fingerprints; "
                f"{pair.fingerprints_a} of "
                f"{escape(pair.student_a)}'s own, {pair.fingerprints_b} of "
                f"{escape(pair.student_b)}'s.</p>"
                "<div "
                f"class='pair'><div><h4>{escape(pair.student_a)}</h4>"
                f"<pre>{_code_html(a, tokens_a)}</pre></div>"
                f"<div><h4>{escape(pair.student_b)}</h4>"
                f"<pre>{_code_html(b, tokens_b)}</pre></div></div>"
            )
    parts.append("</body></html>\n")
    return "".join(parts)
