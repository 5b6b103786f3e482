"""similarity.csv and similarity.html: the pairs that autograder/report/similarity.py ranks, written
for a person to read (the page opens offline: its style is inline, nothing is fetched; every
string a learner chose, ids and code alike, is escaped)."""

import html
import re
from collections import defaultdict

from autograder.report.similarity import (
    MIN_SHARED,
    SHOWN_PAIRS,
    AssignmentReport,
    Pair,
    Submission,
)

CSV_FIELDS = [
    "assignment",
    "rank",
    "student_a",
    "student_b",
    "evidence_bits",
    "shared_fingerprints",
    "share_a",
    "share_b",
    "matched_tokens",
    "longest_fragment",
    "matched_lines",
]
CSV_PAIRS = SHOWN_PAIRS  # pairs per assignment in similarity.csv, matched as they are ranked
HTML_PAIRS = 10  # pairs per assignment shown side by side in similarity.html
SET_APART_SHOWN = 10  # pairs with too little shared code, listed apart in similarity.html
# Each side of a pair shows its matched lines with this many lines around them; longer stretches
# without shared code fold into one line that counts them, and past MAX_LINES_SHOWN lines a side
# stops (a notebook of 10,000 added cells made a 1.6 MB page).
CONTEXT_LINES = 3
MAX_LINES_SHOWN = 600

MEANING = (
    "This report is evidence for a person to look at, never a verdict. Pairs are ranked by "
    "evidence: how much code two students wrote alike once names, comments, layout and the "
    "order of independent lines are set aside, leaving out the released notebook and the "
    "book's code, with code that few students share counting most, and code of the one whose "
    "work is more nearly contained in the other's that the other lacks counting against. A "
    "high rank does not say that anyone copied, nor who from whom: short exercises have few "
    "natural answers, students may work together as allowed, and both may have used the same "
    "outside source. A low rank does not prove independent work either. Read the code side by "
    "side, and talk to the students."
)


def _csv_row(report: AssignmentReport, rank: int, pair: Pair) -> dict:
    found = report.match(pair)
    return {
        "assignment": report.assignment,
        "rank": str(rank),
        "student_a": pair.student_a,
        "student_b": pair.student_b,
        "evidence_bits": f"{pair.evidence:.1f}",
        "shared_fingerprints": str(pair.shared),
        "share_a": f"{pair.share_a:.2f}",
        "share_b": f"{pair.share_b:.2f}",
        "matched_tokens": str(found.tokens),
        "longest_fragment": str(found.longest),
        "matched_lines": str(report.matched_line_count(pair)),
    }


def similarity_csv(reports: list[AssignmentReport], limit: int = CSV_PAIRS) -> str:
    from autograder.report.outputs import csv_text  # every cell made safe from spreadsheet formulas

    return csv_text(
        CSV_FIELDS,
        [
            _csv_row(report, rank, pair)
            for report in reports
            for rank, pair in enumerate(report.pairs[:limit], start=1)
        ],
    )


def _side_by_side(report: AssignmentReport, pair: Pair) -> tuple[str, str]:
    """The two students' code as the HTML shows it, matched runs marked."""
    found = report.match(pair)
    a, b = report.submissions[pair.student_a], report.submissions[pair.student_b]
    return _code_html(a, found.tokens_a), _code_html(b, found.tokens_b)


def prepare_html(report: AssignmentReport, limit: int = HTML_PAIRS) -> None:
    """compare_assignment's `prepare`: the side-by-side code of the pairs similarity_html shows,
    taken while the notebooks' code is held."""
    for pair in report.pairs[:limit]:
        report.prepared[pair] = _side_by_side(report, pair)


def _code_html(submission: Submission, indices: set[int]) -> str:
    """The code with each run of matched tokens wrapped in <mark>, every character escaped."""
    code = submission.code  # read once, not once per token
    spans = defaultdict(list)  # line -> [(start, end)] of highlighted columns
    for i in sorted(indices):
        token = code.tokens[i]
        if token.line != token.last_line:
            for line in range(token.line, token.last_line + 1):
                spans[line].append((0, len(code.lines[line]) if line < len(code.lines) else 0))
            continue
        previous = code.tokens[i - 1] if i - 1 in indices else None
        line = spans[token.line]
        if (  # the previous token ends where the last span does, before this one: one run
            previous is not None
            and previous.last_line == token.line
            and line
            and line[-1][1] == previous.end <= token.start
        ):
            line[-1] = (line[-1][0], token.end)
        else:
            spans[token.line].append((token.start, token.end))
    near = {
        number
        for matched in spans
        for number in range(matched - CONTEXT_LINES, matched + CONTEXT_LINES + 1)
    }
    out, folded, shown = [], 0, 0
    for number, line in enumerate(code.lines):
        if number not in near:
            folded += 1
            continue
        if folded:
            out.append(_folded(folded))
            folded = 0
        if shown == MAX_LINES_SHOWN:
            rest = len(code.lines) - number
            out.append(f"<span class='gap'>… {rest:,} more lines not shown</span>")
            return "\n".join(out)
        shown += 1
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
        label = " class='cell'" if number in code.headers else ""
        out.append(f"<span{label}><span class='n'>{number + 1}</span>{''.join(pieces)}</span>")
    if folded:
        out.append(_folded(folded))
    return "\n".join(out)


def _folded(lines: int) -> str:
    return (
        f"<span class='gap'>… {lines:,} line{'s' if lines != 1 else ''} without shared code</span>"
    )


STYLE = (
    """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:110em;padding:0 1em;color:#222}
.note{border-left:.4em solid #E69F00;background:#fff8e6;padding:.6em 1em;max-width:60em}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ccc;padding:.3em .7em;text-align:left}
.pair{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em}
pre{background:#f7f7f7;border:1px solid """
    """#ddd;padding:.5em;overflow-x:auto;font-size:.85em;line-height:1.35}
mark{background:#ffd27a;color:inherit}.n{display:inline-block;width:3em;color:#888;user-select:none}
.cell{color:#0072B2;font-weight:bold}h3{margin-top:2em}.gap{color:#888;font-style:italic}
"""
)


def _pair_row(report: AssignmentReport, rank: int, pair: Pair, slug: str) -> str:
    escape, found = html.escape, report.match(pair)
    return (
        f"<tr><td><a href='#{escape(slug)}-{rank}'>{rank}</a></td>"
        f"<td>{escape(pair.student_a)} ({pair.share_a:.0%})</td>"
        f"<td>{escape(pair.student_b)} ({pair.share_b:.0%})</td>"
        f"<td>{pair.evidence:.1f}</td><td>{pair.shared}</td><td>{found.tokens}</td>"
        f"<td>{found.longest}</td><td>{report.matched_line_count(pair)}</td></tr>"
    )


TABLE_HEAD = (
    "<table><tr><th>rank</th><th>student A (share of A's code that B has)</th>"
    "<th>student B (share of B's code that A has)</th><th>evidence (bits)</th>"
    "<th>shared fingerprints</th><th>matched tokens</th><th>longest fragment (tokens)</th>"
    "<th>matched lines</th></tr>"
)


def _counts(report: AssignmentReport, min_shared: int) -> str:
    from autograder.report.outputs import counted

    ranking = report.ranking
    return (
        f"<p>{counted(len(report.submissions), 'notebook')} compared: all the code each student "
        f"wrote, answer cells and added cells. {counted(ranking.ranked, 'pair')} ranked "
        f"(positive evidence and at least {min_shared} shared fingerprints)"
        f"{_shown(ranking.ranked)}. {counted(ranking.too_little_count, 'pair')} set apart: "
        f"sharing fewer than {min_shared} fingerprints, about two lines of code, too little to be "
        f"evidence however rare. {counted(ranking.no_evidence, 'pair')} sharing some code but no "
        "evidence: what they share is common in this class, or each wrote much the other did "
        f"not. {counted(len(report.no_own_code), 'notebook')} with no code beyond what everyone "
        "shares (for example the untouched release).</p>"
    )


def _shown(ranked: int) -> str:
    return f"; the first {HTML_PAIRS} are shown below" if ranked > HTML_PAIRS else ""


def similarity_html(
    reports: list[AssignmentReport], limit: int = HTML_PAIRS, min_shared: int = MIN_SHARED
) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Similarity report: evidence to look at, not a verdict</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>Similarity report</h1>",
        f"<p class='note'>{escape(MEANING)}</p>",
        "<p>Highlighted: code in runs of tokens that both students wrote, after normalisation. "
        "Evidence is in bits: each shared fingerprint adds log2(N / (n - 1)) when n of the N "
        "students hold it, and each fingerprint of the more nearly contained student that the "
        "other lacks takes 2 away.</p>",
    ]
    for report in reports:
        slug = re.sub(r"[^a-z0-9-]", "-", report.assignment.lower())
        parts.append(f"<h2 id='{escape(slug)}'>{escape(report.assignment)}</h2>")
        parts.append(_counts(report, min_shared))
        if report.unreadable:
            parts.append(
                "<p>Not compared (could not be read): "
                + ", ".join(
                    f"{escape(student)} ({escape(why)})"
                    for student, why in report.unreadable.items()
                )
                + "</p>"
            )
        shown = report.pairs[:limit]
        if shown:
            parts.append(TABLE_HEAD)
            parts += [_pair_row(report, rank, pair, slug) for rank, pair in enumerate(shown, 1)]
            parts.append("</table>")
        else:
            parts.append("<p>No pair carries enough evidence to be ranked.</p>")
        apart = report.ranking.too_little[:SET_APART_SHOWN]
        if apart:
            parts.append(
                f"<h3>Set apart: fewer than {min_shared} shared fingerprints</h3>"
                "<p>Too little shared code to rank, however rare: listed so that nothing is "
                "hidden.</p><table><tr><th>student A</th><th>student B</th>"
                "<th>evidence (bits)</th><th>shared fingerprints</th></tr>"
                + "".join(
                    f"<tr><td>{escape(pair.student_a)}</td><td>{escape(pair.student_b)}</td>"
                    f"<td>{pair.evidence:.1f}</td><td>{pair.shared}</td></tr>"
                    for pair in apart
                )
                + "</table>"
            )
        for rank, pair in enumerate(shown, start=1):
            found = report.match(pair)
            code_a, code_b = report.prepared.get(pair) or _side_by_side(report, pair)
            parts.append(
                f"<h3 id='{escape(slug)}-{rank}'>{rank}. {escape(pair.student_a)} and "
                f"{escape(pair.student_b)}: evidence {pair.evidence:.1f} bits</h3>"
                f"<p>{pair.shared} shared fingerprints: {pair.share_a:.0%} of "
                f"{escape(pair.student_a)}'s {pair.fingerprints_a} and {pair.share_b:.0%} of "
                f"{escape(pair.student_b)}'s {pair.fingerprints_b}; {found.tokens} matched "
                f"tokens, the longest run {found.longest} tokens.</p>"
                "<div "
                f"class='pair'><div><h4>{escape(pair.student_a)}</h4>"
                f"<pre>{code_a}</pre></div>"
                f"<div><h4>{escape(pair.student_b)}</h4>"
                f"<pre>{code_b}</pre></div></div>"
            )
    parts.append("</body></html>\n")
    return "".join(parts)
