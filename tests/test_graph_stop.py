"""The calibrated stop rule: confidence from features, fitting the weights, reliability table."""

from __future__ import annotations

import random

import pytest

from vidsleuth.graphs.routing import group_findings, option_matches, vote
from vidsleuth.graphs.stop import StopFeatures, confidence, fit_weights, reliability_table
from vidsleuth.settings import Settings


def test_confidence_is_monotone_in_every_feature():
    w = Settings(store="/x").agent_stop_weights
    base = StopFeatures(agreement=0.5, stated=0.5, margin=0.1)
    c0 = confidence(base, w)
    for field in ("agreement", "stated", "margin"):
        up = StopFeatures(**{**base.as_dict(), field: getattr(base, field) + 0.3})
        assert confidence(up, w) > c0
    with pytest.raises(ValueError):
        confidence(base, (1.0, 2.0))


def test_fit_weights_recovers_a_usable_rule():
    rng = random.Random(0)
    rows, labels = [], []
    for _ in range(300):
        agree = rng.random()
        f = StopFeatures(agreement=agree, stated=rng.random(), margin=rng.uniform(-0.2, 0.5))
        rows.append(f)
        labels.append(rng.random() < agree)  # correctness driven by agreement only
    w = fit_weights(rows, labels)
    assert w[1] > 2.0 and abs(w[2]) < 1.0
    conf = [confidence(r, w) for r in rows]
    table = reliability_table(conf, labels, bins=5)
    assert sum(r["n"] for r in table) == 300
    for r in table:  # calibrated: accuracy close to mean confidence in each well-filled bucket
        if r["n"] >= 30:
            assert abs(r["accuracy"] - r["mean_confidence"]) < 0.15


def test_vote_weights_and_margin():
    partials = [
        {
            "answer": "B",
            "confidence": 0.9,
            "group_score": 0.8,
            "t_start": 10,
            "t_end": 12,
            "why": "",
        },
        {
            "answer": "B",
            "confidence": 0.6,
            "group_score": 0.5,
            "t_start": 40,
            "t_end": 42,
            "why": "",
        },
        {
            "answer": "C",
            "confidence": 0.7,
            "group_score": 0.3,
            "t_start": 90,
            "t_end": 92,
            "why": "",
        },
        {
            "answer": "none",
            "confidence": 0.9,
            "group_score": 0.9,
            "t_start": 5,
            "t_end": 6,
            "why": "",
        },
    ]
    win, support, f = vote(partials, [])
    assert win == "B" and len(support) == 2
    assert 0.5 < f.agreement < 1 and f.stated == 0.9
    assert f.margin == pytest.approx(0.8 - 0.3)
    assert vote([partials[3]], []) == ("", [], StopFeatures())


def test_option_match_needs_a_clear_lead():
    fs = [{"t_start": 50, "t_end": 54, "kind": "ocr", "text": "AMBER HARBOR 66", "score": 0.7}]
    g = group_findings(fs, gap=4)[0]
    m = option_matches(g, ["amber harbor 66", "silver canyon 12"])
    assert m["answer"] == "A" and m["t_start"] == 50
    assert option_matches(g, ["amber harbor 66", "amber harbor 67"])["answer"] == "A"
    assert option_matches(g, ["amber harbor", "harbor 66"]) is None  # both fully present
    assert option_matches(g, ["red", "blue"]) is None


def _p(answer, conf, t, kind="ocr", grounded=True, score=0.5):
    return {
        "answer": answer,
        "confidence": conf,
        "group_score": score,
        "t_start": t,
        "t_end": t + 4,
        "why": "",
        "kind": kind,
        "grounded": grounded,
    }


def test_the_same_evidence_cited_twice_is_one_vote():
    # Two groups' partials cite the same moment for B; one independent moment backs C.
    same = [_p("B", 0.9, 10), _p("B", 0.9, 10), _p("C", 0.9, 50)]
    _, _, f = vote(same, [])
    assert f.agreement == pytest.approx(0.5)
    independent = [_p("B", 0.9, 10), _p("B", 0.9, 30), _p("C", 0.9, 50)]
    _, _, g = vote(independent, [])
    assert g.agreement == pytest.approx(2 / 3)


def test_provenance_features_and_ungrounded_citations():
    _, _, text = vote([_p("A", 0.8, 10, kind="ocr")], [])
    assert text.exact == 1 and text.label == 0
    _, _, tag = vote([_p("A", 0.8, 10, kind="tag")], [])
    assert tag.exact == 0 and tag.label == 1
    counted = {**_p("A", 0.8, 10, kind="count"), "basis": "speech"}
    assert vote([counted], [])[2].exact == 1
    _, _, loose = vote([_p("A", 0.8, 10, grounded=False)], [])
    assert loose.stated == pytest.approx(0.4)  # a citation matching no evidence is discounted
    w = Settings(store="/x").agent_stop_weights
    assert confidence(tag, w) < confidence(text, w)


def test_a_line_chosen_without_its_words_in_the_evidence_counts_little():
    from vidsleuth.graphs.routing import option_support

    group = {
        "findings": [
            {"t_start": 5.0, "t_end": 6.0, "kind": "ocr", "text": "EXIT", "source": "read_text"},
            {
                "t_start": 0.0,
                "t_end": 0.0,
                "kind": "located",
                "text": "option D 'it was the worst of times' not located anywhere in the video",
                "source": "arithmetic:options",
            },
        ]
    }
    # the summary line restating the options is not evidence for them
    assert option_support(group, "it was the worst of times") == 0.0
    heard = {"findings": [{"t_start": 271, "t_end": 274, "text": "Ever tried, ever failed."}]}
    assert option_support(heard, "ever tried ever failed") == 1.0
    merged = {"findings": [{"t_start": 1, "t_end": 2, "text": "HANGAR9LOCKS ATMIDNIGHT"}]}
    assert option_support(merged, "HANGAR 9 LOCKS AT MIDNIGHT") == 0.6  # OCR merged the words
    # two confident picks of a line nobody read or heard lose to one that was heard
    partials = [
        {**_p("D", 0.9, 36), "supported": False},
        {**_p("D", 0.9, 40), "supported": False},
        _p("C", 0.9, 271),
    ]
    win, _, f = vote(partials, [])
    assert win == "C" and f.stated == pytest.approx(0.9)
    assert vote([{**_p("D", 0.9, 36), "supported": False}], [])[2].stated == pytest.approx(0.18)


def test_a_thing_may_be_seen_without_being_named():
    from vidsleuth.graphs.routing import has_sightings, option_support

    seen = {"findings": [{"t_start": 1, "t_end": 2, "kind": "tag", "text": "golden retriever"}]}
    read = {"findings": [{"t_start": 1, "t_end": 2, "kind": "ocr", "text": "EXIT"}]}
    assert option_support(seen, "a dog") == 0.0 and has_sightings(seen)
    assert not has_sightings(read)


def test_fitted_weights_keep_more_agreement_from_lowering_confidence():
    """One video's wrong answers with wide margins must not teach the rule that a negative
    margin means a right answer."""
    rows = [StopFeatures(agreement=1.0, stated=0.4, margin=0.5, exact=1.0)] * 10
    rows += [StopFeatures(agreement=1.0, stated=0.4, margin=-0.5, exact=1.0)] * 10
    correct = [False] * 10 + [True] * 10
    w = fit_weights(rows, correct)
    assert w[3] == 0.0  # the margin weight stays at zero instead of going negative
    free = fit_weights(rows, correct, monotone=())
    assert free[3] < 0
