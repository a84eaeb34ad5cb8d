"""The communication-effect machinery: FER+ votes as distributions and the audience model; clips read frame by
frame and summarised (arc, mixed signals, clarity); the sequence predictor under cross-validation and a
user's own labels; the CLI; the animator's readability loop."""

from __future__ import annotations

import json

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


# ------------------------------------------------------------------ clips: arc, mixed signals, summary
from faceanim.communicate import (  # noqa: E402
    FRAME_FEATURES,
    MIN_FRAMES,
    LabelError,
    SequencePredictor,
    choose_readable,
    clip_from_frames,
    cross_validate,
    intensity_arc,
    load_labels,
    mixed_moments,
    summarize,
)
from faceanim.errors import NoFaceError, SettingError  # noqa: E402


def _votes_for(emotion: str, share: float, n: int) -> np.ndarray:
    v = np.full((n, len(AUDIENCE)), (1 - share) / (len(AUDIENCE) - 1), np.float32)
    v[:, AUDIENCE.index(emotion)] = share
    return v


def _synthetic_reading(n: int = 60, found=None, emotion: str = "happy"):
    """A clip whose intensity rises from frame 10 to 31, holds to 40 and falls back by 51."""
    curve = np.interp(np.arange(n), [0, 10, 31, 40, 51, n - 1], [0, 0, 1, 1, 0, 0]).astype(np.float32)
    votes = _votes_for("neutral", 0.9, n)
    shown = curve > 0.3
    votes[shown] = _votes_for(emotion, 0.8, int(shown.sum()))
    probs = np.zeros((n, 7), np.float32)
    probs[:, 6] = 1 - curve
    probs[:, 3] = curve
    found = np.ones(n, bool) if found is None else found
    return clip_from_frames("synthetic", 25.0, found, np.tile([0, 0, 10, 10], (n, 1)), probs, curve, votes), curve


def test_the_arc_is_found_where_it_is():
    _, curve = _synthetic_reading()
    arc = intensity_arc(curve)
    assert arc.onset == 15 and arc.offset == 49 and arc.apex == 35  # 20% up, the middle of the >= 90% run, 20% down
    assert arc.peak == pytest.approx(1.0) and arc.baseline == pytest.approx(0.0)
    rising = intensity_arc(np.linspace(0, 1, 20))  # a CK+-like clip that ends at its apex: no offset
    assert rising.offset is None and rising.apex >= 18
    with pytest.raises(MediaError):
        intensity_arc(np.array([0.1, np.nan]))


def test_mixed_moments_are_runs_where_two_emotions_compete():
    v = _votes_for("happy", 0.9, 20)
    v[5:9] = 0.0
    v[5:9, AUDIENCE.index("happy")], v[5:9, AUDIENCE.index("surprise")] = 0.45, 0.4
    runs = mixed_moments(v)
    assert len(runs) == 1 and (runs.start[0], runs.end[0], runs.frames[0]) == (5, 8, 4)
    assert {runs.first[0], runs.second[0]} == {"happy", "surprise"}
    assert mixed_moments(v, found=np.r_[np.ones(5, bool), np.zeros(15, bool)]).empty  # lost-face frames do not count


def test_summary_of_a_clip_reads_clarity_arc_and_consistency():
    reading, _ = _synthetic_reading()
    s = summarize(reading, emotion="happy", sigma=0)
    assert s.emotion == "happy" and s.emotion_from == "given" and s.arc_from == "recognizer intensity"
    assert s.clarity == pytest.approx(0.8, abs=0.05) and s.consistency > 0.9
    assert s.arc.apex == 35 and s.clarity_peak == pytest.approx(0.8)
    d = s.to_dict()
    assert d["arc"]["apex_s"] == pytest.approx(35 / 25) and d["face_frames"] == 60 and not d["notes"]
    assert s.apex_votes()["happy"] == pytest.approx(0.8)
    assert summarize(reading, sigma=0).emotion == "happy"  # no model: the audience's majority near the peak
    with pytest.raises(SettingError):
        summarize(reading, emotion="bored")


def test_a_face_lost_half_way_is_held_and_said():
    found = np.ones(60, bool)
    found[30:] = False
    reading, _ = _synthetic_reading(found=found)
    assert reading.face_frames == 30
    assert np.allclose(reading.features[45, :-1], reading.features[29, :-1])  # held from the last frame with a face
    assert reading.features[45, -1] == 0 and reading.features[29, -1] == 1  # and marked
    s = summarize(reading, emotion="happy")
    assert any("no face in 30 of 60 frames" in n for n in s.notes)
    with pytest.raises(NoFaceError, match="no face was found"):
        _synthetic_reading(found=np.zeros(60, bool))


def test_a_clip_too_short_for_the_sequence_model_falls_back_and_says_so():
    reading, _ = _synthetic_reading(n=MIN_FRAMES - 3)
    model = SequencePredictor.load("clip_emotion")
    s = summarize(reading, predictor=model)
    assert s.emotion_from == "audience majority near the peak" and any("sequence model needs" in n for n in s.notes)
    with pytest.raises(SettingError, match="at least"):
        model.predict_proba([reading.features])


def _toy_clips(n: int = 36, seed: int = 0):
    rng = np.random.default_rng(seed)
    seqs, labels, groups = [], [], []
    for i in range(n):
        c = i % 3
        s = rng.normal(0, 0.3, (int(rng.integers(12, 40)), len(FRAME_FEATURES))).astype(np.float32)
        s[:, c] += np.linspace(0, 2, len(s))  # the class shows as a rising feature
        seqs.append(s)
        labels.append(("happy", "sad", "surprise")[c])
        groups.append(f"p{i // 3}")
    return seqs, labels, groups


def test_cross_validation_runs_every_model_on_the_same_folds_and_tests_the_difference():
    seqs, labels, groups = _toy_clips()
    cv = cross_validate(seqs, labels, groups, folds=4, epochs=25, progress=False)
    assert cv.split == "stratified 4-fold, groups held out" and cv.classes == ("happy", "sad", "surprise")
    acc = cv.summary[cv.summary.metric == "accuracy"].set_index("model")
    assert set(acc.index) == {"full", "temporal", "visual", "svm", "random_forest"}
    assert acc.loc["full", "mean"] > 0.8 and acc.loc["random_forest", "mean"] > 0.8  # chance is 1/3
    assert (acc.ci_low <= acc["mean"]).all() and (acc["mean"] <= acc.ci_high).all()
    assert cv.test["best_baseline"] in ("svm", "random_forest") and 0 <= cv.test["p_value"] <= 1
    assert len(cv.folds) == 4 * 5 and len(cv.predictions) == len(seqs)
    assert "auc" in set(cv.summary.metric) and cv.table().shape[0] == 5
    # the same machinery on a score
    scores = [float(s[:, 0].mean()) for s in seqs]
    sc = cross_validate(seqs, scores, task="score", folds=3, models=("full", "random_forest"), epochs=15,
                        progress=False)
    assert set(sc.summary.metric) == {"r2", "spearman"} and sc.test["metric"] == "spearman"


def test_a_sequence_model_round_trips_through_its_weights(tmp):
    seqs, labels, _ = _toy_clips(18)
    curves = [np.linspace(0, 1, len(s)) for s in seqs]
    model = SequencePredictor.fit(seqs, labels, frame_targets=curves, epochs=10)
    model.save("toy", root=tmp)
    back = SequencePredictor.load("toy", root=tmp)
    assert np.allclose(model.predict_proba(seqs[:3]), back.predict_proba(seqs[:3]), atol=1e-6)
    assert back.classes == model.classes and back.frame_intensity(seqs[0]).shape == (len(seqs[0]),)
    with pytest.raises(SettingError, match="feature rows"):
        model.predict([np.zeros((20, 3))])


def test_labels_that_do_not_match_the_clips_are_refused_clearly(tmp):
    import pandas as pd

    names = ["a", "b", "c", "d"]
    good = pd.DataFrame({"clip": ["a.mp4", "b.mp4", "c.mp4", "d.mp4"], "engagement": ["hi", "lo", "hi", "lo"]})
    targets, groups, task, target, extra = load_labels(good, names)
    assert targets == ["hi", "lo", "hi", "lo"] and task == "class" and groups is None and not extra
    path = tmp / "labels.csv"
    good.assign(score=[0.1, 0.5, 0.7, 0.9]).drop(columns="engagement").to_csv(path, index=False)
    assert load_labels(path, names)[2] == "score"
    with pytest.raises(LabelError, match="no label"):
        load_labels(good.iloc[:3], names)
    with pytest.raises(LabelError, match="more than once"):
        load_labels(pd.concat([good, good.iloc[:1]]), names)
    with pytest.raises(LabelError, match="'clip' column"):
        load_labels(good.rename(columns={"clip": "file"}), names)
    with pytest.raises(LabelError, match="which column"):
        load_labels(good.assign(other=1), names)
    with pytest.raises(LabelError, match="does not exist"):
        load_labels(tmp / "missing.csv", names)
    seqs, _, _ = _toy_clips(4)
    with pytest.raises(LabelError, match="at least two classes"):
        cross_validate(seqs, ["hi"] * 4, progress=False)
    with pytest.raises(LabelError, match="single clip"):
        cross_validate(seqs, ["hi", "hi", "hi", "lo"], progress=False)


def test_the_readable_choice_is_the_smallest_amount_read_as_meant_with_the_face_kept():
    import pandas as pd

    table = pd.DataFrame({"amount": [0.2, 0.5, 1.0, 2.0], "intensity": [0.2, 0.5, 1.0, 1.0],
                          "exaggeration": [1.0, 1.0, 1.0, 2.0], "agreement": [0.1, 0.75, 0.8, 0.95],
                          "majority": ["neutral", "happy", "happy", "happy"],
                          "same_person": [True, False, True, False]})
    choice = choose_readable(table, "happy", 0.7)
    assert choice.reached and choice.amount == 1.0  # 0.5 reads as happy but lost the person
    assert not choose_readable(table, "happy", 0.9).reached  # only the exaggerated one, which lost the person


# ------------------------------------------------------------------ real clips, the CLI and the loop
@pytest.fixture(scope="module")
def animated_clip(tmp_path_factory, astronaut):
    """The demo photo animated to surprise and back (rise 10, hold 4), written as an MP4, with its frames."""
    from faceanim.animate import Animator
    from faceanim.communicate import emotion_clip
    from faceanim.io import write_video

    clip = emotion_clip(Animator(), astronaut, "surprise", 1.0, lead=3, rise=10, hold=4, person="astronaut")
    path = tmp_path_factory.mktemp("clip") / "astronaut_surprise.mp4"
    write_video(path, clip.frames, fps=clip.fps)
    return path, clip


def test_an_animation_is_read_frame_by_frame_and_its_known_arc_is_kept(animated_clip):
    from faceanim.communicate import read_clip

    path, clip = animated_clip
    assert len(clip.frames) == 3 + 10 + 4 + 10 + 3 and clip.truth.max() == pytest.approx(1.0)
    truth = intensity_arc(clip.truth)
    assert truth.onset > 3 and truth.apex == 3 + 10 + 1 and truth.offset < len(clip.frames) - 3
    reading = read_clip(path, progress=False)
    assert len(reading) == len(clip.frames) and reading.face_frames == len(clip.frames)
    assert reading.features.shape == (len(clip.frames), len(FRAME_FEATURES)) and np.isfinite(reading.features).all()
    assert np.allclose(reading.table.filter(like="votes_").sum(1), 1.0, atol=1e-4)
    s = summarize(reading, predictor=SequencePredictor.load("clip_emotion"))
    assert s.emotion in AUDIENCE and s.emotion_from.startswith("sequence model")
    assert abs(sum(s.emotion_probabilities.values()) - 1) < 1e-4 and 0 <= s.clarity <= 1


def test_communicate_cli_prints_the_summary_and_writes_the_table(animated_clip, tmp, capsys):
    import pandas as pd

    from faceanim.cli import main

    path, _ = animated_clip
    assert main(["communicate", str(path), "--emotion", "surprise", "--json", "--table", str(tmp / "f.csv")]) == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert out["emotion"] == "surprise" and out["emotion_from"] == "given" and out["frames"] == 30
    table = pd.read_csv(tmp / "f.csv")
    assert len(table) == 30 and {"clarity", "intensity_smooth", "mixed", "votes_surprise"} <= set(table.columns)
    assert main(["communicate", str(path), "--smoothing", "0"]) == 0
    text = capsys.readouterr().out
    assert "clarity" in text and "arc" in text and "sequence model" in text
    assert main(["communicate", str(path), "--table", str(path)]) == 2  # never over the input
    assert main(["communicate", str(path), "--smoothing", "-1"]) == 2
    assert main(["communicate", str(tmp / "missing.mp4")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err


def test_a_clip_without_a_face_is_a_clear_error(tmp, capsys):
    from faceanim.cli import main
    from faceanim.io import write_video

    rng = np.random.default_rng(0)
    write_video(tmp / "noise.mp4", [rng.integers(0, 255, (96, 96, 3), dtype=np.uint8) for _ in range(10)], fps=10)
    assert main(["communicate", str(tmp / "noise.mp4")]) == 2
    err = capsys.readouterr().err
    assert "no face was found in any of the 10 frames" in err and "Traceback" not in err
    from faceanim.io import write_image

    write_image(tmp / "still.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    assert main(["communicate", str(tmp / "still.png")]) == 2
    assert "still image" in capsys.readouterr().err
    assert main(["communicate", str(tmp)]) == 2
    assert "folder" in capsys.readouterr().err


def test_fit_on_your_own_labels_from_readings(tmp):
    import pandas as pd

    from faceanim.communicate import fit

    seqs, labels, groups = _toy_clips(24)
    readings = [clip_from_frames(f"clip{i}", 25.0, np.ones(len(s), bool), np.zeros((len(s), 4)), s[:, :7],
                                 s[:, 7], s[:, 8:16]) for i, s in enumerate(seqs)]
    csv = tmp / "labels.csv"
    pd.DataFrame({"clip": [f"clip{i}.mp4" for i in range(24)], "engagement": labels, "group": groups}).to_csv(csv, index=False)
    res = fit(readings, csv, folds=3, models=("full", "svm"), epochs=10, progress=False)
    assert res.target == "engagement" and res.cv.split.startswith("stratified 3-fold, groups held out")
    assert res.model.classes == ("happy", "sad", "surprise") and len(res.model.predict([r.features for r in readings[:2]])) == 2


def test_the_readability_loop_renders_reads_and_checks_identity(astronaut):
    from faceanim.animate import Animator
    from faceanim.communicate import readability

    table = readability(Animator(), astronaut, "surprise", amounts=(0.3, 1.0, 2.5))
    assert table.amount.tolist() == [0.3, 1.0, 2.5] and table.exaggeration.tolist() == [1.0, 1.0, 2.5]
    assert table.agreement.between(0, 1).all() and table.identity.iloc[0] < table.identity.iloc[-1]
    assert table.same_person.iloc[0]
    with pytest.raises(SettingError):
        readability(Animator(), astronaut, "neutral")


def test_a_model_of_other_labels_cannot_name_the_emotion():
    seqs, _, _ = _toy_clips(12)
    engagement = SequencePredictor.fit(seqs, ["high", "low"] * 6, epochs=2)
    reading, _ = _synthetic_reading()
    with pytest.raises(SettingError, match="not emotions"):
        summarize(reading, predictor=engagement)
    assert summarize(reading, emotion="happy", predictor=None).emotion == "happy"
