"""The README's hero figure (results/headline.png): the first seed's test scores with their
bootstrap CIs, each reference on its own metric's row only (a published accuracy is an accuracy:
it does not belong beside a recall).

It is a drawing of summary.json and nothing else, so `train` draws it and `report` redraws it
(same summary, same bytes): a fix to the drawing reaches the published figure without a retrain,
and the figure cannot disagree with the caption rendered beside it.
"""

from __future__ import annotations

from pathlib import Path

from mlcraft.plots import ladder_figure

CHANCE_BALANCED_ACCURACY = 0.5  # a classifier that ignores the image, whatever the class balance
ACCURACY, BALANCED = "accuracy", "balanced accuracy"


def hero_references(headline: dict, band: dict | None) -> list[dict]:
    """What the figure draws beside the scores, each with the rows it belongs to."""
    base = headline["majority_baseline_accuracy"]
    references = [
        {"label": "majority-class accuracy", "lo": base, "hi": base, "rows": [ACCURACY]},
        {"label": "chance", "lo": CHANCE_BALANCED_ACCURACY,
         "hi": CHANCE_BALANCED_ACCURACY, "rows": [BALANCED]},
    ]  # fmt: skip
    if band:
        references.append({**band, "rows": [ACCURACY]})
    return references


def draw_headline(headline: dict, minority: str, data_name: str, band: dict | None,
                  path: str | Path) -> list[dict]:  # fmt: skip
    """Draw the figure; returns the references drawn (for the caption)."""
    rows = [{"name": name, "value": headline[key], "lo": headline[f"{key}_ci95"][0],
             "hi": headline[f"{key}_ci95"][1]}
            for name, key in ((f"recall ({minority})", "minority_recall"),
                              (BALANCED, "balanced_accuracy"),
                              (ACCURACY, "seed0_accuracy"))]  # fmt: skip
    references = hero_references(headline, band)
    ladder_figure(rows, "score on the test images, bootstrap", path, reference=references,
                  title=f"ResNet, seed 0, on {data_name}")  # fmt: skip
    return references


def placement(references: list[dict]) -> str:
    """Which reference the figure draws on which row, from the references it drew."""
    by_row: dict[str, list[str]] = {}
    for ref in references:
        what = "the band" if ref["hi"] > ref["lo"] else f"{ref['label']} (dashed)"
        for row in ref["rows"]:
            by_row.setdefault(row, []).append(what)
    return "Only on their rows: " + "; ".join(
        f"{row}: {', '.join(items)}" for row, items in by_row.items()
    ) + "."  # fmt: skip
