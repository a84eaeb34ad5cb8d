"""Faces in other styles: every style keeps the image's shape and kind, changes it more as the strength grows,
refuses what it cannot style, and the training path's styled copies are seeded and cached."""

from __future__ import annotations

import numpy as np
import pytest

from faceanim.errors import SettingError
from faceanim.style import STRENGTHS, STYLES, style_grid, stylize


@pytest.mark.parametrize("style", STYLES)
def test_every_style_keeps_shape_and_differs_by_strength(style, astronaut):
    import cv2

    rgb = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for image in (rgb, gray):
        outs = [stylize(image, style, s) for s in STRENGTHS]
        assert all(o.shape == image.shape and o.dtype == np.uint8 for o in outs)
        change = [float(np.abs(o.astype(int) - image.astype(int)).mean()) for o in outs]
        assert min(change) > 1.0  # visibly styled
        assert len({o.tobytes() for o in outs}) == len(STRENGTHS)  # each strength its own
        if style != "painted":  # smoothing and flat tones (cartoon), pencil over the photo (sketch): more is more
            assert change[-1] > change[0]
    small = gray[::3, ::3][:48, :48]  # a FER-sized face is styled at working size and brought back
    assert stylize(small, style, 2).shape == small.shape


def test_styles_refuse_what_they_cannot_style():
    face = np.zeros((48, 48), np.uint8)
    with pytest.raises(SettingError, match="unknown style"):
        stylize(face, "oil", 1)
    with pytest.raises(SettingError, match="strength"):
        stylize(face, "cartoon", 4)
    with pytest.raises(SettingError, match="uint8"):
        stylize(face.astype(np.float32), "cartoon", 1)
    with pytest.raises(SettingError, match="uint8"):
        stylize(np.zeros((4, 4), np.uint8), "sketch", 1)
    assert style_grid(face).shape == (48, 48 * (1 + len(STYLES) * len(STRENGTHS)))


def test_styled_training_copies_are_seeded_and_cached(tmp):
    from faceanim.emotion.train import TrainConfig, styled_copies

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 255, (6, 48, 48), dtype=np.uint8)
    a = styled_copies(faces, seed=3, cache=tmp / "styled.npy", progress=False)
    assert a.shape == (6, 1, 48, 48) and (tmp / "styled.npy").exists()
    b = styled_copies(faces, seed=3, cache=tmp / "styled.npy", progress=False)
    assert np.array_equal(a.numpy(), b.numpy())
    assert not np.allclose(a.numpy()[:, 0], faces / 255.0)  # they are styled
    with pytest.raises(SettingError, match="style_p"):
        TrainConfig(style_p=1.5).validate()
