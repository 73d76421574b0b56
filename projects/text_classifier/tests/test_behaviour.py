"""CheckList-style behavioural tests (invariance and directional) and perturbation unit tests.

The model under test is the TF-IDF rung fitted on 5,000 real training reviews (seconds), so the
expectations are about learned behaviour, not about a toy.
"""

from __future__ import annotations

import random

import pytest
from text_classifier.baselines import tfidf_pipeline
from text_classifier.config import DataConfig, TfidfConfig
from text_classifier.data import load_dataset, stratified_subsample
from text_classifier.robustness import PERTURBATIONS, perturb_all


@pytest.fixture(scope="module")
def model():
    data = load_dataset(DataConfig(), seed=0)
    train = stratified_subsample(data.splits["train"], 5000, 0)
    cfg = TfidfConfig(max_features_word=20000, max_features_char=30000)
    return tfidf_pipeline(cfg, C=4.0, char_weight=1.0, seed=0).fit(
        train["text"].tolist(), train["label"].to_numpy()
    )


def p_rec(model, texts):
    return model.predict_proba(texts)[:, 1]


POSITIVE = (
    "Love this dress. The fabric is soft and it fits perfectly, I get compliments every time."
)
NEGATIVE = "Very disappointed. The fabric is cheap and scratchy and it fell apart after one wash."


def test_sanity_positive_and_negative(model):
    pos, neg = p_rec(model, [POSITIVE, NEGATIVE])
    assert pos > 0.8 and neg < 0.5


@pytest.mark.parametrize(
    "a, b",
    [  # invariance: irrelevant edits must not move the prediction much
        (POSITIVE, POSITIVE.replace("dress", "skirt")),
        (POSITIVE, POSITIVE + " Order #48213."),
        (NEGATIVE, NEGATIVE.replace("one wash", "1 wash")),
        (POSITIVE, "My sister Anna says: " + POSITIVE),
        (POSITIVE, "My sister Maria says: " + POSITIVE),
    ],
)
def test_invariance(model, a, b):
    pa, pb = p_rec(model, [a, b])
    assert abs(pa - pb) < 0.1
    assert (pa >= 0.5) == (pb >= 0.5)


@pytest.mark.parametrize(
    "base, edit, direction",
    [  # directional: a clear verdict appended must push the probability its way
        (POSITIVE, " Sadly I had to return it, would not recommend.", -1),
        (NEGATIVE, " That said, I kept it and love it, highly recommend!", +1),
        ("It is an okay top.", " Absolutely love it, buying it in every color!", +1),
        ("It is an okay top.", " Returned it, poor quality.", -1),
    ],
)
def test_directional(model, base, edit, direction):
    before, after = p_rec(model, [base, base + edit])
    assert direction * (after - before) > 0.05


def test_perturbations_are_seeded_and_preserve_visible_text():
    texts = ["Size 4 fits great, 10/10 would buy again", "Runs small but so cute"]
    first, second = perturb_all(texts, 0), perturb_all(texts, 0)
    assert first == second and set(first) == set(PERTURBATIONS)
    assert first["digits_to_words"][0].startswith("Size four fits great, ten out of ten")
    assert first["all_caps"][1] == "RUNS SMALL BUT SO CUTE"
    assert first["zero_width"][0].replace("\u200b", "") == texts[0]
    rng = random.Random(0)
    assert PERTURBATIONS["words_to_digits"]("size four", rng) == "size 4"
