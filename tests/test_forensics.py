"""The animated-face detector: its dataset (real and animated crops, held out by person), its net, the
shipped weights, and `faceanim verify --detect`."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs

from faceanim.errors import MediaError


def test_net_shapes_and_training_step_move_the_loss():
    import torch

    from faceanim.forensics import INPUT, FakeNet, _fit, _score

    net = FakeNet()
    assert net(torch.zeros(2, 3, INPUT, INPUT)).shape == (2,)
    rng = np.random.default_rng(0)
    # a toy task with a real cue: "animated" crops are smoother (what a warp + refiner leaves)
    real = rng.integers(0, 256, (48, 64, 64, 3), dtype=np.uint8)
    import cv2

    fake = np.stack([cv2.GaussianBlur(c, (9, 9), 3) for c in real])
    crops = np.concatenate([real, fake])
    crops = np.stack([cv2.resize(c, (256, 256)) for c in crops])
    labels = np.array([0] * 48 + [1] * 48)
    trained = _fit(crops, labels, epochs=40, seed=0, progress=False, desc="toy", size=64)  # 40 steps of 64
    p = _score(trained, crops, size=64)
    assert p[labels == 1].mean() > p[labels == 0].mean() + 0.2


@needs("face_videos")
def test_dataset_holds_real_and_animated_crops_of_each_person(tmp):
    from faceanim.forensics import FakeDataset, build_dataset, cross_validate

    data = build_dataset(max_frames=3, emotion_frames=2, people=["liveportrait_d0", "tpsmm_driving"],
                         progress=False)
    meta = data.meta
    assert data.crops.shape[1:] == (256, 256, 3) and len(meta) == len(data)
    assert set(meta["person"]) == {"liveportrait_d0", "tpsmm_driving"}
    assert set(meta["mode"]) == {"real", "emotion", "emotion_warp", "driving"}
    assert ((meta["mode"] == "real") == (meta["label"] == 0)).all()
    again = FakeDataset.load(data.save(tmp / "d.npz"))
    assert np.array_equal(again.crops, data.crops) and again.meta["person"].tolist() == meta["person"].tolist()
    scored = cross_validate(data, folds=2, epochs=1, progress=False)
    # each person scored by the fold that did not train on them
    assert scored.groupby("person")["fold"].nunique().eq(1).all() and scored["fold"].nunique() == 2
    assert scored.filter(like="p_").notna().all().all()


def test_shipped_detector_scores_faces_and_says_when_there_is_none(astronaut, tmp, capsys):
    from faceanim.forensics import AnimatedFaceDetector

    det = AnimatedFaceDetector.load()
    p = det.score(astronaut)
    assert p is not None and 0.0 <= p <= 1.0
    assert det.score(np.full((120, 120, 3), 128, np.uint8)) is None
    with pytest.raises(MediaError):
        det.score(astronaut[..., 0])
    from faceanim.cli import main
    from faceanim.io import write_image

    write_image(tmp / "real.png", astronaut)
    assert main(["verify", "--detect", str(tmp / "real.png")]) == 0
    assert "detector" in capsys.readouterr().out
