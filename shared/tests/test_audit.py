"""The data audit names planted leaks, identifiers and overlaps, and stays quiet on honest data."""

import numpy as np
import pandas as pd
import pytest
from mlcraft import audit
from mlcraft.errors import UserInputError


def planted(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    y = (signal + rng.normal(scale=1.0, size=n) > 0).astype(int)
    frame = pd.DataFrame(
        {
            "signal": signal,  # honest: AUC ~0.75
            "noise": rng.normal(size=n),
            "city": rng.integers(0, 2000, size=n).astype(str),  # 2,000-level categorical, honest
            "outcome_code": np.where(y == 1, "paid", "default"),  # planted leak: copies the target
            "risk_after": y * 3 + rng.normal(scale=0.05, size=n),  # planted leak: near-perfect AUC
            "customer_id": np.arange(n),  # planted identifier
            "name": [f"person {i}" for i in rng.permutation(n)],  # planted identifier
            "constant": 1,
            "mostly_empty": np.where(rng.random(n) < 0.97, np.nan, 1.0),
        }
    )
    return frame, y


def test_planted_problems_are_named_and_honest_columns_are_not():
    frame, y = planted()
    train, test = frame.iloc[:3000], frame.iloc[3000:]
    test = pd.concat([test, train.iloc[:7]])  # 7 training rows copied into test
    findings = audit.tabular_findings(train, y[:3000], test)
    by_column = {f.column: f.kind for f in findings if f.column}
    assert by_column == {
        "outcome_code": "leak",
        "risk_after": "leak",
        "customer_id": "identifier",
        "name": "identifier",
        "constant": "useless",
        "mostly_empty": "useless",
    }
    (overlap,) = [f for f in findings if f.kind == "overlap"]
    assert overlap.detail.startswith("7 test rows")
    with pytest.raises(UserInputError, match="data.audit=error: column 'outcome_code'"):
        audit.enforce(findings, "error")
    audit.enforce(findings, "warn")  # warn never stops a run
    assert audit.banner(findings).count("\n> - ") == len(findings)
    assert "mostly_empty: 98% of training cells missing" in audit.banner(findings)


def test_time_split_overlap_is_an_error():
    times = pd.Series(pd.date_range("2013-01-01", periods=10, freq="D"), name="time_hour")
    frame = pd.DataFrame({"x": range(10)})
    y = np.array([0, 1] * 5)
    findings = audit.tabular_findings(frame.iloc[:6], y[:6], frame.iloc[6:],
                                      time_train=times.iloc[[0, 1, 2, 3, 4, 9]],
                                      time_test=times.iloc[5:9])  # fmt: skip
    (late,) = [f for f in findings if f.column == "time_hour"]
    assert late.severity == "error" and late.detail.startswith("4 test rows")


def test_time_split_ties_across_the_cut_are_flagged_in_their_own_units():
    """Numbers that grow with time (years) stay numbers; a test row sharing the last training
    time is not later than training."""
    frame = pd.DataFrame({"x": range(8)})
    y = np.array([0, 1] * 4)
    years = pd.Series([2001, 2002, 2003, 2005, 2005, 2005, 2006, 2007], name="year")
    findings = audit.tabular_findings(frame.iloc[:4], y[:4], frame.iloc[4:],
                                      time_train=years.iloc[:4], time_test=years.iloc[4:])  # fmt: skip
    (late,) = [f for f in findings if f.column == "year"]
    assert late.detail == (
        "2 test rows are not later than the last training row (2005; 2 of them at that same time)"
    )
    later = years.iloc[4:] + 10
    assert not [f for f in audit.tabular_findings(frame.iloc[:4], y[:4], frame.iloc[4:],
                time_train=years.iloc[:4], time_test=later) if f.column == "year"]  # fmt: skip


def test_text_duplicates_and_label_tokens():
    train = ["Great dress, love it"] * 30 + [f"meh item {i} [RETURNED]" for i in range(30)]
    labels = [1] * 30 + [0] * 30
    test = ["great dress love it!", "Great dress, love it", "something new"]
    findings = audit.text_findings(train, labels, test, min_support=20)
    details = [f.detail for f in findings]
    assert "1 test texts appear verbatim in training" in details
    assert any(d.startswith("1 more test texts match") for d in details)
    assert {f.column for f in findings if f.kind == "leak"} >= {"returned"}


def test_a_token_as_pure_as_the_base_rate_allows_is_not_a_leak():
    """At an 82% base rate, 21 texts all labelled 1 happen by chance; 21 all labelled 0 do not."""
    rng = np.random.default_rng(0)
    filler = [f"w{i}" for i in range(400)]
    texts, labels = [], []
    for i in range(2000):
        label = int(rng.random() < 0.82)
        words = list(rng.choice(filler, size=5))
        if label == 1 and i % 80 == 0:
            words.append("lovely")  # 25 texts, all labelled 1
        if label == 0 and i % 10 == 0:
            words.append("refund")  # all labelled 0
        texts.append(" ".join(words))
        labels.append(label)
    leaks = {f.column: f.detail for f in audit.text_findings(texts, labels, [], min_support=20)}
    assert "refund" in leaks and "base rate 18%" in leaks["refund"]
    assert "lovely" not in leaks
    assert not any(token.startswith("w") for token in leaks)  # filler words are never leaks


def test_identical_images_across_splits():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(5, 8, 8), dtype=np.uint8)
    findings = audit.duplicate_images({"train": images[:3], "test": [images[1], images[4]]})
    assert [f.detail for f in findings] == ["1 identical images in both train and test"]


def test_the_banner_names_a_few_findings_and_counts_the_rest():
    from mlcraft.audit import LEAK, OVERLAP, Finding, banner

    findings = [Finding(OVERLAP, "", "3 test texts appear verbatim in training")]
    findings += [Finding(LEAK, f"t{i}", f"token 't{i}' ...") for i in range(9)]
    text = banner(findings, limit=3)
    assert text.count("\n> - ") == 4 and "and 7 more (7 leak): every finding is in audit.md" in text
    assert banner([]) == ""
