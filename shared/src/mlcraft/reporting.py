"""Markdown tables from results, README marker rendering, and slice tables with bootstrap CIs.

A README holds generated blocks between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`;
only the text between the markers is ever rewritten, so the hand-written prose around it is safe.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlcraft.errors import UserInputError
from mlcraft.files import atomic_write_text
from mlcraft.stats import bootstrap_ci


def format_value(value: Any, digits: int = 3) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return "n/a"
        if value != 0 and abs(value) < 10 ** (-digits):
            return f"{value:.{digits}g}"
        return f"{value:,.{digits}f}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def format_ci(point: float, lo: float, hi: float, digits: int = 3) -> str:
    return f"{point:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def markdown_table(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    digits: int = 3,
) -> str:
    """A GitHub pipe table; numbers right-aligned, floats to `digits` places."""
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise KeyError(f"markdown_table: missing columns {missing}")
        frame = frame[list(columns)]
    if frame.empty:
        raise ValueError("markdown_table: no rows")
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    numeric = [pd.api.types.is_numeric_dtype(frame[c]) for c in frame.columns]
    rule = "|" + "|".join("---:" if n else "---" for n in numeric) + "|"
    body = [
        "| " + " | ".join(format_value(v, digits) for v in record) + " |"
        for record in frame.itertuples(index=False, name=None)
    ]
    return "\n".join([header, rule, *body])


def _marker_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- generated:{re.escape(name)} -->\n)(.*?)(<!-- /generated:{re.escape(name)} -->)",
        re.DOTALL,
    )


def render_markers(text: str, blocks: Mapping[str, str]) -> str:
    """Replace each named block's content; a block whose markers are absent is an error."""
    for name, content in blocks.items():
        pattern = _marker_pattern(name)
        if not pattern.search(text):
            raise UserInputError(f"README has no <!-- generated:{name} --> ... markers")
        body = content.rstrip("\n") + "\n"
        text = pattern.sub(lambda m, body=body: m.group(1) + body + m.group(3), text, count=1)
    return text


def stale_blocks(path: str | Path, blocks: Mapping[str, str]) -> list[str]:
    """Names of blocks whose README content differs from what the results would render."""
    text = Path(path).read_text()
    stale = []
    for name, content in blocks.items():
        match = _marker_pattern(name).search(text)
        if match is None or match.group(2) != content.rstrip("\n") + "\n":
            stale.append(name)
    return stale


def render_readme(path: str | Path, blocks: Mapping[str, str]) -> list[str]:
    """Rewrite the README's generated blocks in place (atomically); returns the names that changed."""
    path = Path(path)
    changed = stale_blocks(path, blocks)
    if changed:
        atomic_write_text(path, render_markers(path.read_text(), blocks))
    return changed


def documents(project_dir: str | Path) -> list[Path]:
    """A project's rendered pages: README.md first, then docs/*.md (operator notes, bring your own
    data, ...). A generated block lives in whichever page holds its markers."""
    project_dir = Path(project_dir)
    return [project_dir / "README.md", *sorted((project_dir / "docs").glob("*.md"))]


def _split_blocks(pages: list[Path], blocks: Mapping[str, str]) -> dict[Path, dict[str, str]]:
    texts = {page: page.read_text() for page in pages if page.is_file()}
    placed: dict[Path, dict[str, str]] = {page: {} for page in texts}
    for name, content in blocks.items():
        homes = [page for page, text in texts.items() if _marker_pattern(name).search(text)]
        if not homes:
            raise UserInputError(f"no page has <!-- generated:{name} --> ... markers")
        for page in homes:
            placed[page][name] = content
    return placed


def stale_documents(project_dir: str | Path, blocks: Mapping[str, str]) -> list[str]:
    """Blocks whose content in README.md or docs/*.md differs from what the results render."""
    placed = _split_blocks(documents(project_dir), blocks)
    return [name for page, own in placed.items() for name in stale_blocks(page, own)]


def render_documents(project_dir: str | Path, blocks: Mapping[str, str]) -> list[str]:
    """render_readme over README.md and docs/*.md; returns the names of the blocks that changed."""
    placed = _split_blocks(documents(project_dir), blocks)
    return [name for page, own in placed.items() for name in render_readme(page, own)]


def read_table(folder: str | Path, name: str) -> pd.DataFrame | None:
    """The table write_table wrote as folder/<name>.csv, or None when the run has none (a run
    may skip optional tables; a report leaves their blocks out)."""
    path = Path(folder) / f"{name}.csv"
    return pd.read_csv(path) if path.is_file() and path.stat().st_size else None


def write_table(
    folder: str | Path, name: str, frame: pd.DataFrame, digits: int = 3
) -> pd.DataFrame:
    """One table as CSV (for the report and for tools) and markdown (for a reader), atomically."""
    folder = Path(folder)
    atomic_write_text(folder / f"{name}.csv", frame.to_csv(index=False))
    atomic_write_text(folder / f"{name}.md", markdown_table(frame, digits=digits) + "\n")
    return frame


_HEADING = re.compile(r"^#{1,4} ")
_BLOCK = re.compile(r"<!-- generated:([\w-]+) -->")


def run_report(readme: str, blocks: Mapping[str, str], title: str) -> str:
    """A run's REPORT.md: the README's section headings, each followed by the generated blocks
    it holds, filled from this run. The README's hand-written prose is left out on purpose: it
    describes the reference data, and a run on other data must not borrow its words."""
    lines = [
        f"# Run report: {title}",
        "",
        "Every table below was rendered from this run's results/.",
    ]
    pending: str | None = None
    for line in readme.splitlines():
        if _HEADING.match(line) and not line.startswith("# "):
            pending = line
            continue
        match = _BLOCK.search(line)
        if match and match.group(1) in blocks:
            if pending is not None:
                lines += ["", pending]
                pending = None
            lines += ["", blocks[match.group(1)].rstrip("\n")]
    return "\n".join(lines) + "\n"


def slice_table(
    frame: pd.DataFrame,
    by: str,
    y_true: str,
    y_score: str,
    metrics: Mapping[str, Callable[[np.ndarray, np.ndarray], float]],
    n_boot: int = 500,
    seed: int = 0,
    min_count: int = 1,
) -> pd.DataFrame:
    """Per group of `by`: count, positive rate and each metric with a bootstrap 95% CI.

    A metric undefined on a group (e.g. AUC with one class) is NaN rather than an error, so a tiny
    slice shows up in the table instead of hiding.
    """
    for column in (by, y_true, y_score):
        if column not in frame.columns:
            raise KeyError(f"slice_table: no column {column!r}")
    rows = []
    for value, group in frame.groupby(by, observed=True, dropna=False, sort=True):
        if len(group) < min_count:
            continue
        row: dict[str, Any] = {
            "slice": by,
            "group": value,
            "n": len(group),
            "positive_rate": float(np.mean(group[y_true].to_numpy() == 1)),
        }
        truth, score = group[y_true].to_numpy(), group[y_score].to_numpy()
        for name, fn in metrics.items():
            try:
                point, lo, hi = bootstrap_ci(_safe(fn), truth, score, n_boot=n_boot, seed=seed)
            except ValueError:
                point = lo = hi = float("nan")
            row[name], row[f"{name}_lo"], row[f"{name}_hi"] = point, lo, hi
        rows.append(row)
    return pd.DataFrame(rows)


def _safe(fn: Callable[[np.ndarray, np.ndarray], float]):
    def wrapped(a: np.ndarray, b: np.ndarray) -> float:
        try:
            return float(fn(a, b))
        except ValueError:  # e.g. roc_auc_score on a one-class resample
            return float("nan")

    return wrapped


_GENERATED = re.compile(r"<!-- generated:([\w-]+) -->\n.*?<!-- /generated:\1 -->", re.S)
_CODE = re.compile(r"```.*?```|`[^`\n]*(?:\n[^`\n]*)?`", re.S)  # inline code may wrap a line
_LINK_TARGET = re.compile(r"\]\([^)]*\)|https?://\S+")
# Numbers that are not measurements: an ordered-list or heading number at the start of a line,
# a reference to an issue or section ("issue 14", "section 4.2", "§3", "#12").
_NOT_MEASURED = re.compile(
    r"^(\s*(?:#{1,6}\s+)?)\d+(?:\.\d+)*[.)](?=\s)|(?i:\b(?:issue|section)\s+|§\s*|#)\d+(?:\.\d+)*",
    re.M,
)
# Any number a person could type as a result: a decimal (0.868), an integer of any size (7, 4,000),
# a fraction (7/12), with an optional percent, multiplier or unit (32%, 1.7x, 259s). Digits inside
# a name or a path are not numbers: "MiniLM-L6-v2", "ResNet-18", "sha256", "F1", "1.7.0", "a/1".
_NUMBER = re.compile(
    r"(?<![\w./])(?<![A-Za-z]-)(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?(?:/\d+)?)"
    r"(%|x|×|ms|s|min|h|[kMG]i?B|k)?(?![\w.]*\w)"
)
_PHRASE = re.compile(r"[A-Za-z\s]")  # an allowed entry with a word or a space is a phrase
# A year (a citation such as "Mitchell et al. 2019", a dataset's release): a bare 19xx or 20xx.
_YEAR = re.compile(r"(?:19|20)\d\d")
# A result spelled out in words: "seven of the twelve", "one in ten", "three times", "two points".
# A bare number word ("three seeds", "two processes") is a design fact and passes.
_WORD = r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|hundred)"
_SPELLED_RESULT = re.compile(
    rf"\b{_WORD}\s+(?:of|in|out\s+of)\s+(?:the\s+)?(?:{_WORD}|\d+)\b"
    rf"|\b{_WORD}(?:\s+times\b|-fold\b|\s+percent\b|\s+points?\b)",
    re.I,
)


def hand_written(readme: str) -> str:
    """The README text a person typed: without generated blocks, code, and link targets."""
    return _LINK_TARGET.sub("]", _CODE.sub("", _GENERATED.sub("", readme)))


def typed_numbers(readme: str, allowed: Collection[str] = frozenset()) -> list[str]:
    """Every number in the hand-written prose, but years and issue, section and list numbers.
    Results belong in generated blocks, so each one found is a candidate for a stale or invented
    number; `allowed` lists the ones that are facts of the setup rather than results (a published
    reference, a licence version, an HTTP status), each as typed: "32" does not allow "32%". An
    entry with a word in it is a phrase ("exit 2", "seed 0"): its number passes inside that
    phrase only, so a small number that is a fact in one place is still caught as a result in
    another. A config value belongs in backticks, as code."""
    small = sorted(a for a in allowed if re.fullmatch(r"\d", a))
    if small:  # a bare 2 would pass every 2 in the prose, "won 2 of 3 seeds" included
        raise ValueError(f"allow a single digit as a phrase ('exit 2'), not bare: {small}")
    found = []
    prose = _NOT_MEASURED.sub("", hand_written(readme))
    phrases = [a for a in allowed if _PHRASE.search(a)]  # "exit 2" allows 2 there only
    for phrase in sorted(phrases, key=len, reverse=True):
        words = r"\s+".join(map(re.escape, phrase.split()))  # a phrase may wrap a line
        prose = re.sub(rf"(?<!\w){words}(?!\w)", " ", prose, flags=re.I)
    for match in _NUMBER.finditer(prose):
        number, unit = match.groups()
        token = number + (unit or "")
        if (unit is None and _YEAR.fullmatch(number)) or token in allowed:
            continue
        found.append(token)
    found += [m.group(0) for m in _SPELLED_RESULT.finditer(prose) if m.group(0) not in allowed]
    return found
