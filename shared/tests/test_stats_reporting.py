import numpy as np
import pandas as pd
import pytest
from mlcraft import reporting
from mlcraft.errors import UserInputError
from mlcraft.stats import bootstrap_ci, paired_bootstrap_diff
from sklearn.metrics import roc_auc_score


def test_bootstrap_ci_has_nominal_coverage_and_shrinks_with_n():
    rng = np.random.default_rng(0)

    def accuracy(y, pred):
        return float(np.mean(y == pred))

    # Over 200 replicate samples the 95% interval should contain the true accuracy ~95% of the time.
    hits = 0
    for rep in range(200):
        pred = (rng.uniform(size=300) < 0.8).astype(int)
        _, lo, hi = bootstrap_ci(accuracy, np.ones(300, dtype=int), pred, n_boot=300, seed=rep)
        hits += lo <= 0.8 <= hi
    assert 0.88 <= hits / 200 <= 0.99

    widths = []
    for n in (200, 5000):
        pred = (rng.uniform(size=n) < 0.8).astype(int)
        point, lo, hi = bootstrap_ci(accuracy, np.ones(n, dtype=int), pred, n_boot=400)
        assert lo <= point <= hi
        widths.append(hi - lo)
    # CI width scales like 1/sqrt(n): 25x the data, about 1/5 the width.
    assert widths[1] < widths[0] / 3


def test_paired_bootstrap_detects_a_real_difference():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 3000)
    good = y * 0.6 + rng.uniform(0, 0.4, 3000)
    bad = y * 0.2 + rng.uniform(0, 0.8, 3000)
    result = paired_bootstrap_diff(roc_auc_score, y, good, bad, n_boot=300)
    assert result["lo"] > 0 and result["p_a_not_better"] == 0.0
    same = paired_bootstrap_diff(roc_auc_score, y, good, good, n_boot=50)
    assert same["diff"] == 0.0 and same["lo"] == same["hi"] == 0.0


def test_markdown_table_formats_numbers_and_escapes_pipes():
    table = reporting.markdown_table([{"model": "a|b", "auc": 0.91234, "n": 12000}], digits=3)
    lines = table.splitlines()
    assert lines[0] == "| model | auc | n |"
    assert lines[1] == "|---|---:|---:|"
    assert lines[2] == "| a\\|b | 0.912 | 12,000 |"


def test_render_markers_replaces_only_inside_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# Title\nprose stays\n<!-- generated:ladder -->\nold\n<!-- /generated:ladder -->\ntail\n"
    )
    assert reporting.stale_blocks(readme, {"ladder": "new table"}) == ["ladder"]
    assert reporting.render_readme(readme, {"ladder": "new table"}) == ["ladder"]
    text = readme.read_text()
    assert text == (
        "# Title\nprose stays\n<!-- generated:ladder -->\nnew table\n<!-- /generated:ladder -->\ntail\n"
    )
    assert reporting.stale_blocks(readme, {"ladder": "new table"}) == []
    assert reporting.render_readme(readme, {"ladder": "new table"}) == []
    with pytest.raises(UserInputError, match="generated:missing"):
        reporting.render_markers(text, {"missing": "x"})


def test_slice_table_counts_groups_and_gives_cis():
    rng = np.random.default_rng(2)
    n = 4000
    group = np.where(rng.uniform(size=n) < 0.25, "small", "large")
    y = rng.integers(0, 2, n)
    # The model is good on 'large' and random on 'small': the table must show it.
    score = np.where(group == "large", y * 0.7 + rng.uniform(0, 0.3, n), rng.uniform(size=n))
    frame = pd.DataFrame({"g": group, "y": y, "s": score})
    table = reporting.slice_table(frame, "g", "y", "s", {"auc": roc_auc_score}, n_boot=200)
    by_group = table.set_index("group")
    assert by_group.loc["small", "n"] + by_group.loc["large", "n"] == n
    assert by_group.loc["large", "auc"] == pytest.approx(1.0, abs=1e-9)
    small = by_group.loc["small"]
    assert small["auc_lo"] < 0.5 < small["auc_hi"]
    assert small["auc_lo"] <= small["auc"] <= small["auc_hi"]


def test_verdicts_read_the_interval_not_the_point():
    from mlcraft.stats import verdict

    assert verdict(0.91, 0.95, 0.90) == "met"
    assert verdict(0.85, 0.89, 0.90) == "missed"
    assert verdict(0.88, 0.93, 0.90) == "inconclusive"
    # lower is better (an ECE target of 0.02): 0.0211 [0.015, 0.027] cannot be called a miss
    assert verdict(0.015, 0.027, 0.02, higher_is_better=False) == "inconclusive"
    assert verdict(0.005, 0.015, 0.02, higher_is_better=False) == "met"
    assert verdict(0.021, 0.03, 0.02, higher_is_better=False) == "missed"


def test_binomial_ci_is_the_wilson_interval():
    from mlcraft.stats import binomial_ci

    lo, hi = binomial_ci(0.5, 100)  # textbook value: 50 of 100
    assert (round(lo, 4), round(hi, 4)) == (0.4038, 0.5962)
    lo, hi = binomial_ci(1.0, 20)  # stays inside [0, 1] where the normal interval would not
    assert 0.8 < lo < hi == pytest.approx(1.0)
    with pytest.raises(ValueError):
        binomial_ci(0.9, 0)


def test_ladder_figure_draws_rungs_with_cis_and_a_reference_band(tmp_path):
    from mlcraft.plots import ladder_figure

    rows = [
        {"name": "majority", "value": 0.69, "lo": None, "hi": None},
        {"name": "model", "value": 0.88, "lo": 0.86, "hi": 0.90},
    ]
    path = ladder_figure(rows, "accuracy", tmp_path / "hero.png",
                         reference={"label": "published", "lo": 0.88, "hi": 0.90})  # fmt: skip
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    both = [
        {"label": "majority", "lo": 0.69, "hi": 0.69},
        {"label": "published", "lo": 0.88, "hi": 0.9},
    ]
    path = ladder_figure(rows, "accuracy", tmp_path / "both.png", reference=both)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_reference_with_rows_is_drawn_across_those_rows_only(tmp_path, monkeypatch):
    """A published accuracy on a figure whose rows are different metrics belongs on the accuracy
    row alone; a reference without rows still spans the whole height (vision's ladder)."""
    from mlcraft import plots

    seen = {}
    save = plots.save_figure

    def capture(fig, path, **kwargs):
        from matplotlib.collections import PolyCollection

        ax = fig.axes[0]  # fill_betweenx draws a PolyCollection, the error bars do not
        seen["patches"] = [c.get_paths()[0].vertices for c in ax.collections
                           if isinstance(c, PolyCollection)]  # fmt: skip
        seen["spans"] = list(ax.patches)
        return save(fig, path, **kwargs)

    monkeypatch.setattr(plots, "save_figure", capture)
    rows = [{"name": "recall", "value": 0.40, "lo": 0.33, "hi": 0.47},
            {"name": "accuracy", "value": 0.79, "lo": 0.77, "hi": 0.82}]  # fmt: skip
    band = {"label": "published", "lo": 0.86, "hi": 0.91, "rows": ["accuracy"]}
    plots.ladder_figure(rows, "score", tmp_path / "hero.png", reference=band)
    ys = [y for vertices in seen["patches"] for y in vertices[:, 1]]
    assert (
        len(seen["patches"]) == 1
        and seen["spans"] == []
        and min(ys) >= 1 - 0.4 - 1e-9
        and max(ys) <= 1 + 0.4 + 1e-9
    )
    band.pop("rows")
    plots.ladder_figure(rows, "score", tmp_path / "hero.png", reference=band)
    assert len(seen["spans"]) == 1  # axvspan: the whole height


def test_the_ladder_legend_sits_outside_the_axes_so_it_hides_no_rung(tmp_path, monkeypatch):
    """Inside the axes the legend hid the majority rung's value on vision's hero figure."""
    from mlcraft import plots

    seen = {}
    save = plots.save_figure

    def capture(fig, path, **kwargs):
        fig.tight_layout()
        fig.canvas.draw()
        ax = fig.axes[0]
        seen["legend"] = ax.get_legend().get_window_extent()
        seen["axes"] = ax.get_window_extent()
        seen["figure"] = fig.bbox
        return save(fig, path, **kwargs)

    monkeypatch.setattr(plots, "save_figure", capture)
    rows = [{"name": "majority", "value": 0.69, "lo": None, "hi": None},
            {"name": "model", "value": 0.86, "lo": 0.83, "hi": 0.89}]  # fmt: skip
    plots.ladder_figure(rows, "accuracy", tmp_path / "hero.png",
                        reference={"label": "published", "lo": 0.86, "hi": 0.91})  # fmt: skip
    legend, axes, figure = seen["legend"], seen["axes"], seen["figure"]
    assert legend.y1 <= axes.y0  # wholly below the plotting area
    assert (
        legend.y0 >= figure.y0 and figure.x0 <= legend.x0 <= legend.x1 <= figure.x1
    )  # not cut off


@pytest.mark.parametrize("n_rows", [2, 3, 7])
def test_the_legend_below_clears_the_tick_labels_and_the_axis_label(tmp_path, monkeypatch, n_rows):
    """On a short figure (repro's three metrics) the legend's anchor in axes fraction landed on
    the axis label; it must sit below the tick labels and the label whatever the height."""
    from mlcraft import plots

    seen = {}
    save = plots.save_figure

    def capture(fig, path, **kwargs):
        fig.tight_layout()
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        ax = fig.axes[0]
        seen["legend"] = ax.get_legend().get_window_extent(renderer)
        seen["labels"] = ax.xaxis.get_tightbbox(renderer)
        seen["figure"] = fig.bbox
        return save(fig, path, **kwargs)

    monkeypatch.setattr(plots, "save_figure", capture)
    rows = [{"name": f"rung {i}", "value": 0.7, "lo": 0.65, "hi": 0.75} for i in range(n_rows)]
    references = [{"label": "baseline", "lo": 0.6, "hi": 0.6},
                  {"label": "chance", "lo": 0.5, "hi": 0.5},
                  {"label": "published", "lo": 0.86, "hi": 0.91}]  # fmt: skip
    plots.ladder_figure(rows, "score", tmp_path / "hero.png", reference=references)
    assert seen["legend"].y1 <= seen["labels"].y0
    assert seen["legend"].y0 >= seen["figure"].y0  # not cut off


def test_typed_numbers_finds_results_typed_into_prose_but_not_generated_ones():
    from mlcraft.reporting import typed_numbers

    readme = (
        "The fine-tune reaches 0.868 on 4,000 reviews (+2.2%), see `python -m x --seed 1234`.\n"
        "<!-- generated:headline -->\nmacro-F1 0.871 [0.85, 0.89]\n<!-- /generated:headline -->\n"
        "Published: 88.42% ([paper](https://x.org/a/1906.04581)); 2 seeds, Python 3.11, since 2019.\n"
    )
    assert typed_numbers(readme, allowed={"88.42%"}) == ["0.868", "4,000", "2.2%", "2", "3.11"]


def test_typed_numbers_catches_small_integers_percentages_multipliers_and_fractions():
    from mlcraft.reporting import typed_numbers

    prose = "It misses 32% of cracks, 7 of 12 seeds agree, 1.7x faster in 259s, 5/8 flagged.\n"
    assert typed_numbers(prose) == ["32%", "7", "12", "1.7x", "259s", "5/8"]
    assert typed_numbers(prose, allowed={"32", "12", "1.7"}) == ["32%", "7", "1.7x", "259s", "5/8"]


def test_typed_numbers_skips_years_sections_lists_names_and_code():
    from mlcraft.reporting import typed_numbers

    prose = (
        "## 2. Model card\n\nAfter Mitchell et al. 2019 (issue 14, section 4.2, §3, #12):\n"
        "1. ResNet-18 and all-MiniLM-L6-v2, sha256 checked, macro-F1, pytorch 2.1.0;\n"
        "2) the config sets `epochs: 3` ([run](results/1/summary.json)).\n"
        "A wrapped command: `python -m x --run-dir\n  <folder> --seed 0`.\n"
    )
    assert typed_numbers(prose) == []
    assert typed_numbers(prose + "It took 3 epochs.\n") == ["3"]


def test_blocks_render_into_whichever_page_holds_their_markers(tmp_path):
    from mlcraft import reporting

    (tmp_path / "docs").mkdir()
    readme = tmp_path / "README.md"
    readme.write_text("# P\n<!-- generated:headline -->\nold\n<!-- /generated:headline -->\n")
    page = tmp_path / "docs" / "operator.md"
    page.write_text("# Ops\n<!-- generated:faults -->\n<!-- /generated:faults -->\n")
    blocks = {"headline": "0.9", "faults": "| fault |"}
    assert reporting.stale_documents(tmp_path, blocks) == ["headline", "faults"]
    assert reporting.render_documents(tmp_path, blocks) == ["headline", "faults"]
    assert reporting.stale_documents(tmp_path, blocks) == []
    assert "| fault |" in page.read_text() and "| fault |" not in readme.read_text()
    with pytest.raises(UserInputError, match="generated:missing"):
        reporting.render_documents(tmp_path, {"missing": "x"})


def test_typed_numbers_catches_results_spelled_out_in_words_not_design_facts():
    from mlcraft.reporting import typed_numbers

    prose = (
        "Seven of the twelve confident errors are grade-1 cells; one in ten reviews is sarcastic; "
        "the ensemble is three times slower and two points better.\n"
        "It trains three seeds in two processes, one of the rungs per figure.\n"
    )
    assert typed_numbers(prose) == [
        "Seven of the twelve",
        "one in ten",
        "three times",
        "two points",
    ]
    assert typed_numbers(prose, allowed={"one in ten", "three times", "two points",
                                         "Seven of the twelve"}) == []  # fmt: skip


def test_an_allowed_phrase_lets_its_number_pass_there_only():
    """ "exit 2" allows the 2 of an exit code; a 2 typed as a result elsewhere is still caught."""
    from mlcraft.reporting import typed_numbers

    prose = "Bad input is one line and Exit 2. The fine-tune won on 2 seeds of 30.\n"
    assert typed_numbers(prose, {"exit 2"}) == ["2", "30"]
    assert typed_numbers(prose, {"exit 2", "30"}) == ["2"]  # a bare entry passes anywhere
    with pytest.raises(ValueError, match="as a phrase"):  # ...so a single digit must be a phrase
        typed_numbers(prose, {"2"})
    assert typed_numbers("exit 20 and exit 2.\n", {"exit 2"}) == ["20"]
