"""Matplotlib on a headless backend, and atomic PNG writes."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.transforms import offset_copy  # noqa: E402

from mlcraft.files import atomic_write_bytes  # noqa: E402

__all__ = ["ladder_figure", "plt", "save_figure"]


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Write a figure as PNG atomically and close it (small files: plots are committed)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return atomic_write_bytes(path, buffer.getvalue())


def _clear_of_the_axis_labels(fig, ax, legend) -> None:
    """On a short figure (few rows) the legend's anchor in axes fraction lands on the tick labels
    and the axis label: there, anchor it that far below the axes in points instead. Measured on a
    copy of the figure, so one whose legend already clears them is drawn exactly as before."""
    probe = pickle.loads(pickle.dumps(fig))
    try:
        probe.tight_layout()
        probe.canvas.draw()  # places the axis label under its tick labels
        renderer = probe.canvas.get_renderer()
        probe_ax = probe.axes[0]
        labels = probe_ax.xaxis.get_tightbbox(renderer)
        box = probe_ax.get_legend().get_window_extent(renderer)
        gap = (probe_ax.get_window_extent(renderer).y0 - labels.y0) * 72 / probe.dpi
    finally:
        plt.close(probe)
    if box.y1 > labels.y0:
        below = offset_copy(ax.transAxes, fig=fig, y=-(gap + 6), units="points")
        legend.set_bbox_to_anchor((0.5, 0.0), transform=below)


def ladder_figure(
    rows: list[dict],
    metric: str,
    path: str | Path,
    reference: dict | list[dict] | None = None,
    title: str = "",
) -> Path:
    """The README's hero figure: one point per rung with its CI (whiskers), bottom rung first, and
    optional reference numbers (a published result as a shaded band, a baseline as a line).

    rows: dicts with keys name, value, lo, hi (lo/hi may be None when a rung has no CI);
    reference: {"label": str, "lo": float, "hi": float} (a single number: lo == hi), or a list;
    an optional "rows" key (row names) draws it across those rows only, e.g. a published accuracy
    on the accuracy row of a figure whose other rows are other metrics.
    """
    references = [reference] if isinstance(reference, dict) else list(reference or [])
    names = [row["name"] for row in rows]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(rows) + 1.4))
    ys = range(len(rows))
    for y, row in zip(ys, rows, strict=True):
        lo, hi = row.get("lo"), row.get("hi")
        if lo is not None and hi is not None:
            ax.errorbar(row["value"], y, xerr=[[row["value"] - lo], [hi - row["value"]]],
                        fmt="o", color="#2b6cb0", ecolor="#2b6cb0", capsize=3)  # fmt: skip
        else:
            ax.plot(row["value"], y, "o", color="#718096")
        ax.text(hi if hi is not None else row["value"], y, f"  {row['value']:.3f}", va="center",
                fontsize=8)  # fmt: skip
    for ref in references:
        lo, hi = ref["lo"], ref["hi"]
        if "rows" in ref:  # only across the named rows, each its own short band or line
            for i, y in enumerate(names.index(name) for name in ref["rows"]):
                label = ref["label"] if i == 0 else None
                if hi > lo:
                    ax.fill_betweenx([y - 0.4, y + 0.4], lo, hi, color="#f2b56b", alpha=0.35,
                                     linewidth=0, label=label)  # fmt: skip
                else:
                    ax.vlines(lo, y - 0.4, y + 0.4, color="#718096", linestyle="--", label=label)
        elif hi > lo:
            ax.axvspan(lo, hi, color="#f2b56b", alpha=0.35, label=ref["label"])
        else:
            ax.axvline(lo, color="#718096", linestyle="--", label=ref["label"])
    if references:  # below the axes: inside, it can hide a rung's point or its value
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8, frameon=False)
    lows = [row.get("lo") or row["value"] for row in rows]
    highs = [row.get("hi") or row["value"] for row in rows]
    lows += [ref["lo"] for ref in references]
    highs += [ref["hi"] for ref in references]
    ax.set_xlim(max(0.0, min(lows) - 0.05), max(highs) + 0.08)
    ax.set_yticks(list(ys), names)
    ax.set_xlabel(f"{metric} (95% CI)")
    if title:
        ax.set_title(title, fontsize=10)
    if references:
        _clear_of_the_axis_labels(fig, ax, ax.get_legend())
    return save_figure(fig, path)
