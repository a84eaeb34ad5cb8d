import numpy as np
import pandas as pd
import pytest
from conftest import needs

from faceanim import DataNotFoundError, FaceanimError
from faceanim.data import EMOTIONS, FER2013, load_ckplus48, load_ckplus_sequences, load_fer2013


@needs("fer2013", "ferplus")
def test_fer2013_npz_has_the_published_counts():
    fer = load_fer2013()
    counts = fer.counts()
    assert counts["Training"].tolist() == [3995, 436, 4097, 7215, 4830, 3171, 4965]
    assert counts["PublicTest"].tolist() == [467, 56, 496, 895, 653, 415, 607]
    assert counts["PrivateTest"].tolist() == [491, 55, 528, 879, 594, 416, 626]
    assert fer.images.shape == (35887, 48, 48) and fer.ferplus_votes.shape == (35887, 10)
    major = fer.ferplus_majority()
    ok = major >= 0
    assert 0.6 < (major[ok] == fer.labels[ok]).mean() < 0.7  # FER+ relabelled about a third of the faces
    assert len(fer.split("PrivateTest")) == 3589


def test_fer2013_from_kaggle_csv_and_folders(tmp):
    import cv2

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    labels = [0, 3, 6, 3, 4, 5]
    usage = ["Training", "Training", "PublicTest", "PrivateTest", "Training", "PrivateTest"]
    pd.DataFrame({"emotion": labels, "pixels": [" ".join(map(str, im.ravel())) for im in images], "Usage": usage}) \
        .to_csv(tmp / "fer2013.csv", index=False)
    fer = load_fer2013(tmp / "fer2013.csv", ferplus=False)
    assert (fer.images == images).all() and fer.labels.tolist() == labels and fer.usage.tolist() == usage

    names = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}
    for i, (im, lab, use) in enumerate(zip(images, labels, usage)):
        folder = tmp / "folders" / names[use] / EMOTIONS[lab]
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / f"{use}_{i}.png"), cv2.resize(im, (96, 96), interpolation=cv2.INTER_NEAREST))
    fer2 = load_fer2013(tmp / "folders")
    assert len(fer2) == 6 and sorted(fer2.usage.tolist()) == sorted(usage)
    assert fer2.counts().loc["happy"].sum() == 2


def test_broken_fer_inputs(tmp):
    (tmp / "bad.csv").write_text("a,b\n1,2\n")
    with pytest.raises(FaceanimError, match="not Kaggle's fer2013.csv"):
        load_fer2013(tmp / "bad.csv", ferplus=False)
    (tmp / "short.csv").write_text("emotion,pixels,Usage\n0,1 2 3,Training\n")
    with pytest.raises(FaceanimError, match="truncated"):
        load_fer2013(tmp / "short.csv", ferplus=False)
    with pytest.raises(DataNotFoundError, match="does not exist"):
        load_fer2013(tmp / "nothing.npz")


def test_missing_dataset_says_how_to_get_it(tmp, monkeypatch):
    monkeypatch.setenv("FACEANIM_DATA", str(tmp))
    with pytest.raises(DataNotFoundError, match="FACEANIM_DATA=.*Kaggle"):
        load_fer2013()
    with pytest.raises(DataNotFoundError, match="ckplus_sequences.npz"):
        load_ckplus_sequences()


def test_ferplus_distribution_maps_columns():
    votes = np.zeros((3, 10), int)
    votes[0, 1] = 10  # all "happiness"
    votes[1, [0, 4]] = 5  # half neutral, half anger
    votes[2, 9] = 10  # "not a face"
    fer = FER2013(np.zeros((3, 48, 48), np.uint8), np.array([3, 0, 6]), np.array(["Training"] * 3), votes)
    dist = fer.ferplus_distribution()
    assert dist[0, 3] == 1.0 and dist[1, 0] == 0.5 and dist[1, 6] == 0.5 and np.isnan(dist[2]).all()
    assert fer.ferplus_majority().tolist() == [3, 0, -1]


@needs("ckplus_sequences", "ckplus48")
def test_ckplus_loaders():
    ck = load_ckplus_sequences()
    assert len(ck) == 40 and len(ck.subjects) == 10 and ck.table().frames.sum() == 684
    seq = ck[0]
    assert seq.frames.ndim == 3 and seq.progress[0] == 0 and seq.progress[-1] == 1
    assert EMOTIONS[seq.fer_label] in ("angry", "disgust", "fear", "happy", "sad", "surprise")
    folds = ck.leave_subjects_out()
    held = [ck[i].subject for _, test in folds for i in test]
    assert sorted(set(held)) == ck.subjects and len(held) == len(ck)  # each sequence held out exactly once
    for train, test in folds:
        assert not {ck[i].subject for i in train} & {ck[i].subject for i in test}
    ck48 = load_ckplus48()
    assert len(ck48) == 981 and (ck48.labels == -1).sum() == 54
    assert ck48.counts()["happy"] == 207


def test_one_home_for_labels():
    from faceanim.data.ckplus import CKSequence
    from faceanim.errors import SettingError
    from faceanim.labels import ALIASES, EMOTIONS, EXPRESSIONS, Emotion, label_id, to_emotion

    assert EMOTIONS == tuple(e.value for e in Emotion) and Emotion.NEUTRAL.id == 6
    assert EXPRESSIONS == EMOTIONS[:6] and set(ALIASES.values()) == set(EMOTIONS)
    assert [label_id(w) for w in ("anger", "disgust", "fear", "happiness", "sadness", "surprise")] == list(range(6))
    assert CKSequence("s", "S1", "sadness", np.zeros((2, 8, 8), np.uint8)).fer_label == 4
    with pytest.raises(SettingError, match="unknown emotion 'contempt'"):
        to_emotion("contempt")
