"""The audience model: FER+ votes as distributions, the agreement/ambiguity read off them, the metrics
against the two baselines, and the shipped head on a real face."""

from __future__ import annotations

import numpy as np
import pytest

from faceanim.communicate import (
    AUDIENCE,
    AudienceModel,
    agreement,
    ambiguity,
    audience_metrics,
    kl_divergence,
    softmax_as_votes,
    vote_distribution,
)
from faceanim.errors import MediaError


def test_votes_become_distributions_over_our_classes():
    # FER+ columns: neutral happiness surprise sadness anger disgust fear contempt unknown NF
    votes = np.array([[0, 8, 2, 0, 0, 0, 0, 0, 0, 0],
                      [1, 0, 0, 0, 0, 0, 0, 3, 5, 1],
                      [0, 0, 0, 0, 0, 0, 0, 0, 4, 6]])
    dist, valid = vote_distribution(votes)
    assert valid.tolist() == [True, True, False] and np.isnan(dist[2]).all()
    assert dist[0, AUDIENCE.index("happy")] == pytest.approx(0.8)
    assert dist[0, AUDIENCE.index("surprise")] == pytest.approx(0.2)
    assert dist[1, AUDIENCE.index("contempt")] == pytest.approx(0.75)  # unknown and NF left out
    assert dist[1, AUDIENCE.index("neutral")] == pytest.approx(0.25)
    assert agreement(dist[:2]).tolist() == pytest.approx([0.8, 0.75])
    assert ambiguity(np.eye(8)[:1])[0] == pytest.approx(0.0)
    assert ambiguity(np.full((1, 8), 1 / 8))[0] == pytest.approx(3.0)
    with pytest.raises(MediaError):
        vote_distribution(np.zeros((2, 7)))


def test_metrics_rank_a_good_prediction_above_the_baselines():
    rng = np.random.default_rng(0)
    actual = rng.dirichlet(np.full(8, 0.3), 400)
    near = 0.9 * actual + 0.1 / 8
    prior = np.repeat(actual.mean(0, keepdims=True), len(actual), 0)
    good, flat = audience_metrics(actual, near), audience_metrics(actual, prior)
    assert good["kl"] < flat["kl"] and good["agreement_pearson"] > 0.95 and flat["agreement_pearson"] == 0.0
    assert good["majority_accuracy"] == 1.0
    assert kl_divergence(actual[:1], actual[:1])[0] == pytest.approx(0.0, abs=1e-3)
    ruled_out = softmax_as_votes(np.eye(7)[[3]])  # contempt at 0 costs a finite amount
    assert np.isfinite(kl_divergence(np.eye(8)[[7]], ruled_out)).all()


def test_fit_learns_a_mapping_and_round_trips(tmp):
    rng = np.random.default_rng(1)
    feats = rng.normal(size=(600, 16)).astype(np.float32)
    logits = feats[:, :8] * 2
    targets = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    model = AudienceModel.fit(feats, targets, epochs=200, hidden=32)  # 400 steps of 256
    assert audience_metrics(targets, model.predict(feats))["kl"] < audience_metrics(
        targets, np.full_like(targets, 1 / 8))["kl"] / 2
    again = AudienceModel.load(model.save("toy_audience", root=tmp).stem, root=tmp)
    assert np.allclose(again.predict(feats[:5]), model.predict(feats[:5]), atol=1e-6)
    with pytest.raises(MediaError):
        model.predict(feats[:, :4])


def test_shipped_audience_model_reads_a_face(astronaut):
    from faceanim.emotion import create_recognizer
    from faceanim.face import FacePipeline, align_face

    rec = create_recognizer()
    model = AudienceModel.load()
    face = FacePipeline(detector="haar")(astronaut).faces[0]
    crop = align_face(astronaut, face, "fer", size=rec.input_size).image
    reading = model.read(rec, [crop])[0]
    assert reading.distribution.shape == (8,) and reading.distribution.sum() == pytest.approx(1.0, abs=1e-5)
    assert reading.majority in AUDIENCE and 0 < reading.agreement <= 1 and 0 <= reading.ambiguity <= 3
    assert set(reading.to_dict()) >= {"majority", "agreement", "ambiguity", "votes_contempt"}


def test_the_audience_model_refuses_another_recognizers_embedding(astronaut):
    from faceanim.emotion import create_recognizer
    from faceanim.errors import SettingError

    model = AudienceModel.load()
    other = create_recognizer("emotion_resnet")
    with pytest.raises(SettingError, match="embedding"):
        model.read(other, [np.zeros((48, 48), np.uint8)])
