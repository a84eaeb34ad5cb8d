"""The emotion recognizer: weights and checksums, training (resume), intensity, metrics, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import needs

from faceanim.emotion import EmotionNet, NetConfig, TrainConfig, create_recognizer, train_emotion
from faceanim.emotion.evaluate import CORRUPTIONS, classification_metrics, corrupt, expected_calibration_error
from faceanim.emotion.intensity import fit_intensity_head, spearman
from faceanim.emotion.recognizer import DEFAULT_RECOGNIZER, to_gray48
from faceanim.emotion.train import augment_batch, soft_targets
from faceanim.errors import BackendError, MediaError, SettingError, WeightsError
from faceanim.labels import EMOTIONS
from faceanim.weights import available_weights, load_weights, save_weights

SMALL = NetConfig(widths=(8, 16), blocks=(1, 1))


@pytest.fixture(scope="module")
def rec():
    return create_recognizer()


# ---------------------------------------------------------------- weights
def _tiny_weights(root, name="tiny"):
    model = EmotionNet(SMALL)
    return save_weights({"model": model.state_dict()}, name, {"kind": "emotion", "net": SMALL.to_dict()}, root=root)


def test_weights_roundtrip_and_checksum(tmp):
    path = _tiny_weights(tmp)
    state, meta = load_weights("tiny", root=tmp, kind="emotion")
    assert meta["sha256"] and meta["bytes"] == path.stat().st_size
    assert set(state["model"]) == set(EmotionNet(SMALL).state_dict())
    assert available_weights(kind="emotion", root=tmp) == ["tiny"]
    with pytest.raises(WeightsError, match="not 'animation'"):
        load_weights("tiny", root=tmp, kind="animation")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="damaged"):
        load_weights("tiny", root=tmp)
    path.unlink()
    with pytest.raises(WeightsError, match="missing"):
        load_weights("tiny", root=tmp)
    with pytest.raises(WeightsError, match="no weights named 'nope'"):
        load_weights("nope", root=tmp)


def test_unknown_recognizer_is_a_clear_error():
    with pytest.raises(BackendError, match="unknown recognizer 'nope'"):
        create_recognizer("nope")


def test_committed_weights_exist_and_verify():
    assert DEFAULT_RECOGNIZER in available_weights(kind="emotion")
    state, meta = load_weights(DEFAULT_RECOGNIZER)
    assert meta["bytes"] < 30e6
    for key in ("training_seconds", "hardware", "command", "history", "public_test_accuracy", "intensity_head"):
        assert key in meta, key
    assert "CK+" in meta["intensity_head"]["trained_on"]


# ---------------------------------------------------------------- pieces of training
def test_soft_targets_mix_ferplus_votes():
    labels = np.array([0, 3, 6])
    dist = np.array([[0, 0, 0, 0, 0, 0, 1.0], [np.nan] * 7, [0.5, 0, 0, 0, 0, 0, 0.5]])
    t = soft_targets(labels, dist, mix=0.2)
    np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(t[0], [0.8, 0, 0, 0, 0, 0, 0.2])
    np.testing.assert_allclose(t[1], np.eye(7)[3] * 0.8 + 0.2 / 7)  # no votes: uniform share
    np.testing.assert_allclose(soft_targets(labels, dist, 0.0), np.eye(7)[labels])


def test_augment_batch_is_seeded_and_keeps_shape():
    x = torch.rand(16, 1, 48, 48)
    a = augment_batch(x, TrainConfig(), torch.Generator().manual_seed(3))
    b = augment_batch(x, TrainConfig(), torch.Generator().manual_seed(3))
    c = augment_batch(x, TrainConfig(), torch.Generator().manual_seed(4))
    assert a.shape == x.shape and torch.equal(a, b) and not torch.equal(a, c)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 1.0
    still = TrainConfig(rotation=0, scale=(1, 1), shift=0, erase_p=0, blur_p=0)
    out = augment_batch(x, still, torch.Generator().manual_seed(0))
    for i in range(16):  # with no jitter left, each face is itself or its mirror image
        assert torch.allclose(out[i], x[i], atol=1e-5) or torch.allclose(out[i], x[i].flip(2), atol=1e-5)


@needs("fer2013")
def test_training_resumes_and_refuses_other_settings(tmp, caplog):
    import logging

    from faceanim.data import load_fer2013

    fer = load_fer2013()
    cfg = TrainConfig(epochs=2, limit=256, batch_size=64, net=SMALL, precision="fp32")
    first = train_emotion(cfg, run_dir=tmp, data=fer, progress=False, stop_after=1)
    assert len(first.history) == 1 and (tmp / "checkpoint.pt").exists() and (tmp / "best.pt").exists()
    assert not [p for p in tmp.iterdir() if p.name.startswith(".")]  # no temporary files left behind
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="faceanim"):
        second = train_emotion(cfg, run_dir=tmp, data=fer, progress=False)
    logs = [r.getMessage() for r in caplog.records if r.name == "faceanim.emotion.train"]
    assert list(second.history["epoch"]) == [1, 2]
    assert logs[0].startswith("training with fp32") and logs[1].startswith("resuming") and "epoch 2/2" in logs[2]
    # the resumed epoch continues the same run: epoch 1's row is kept as it was
    assert second.history.iloc[0].to_dict() == first.history.iloc[0].to_dict()
    with pytest.raises(SettingError, match="another configuration"):
        train_emotion(TrainConfig(epochs=3, limit=256, batch_size=64, net=SMALL), run_dir=tmp, data=fer,
                      progress=False)
    with pytest.raises(SettingError):
        TrainConfig(ferplus_mix=2.0).validate()
    if not torch.cuda.is_available():
        with pytest.raises(SettingError, match="no usable GPU"):
            train_emotion(cfg, run_dir=tmp / "gpu", data=fer, progress=False, device="cuda")
    with pytest.raises(SettingError, match="unknown device"):
        train_emotion(cfg, run_dir=tmp / "gpu", data=fer, progress=False, device="tpu")
    # a warm restart starts from the other run's weights, with its own schedule
    warm_cfg = TrainConfig(epochs=1, limit=256, batch_size=64, net=SMALL, precision="fp32", lr=1e-9, weight_decay=0,
                           init_from=str(tmp / "checkpoint.pt"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="faceanim"):
        train_emotion(warm_cfg, run_dir=tmp / "warm", data=fer, progress=False)
    assert any(r.getMessage().startswith("starting from") for r in caplog.records)
    before = torch.load(tmp / "checkpoint.pt", weights_only=False)["model"]
    after = torch.load(tmp / "warm" / "checkpoint.pt", weights_only=False)["model"]
    convs = [k for k, v in before.items() if k.endswith("weight") and v.ndim == 4]
    assert convs and all(torch.allclose(before[k], after[k], atol=1e-6) for k in convs)  # lr ~0: same weights
    with pytest.raises(SettingError, match="does not exist"):
        train_emotion(TrainConfig(epochs=1, limit=256, net=SMALL, init_from=str(tmp / "none.pt")),
                      run_dir=tmp / "bad", data=fer, progress=False)


# ---------------------------------------------------------------- intensity
def test_intensity_head_learns_an_ordering():
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(8):
        t = np.linspace(0, 1, 12)[:, None]
        direction = np.zeros((1, 6))
        direction[0, 2] = 3.0
        seqs.append(rng.normal(size=(12, 6)) * 0.3 + t * direction)
    w, b = fit_intensity_head(seqs[:6])
    for s in seqs[6:]:
        score = 1 / (1 + np.exp(-(s @ w + b)))
        assert spearman(score) > 0.9
        assert score[0] < 0.35 and score[-1] > 0.65
    assert np.isnan(spearman(np.ones(5)))


# ---------------------------------------------------------------- metrics
def test_metrics_on_known_predictions():
    labels = np.array([0, 0, 3, 3, 6, 6])
    probs = np.full((6, 7), 0.01)
    for i, p in enumerate([0, 3, 3, 3, 6, 0]):
        probs[i, p] = 0.94
    m = classification_metrics(probs, labels)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["recall_happy"] == 1.0 and m["precision_happy"] == pytest.approx(2 / 3)
    ece, table = expected_calibration_error(probs, labels)
    assert ece == pytest.approx(abs(0.94 - 4 / 6), abs=1e-9)
    assert table["n"].sum() == 6


def test_corruptions_keep_faces_the_same_shape():
    face = (np.arange(48 * 48) % 251).astype(np.uint8).reshape(48, 48)
    for name in CORRUPTIONS:
        out = corrupt(face[None], name)
        assert out.shape == (1, 48, 48) and out.dtype == np.uint8, name
    assert (corrupt(face[None], "occlude_eyes")[0, 15:24] == 0).all()
    assert corrupt(face[None], "darker").mean() < face.mean() < corrupt(face[None], "brighter").mean()
    np.testing.assert_array_equal(corrupt(face[None], "clean")[0], face)


def test_to_gray48_accepts_any_crop():
    assert to_gray48(np.zeros((120, 100, 3), np.uint8)).shape == (48, 48)
    assert to_gray48(np.ones((48, 48), np.float32) * 0.5)[0, 0] == 128   # rounded, as every float image is
    with pytest.raises(MediaError, match="face crop"):
        to_gray48(np.zeros((2, 2)))


# ---------------------------------------------------------------- the committed model
def test_recognizer_reads_the_astronaut(rec, astronaut):
    readings = rec.recognize(astronaut)
    assert len(readings) == 1
    r = readings[0]
    assert r.label in EMOTIONS and r.probabilities.shape == (7,)
    assert r.probabilities.sum() == pytest.approx(1.0, abs=1e-4)
    assert 0.0 <= r.intensity <= 1.0 and r.face is not None
    assert r.label == "happy"  # she smiles
    table = rec.to_frame(readings)
    assert list(table["label"]) == ["happy"] and {"p_happy", "intensity", "x1"} <= set(table.columns)
    assert r.shown == ("happy" if r.intensity >= rec.threshold else "neutral")


def test_no_face_gives_no_reading(rec):
    assert rec.recognize(np.full((200, 200, 3), 128, np.uint8)) == []
    probs, inten = rec.predict([])
    assert probs.shape == (0, 7) and inten.shape == (0,)


@needs("fer2013", "ferplus")
def test_model_accuracy_and_intensity_on_real_faces(rec):
    from faceanim.data import load_fer2013
    from faceanim.emotion.intensity import fer_anchor_faces

    fer = load_fer2013()
    public = fer.split("PublicTest").subset(np.arange(600))
    probs, _ = rec.predict(public.images)
    assert (probs.argmax(1) == public.labels).mean() > 0.62  # chance is 0.25 (always 'happy')
    neutral, expressive = fer_anchor_faces(fer, split="PublicTest", limit=200)
    _, i_neu = rec.predict(neutral)
    _, i_exp = rec.predict(expressive)
    assert np.median(i_exp) > np.median(i_neu) + 0.2


@needs("ckplus_sequences")
def test_intensity_rises_along_ckplus_sequences(rec):
    from faceanim.data import load_ckplus_sequences
    from faceanim.emotion.intensity import align_ckplus

    seqs = load_ckplus_sequences()
    ck = align_ckplus([seqs[i] for i in (0, 10, 20, 30)], progress=False)
    for crops in ck.crops:
        _, inten = rec.predict(crops)
        assert spearman(inten) > 0.5
        assert inten[-1] > inten[0]


# ---------------------------------------------------------------- CLI
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "faceanim", *args], capture_output=True, text=True, timeout=300)


def test_cli_recognize_json(tmp, astronaut):
    from faceanim.io import write_image

    write_image(tmp / "a.png", astronaut)
    crop = to_gray48(astronaut[30:230, 140:320])
    write_image(tmp / "crop48.png", crop)
    write_image(tmp / "blank.png", np.full((100, 100, 3), 200, np.uint8))
    out = _cli("recognize", str(tmp / "a.png"), "--json")
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == 1
    assert set(rows[0]) >= {"path", "box", "label", "probabilities", "intensity"}
    assert sum(rows[0]["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    out = _cli("recognize", "--aligned", "--json", str(tmp / "crop48.png"))
    assert out.returncode == 0 and json.loads(out.stdout)["box"] is None
    out = _cli("recognize", str(tmp / "blank.png"))      # no face in any input: exit 2, and it says so
    assert out.returncode == 2 and "no face found" in out.stderr
    out = _cli("recognize", str(tmp / "a.png"), "--threshold", "3")
    assert out.returncode == 2 and "--threshold: must be a finite number from 0 to 1" in out.stderr
    out = _cli("recognize", str(tmp / "missing.png"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
