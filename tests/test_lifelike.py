"""Emotion animation learned from MEAD: speech taken out of talking clips, head pose turned frontal, motion
and colour texture pooled with CK+, the emotion-conditioned generator, the 512 px crop, and the comparison
with real expressions (faceanim.animate.truth)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import needs
from test_animate import _clip, _face68

from faceanim.animate.clips import Clip
from faceanim.animate.keypoints import apply_affine, normalizing_transform
from faceanim.animate.motion import (
    SPEECH_POINTS,
    EmotionMotion,
    PoseData,
    expression_shape,
    learn_emotion_motion,
    mouth_opening,
    pose_basis,
    rest_frames,
)
from faceanim.errors import SettingError


def _unit(lm):
    return apply_affine(normalizing_transform(lm), lm)


def _scale(lm) -> float:
    """The normalising similarity's scale for this face (crop pixels -> unit frame)."""
    return float(np.linalg.norm(normalizing_transform(lm)[:, 0]))


def _talking(base: np.ndarray, n: int = 40, seed: int = 0, brow: float = 0.0, corner: float = 0.0) -> np.ndarray:
    """``(n, 68, 2)`` frames of a face that speaks (the lower lip and the jaw drop by a random amount, a
    quarter of the frames closed) while it holds an expression: brows moved by ``brow`` px, mouth corners
    by ``corner`` px (up is negative)."""
    rng = np.random.default_rng(seed)
    out = []
    for t in range(n):
        lm = base.copy()
        lm[17:27, 1] += brow
        lm[[48, 54], 1] += corner
        drop = 0.0 if t % 4 == 0 else rng.uniform(4, 14)
        lm[[49, 50, 51, 52, 53, 61, 62, 63], 1] += drop  # the lower lip of this layout (see _face68)
        lm[6:11, 1] += drop * 0.6
        out.append(lm)
    return np.stack(out)


def test_expression_shape_takes_the_upper_face_from_the_median_and_the_mouth_from_rest_frames():
    base = _face68()
    frames = _talking(base, brow=-6.0, corner=-4.0)
    unit = np.stack([_unit(lm) for lm in frames])
    rest = rest_frames(unit)
    assert len(rest) == 8
    # the rest frames are the closed ones (every 4th frame); their gap is the smallest
    assert mouth_opening(unit[rest]).max() <= mouth_opening(unit).min() + 1e-9
    assert all(t % 4 == 0 for t in rest)
    shape = expression_shape(frames)
    closed = _unit(frames[0])
    # the speech is gone from the lips and jaw: the shape is the closed-mouth one there
    np.testing.assert_allclose(shape[SPEECH_POINTS], closed[SPEECH_POINTS], atol=1e-6)
    # and the held expression is kept above the mouth (brows raised by 6 px of a 60 px eye span)
    neutral = expression_shape(_talking(base, seed=1))
    assert (shape - neutral)[17:27, 1].mean() == pytest.approx(-6.0 * _scale(base), rel=0.05)


def test_mead_motion_cancels_speech_and_pools_with_ckplus():
    base = _face68()
    mead = [Clip(name="A_neutral", kind="mead", person="A", emotion="neutral", fps=25.0,
                 frames=np.zeros((40, 8, 8, 3), np.uint8), landmarks=_talking(base, seed=2).astype(np.float32),
                 found=np.ones(40, bool)),
            Clip(name="A_happy", kind="mead", person="A", emotion="happy", fps=25.0,
                 frames=np.zeros((40, 8, 8, 3), np.uint8),
                 landmarks=_talking(base, seed=3, corner=-8.0).astype(np.float32), found=np.ones(40, bool)),
            Clip(name="A_contempt", kind="mead", person="A", emotion="contempt", fps=25.0,
                 frames=np.zeros((40, 8, 8, 3), np.uint8),
                 landmarks=_talking(base, seed=4, brow=3.0).astype(np.float32), found=np.ones(40, bool)),
            Clip(name="B_happy", kind="mead", person="B", emotion="happy", fps=25.0,  # no neutral clip: unusable
                 frames=np.zeros((40, 8, 8, 3), np.uint8), landmarks=_talking(base, seed=5).astype(np.float32),
                 found=np.ones(40, bool))]
    only = learn_emotion_motion(mead, sources=("mead",))
    assert only.sources["mead"] == {"contempt": 1, "happy": 1} and only.skipped == ["B_happy"]
    d = only.displacement["happy"]
    assert d[[48, 54], 1].mean() == pytest.approx(-8.0 * _scale(base), rel=0.05)  # the smile, in unit-frame units
    assert np.abs(d[[51, 62]]).max() < 0.02  # the speech's dropping lip is not in it
    assert "contempt" in only.displacement and only.offsets("contempt").shape == (68, 2)
    # pooled: half CK+'s mean, half MEAD's
    ck_apex = base.copy()
    ck_apex[[48, 54], 1] -= 4.0
    ck = [_clip("S1_1", "S1", "happiness", np.linspace(base, ck_apex, 6))]
    pooled = learn_emotion_motion(ck + mead)
    ck_only = learn_emotion_motion(ck + mead, sources=("ckplus",))
    np.testing.assert_allclose(pooled.displacement["happy"],
                               0.5 * ck_only.displacement["happy"] + 0.5 * d, atol=1e-9)
    assert pooled.sources == {"ckplus": {"happy": 1}, "mead": {"contempt": 1, "happy": 1}}
    assert learn_emotion_motion(ck + mead, mead_weight=0.0).displacement["happy"] == pytest.approx(
        ck_only.displacement["happy"])
    restored = EmotionMotion.from_state(pooled.to_state())
    assert restored.sources == pooled.sources and restored.emotions == pooled.emotions
    with pytest.raises(SettingError):
        learn_emotion_motion(mead, sources=("kdef",))
    with pytest.raises(SettingError):
        learn_emotion_motion(mead, mead_weight=1.5)


def _project(shape3d: np.ndarray, pitch: float, yaw: float) -> np.ndarray:
    """The 3D points seen at Deep3DFaceRecon's (pitch, yaw): its yaw turns the other way in image axes."""
    a, b = np.radians(pitch), np.radians(-yaw)
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    c = shape3d.mean(0)
    return ((shape3d - c) @ (ry @ rx).T + c)[:, :2]


def test_pose_basis_turns_a_pitched_face_frontal():
    flat = _face68()
    depth = -30.0 * np.exp(-((flat[:, 0] - 128) ** 2 + (flat[:, 1] - 140) ** 2) / 2000.0)  # the nose comes forward
    depth[0:17] = 25.0  # the jaw line is further back
    shape3d = np.c_[flat, depth]
    basis = pose_basis(shape3d)
    assert basis.shape == (2, 68, 2) and np.abs(basis).max() > 1e-4
    frontal = _unit(_project(shape3d, 0, 0))
    seen = _project(shape3d, 6.0, -4.0)
    pose = PoseData(basis={"A": basis})
    before = np.linalg.norm(_unit(seen) - frontal, axis=1).mean()
    after = np.linalg.norm(pose.frontal_points(seen, "A", np.array([6.0, -4.0, 0.0])) - frontal, axis=1).mean()
    assert after < 0.15 * before  # the pose's 2D change is almost all taken out
    # a clip is turned frontal frame by frame only when its pose covers every frame
    clip = Clip(name="A_x", kind="mead", person="A", emotion="happy", fps=25.0, frames=np.zeros((2, 8, 8, 3), np.uint8),
                landmarks=np.stack([seen, seen]).astype(np.float32), found=np.ones(2, bool))
    assert not pose.covers(clip)
    pose.poses["A_x"] = np.array([[6.0, -4.0, 0.0]] * 2)
    assert pose.covers(clip)
    assert np.linalg.norm(pose.frontal(clip)[0] - frontal, axis=1).mean() == pytest.approx(after, rel=1e-3)


def _colour_clip(person, emotion, n=10, lips=(0, 0, 0)):
    """A flat colour face (landmarks fixed) whose lips are shifted by ``lips`` (RGB) in every frame."""
    lm = _face68()
    frames = np.full((n, 256, 256, 3), (150, 120, 110), np.uint8)
    import cv2

    for f in frames:
        cv2.fillPoly(f, [np.round(lm[48:60]).astype(np.int32)],
                     tuple(int(np.clip(c + d, 0, 255)) for c, d in zip((170, 90, 90), lips)))
    return Clip(name=f"{person}_{emotion}", kind="mead", person=person, emotion=emotion, fps=25.0, frames=frames,
                landmarks=np.repeat(lm[None], n, 0).astype(np.float32), found=np.ones(n, bool))


def test_mead_texture_is_learned_in_colour_and_applied_per_channel():
    from test_animate import _texture_clip

    from faceanim.animate.texture import ExpressionTexture, apply_texture, learn_expression_texture

    mead = [_colour_clip("A", "neutral"), _colour_clip("A", "happy", lips=(60, -40, -40))]
    tex = learn_expression_texture(mead, highpass=0)
    ratio = tex.log_ratio["happy"]
    assert ratio.shape == (256, 256, 3)
    lips = tuple(np.round(_face68()[[51, 57]].mean(0)).astype(int))
    r, g, b = ratio[lips[1], lips[0]]
    assert r > 0.1 and g < -0.1 and b < -0.1  # redder lips: red up, green and blue down
    assert np.abs(ratio[20, 20]).max() == 0  # nothing outside the face
    # CK+ alone stays grey; pooled with MEAD the map is colour, half of each
    ck = [_texture_clip("S1", "happiness")]
    assert learn_expression_texture(ck).log_ratio["happy"].ndim == 2
    pooled = learn_expression_texture(ck + mead, highpass=0)
    assert pooled.log_ratio["happy"].ndim == 3 and pooled.sequences["happy"] == 2
    restored = ExpressionTexture.from_state(pooled.to_state())
    assert restored.log_ratio["happy"].shape == (256, 256, 3)
    # per channel: a grey pixel goes red where the map says so; a grey image takes the channels' mean
    img = np.full((4, 4, 3), 128, np.uint8)
    m = np.zeros((4, 4, 3), np.float32)
    m[..., 0], m[..., 1] = 0.5, -0.5
    out = apply_texture(img, m, 1.0)
    assert out[0, 0, 0] > 140 and out[0, 0, 1] < 100 and out[0, 0, 2] == 128
    assert int(apply_texture(img[..., 0], m, 1.0)[0, 0]) == pytest.approx(128, abs=1)
    # taking one expression out (grey) while another comes in (colour) mixes both in colour
    mixed = pooled.ratio("happy", undo=("happy", 0.5))
    assert mixed.ndim == 3


def test_conditioned_generator_starts_as_the_refiner_it_came_from():
    from faceanim.animate.networks import CONDITIONS, Generator, condition_planes
    from faceanim.animate.refine_train import _init_generator

    planes = condition_planes("angry", 0.7, 16)
    assert planes.shape == (len(CONDITIONS), 16, 16) and planes[0].min() == pytest.approx(0.7) and planes[1:].max() == 0
    assert condition_planes(None, 1.0, 8).max() == 0 and condition_planes("neutral", 1.0, 8).max() == 0
    plain = Generator()
    from faceanim.weights import load_weights

    state, _ = load_weights("animator_refiner", kind="animator_refiner")
    plain.load_state_dict(state["generator"])
    cond = Generator(conditions=len(CONDITIONS))
    _init_generator(cond, "animator_refiner")
    x = torch.rand(2, 6, 32, 32) * 2 - 1
    with torch.no_grad():
        a = plain.eval()(x)
        b = cond.eval()(torch.cat([x, torch.from_numpy(np.stack([condition_planes("sad", 1.0, 32)] * 2))], 1))
    torch.testing.assert_close(a, b)  # the condition planes start with no say
    with pytest.raises(SettingError):
        _init_generator(Generator(width=8), "animator_refiner")


def test_training_pairs_across_clips_carry_their_emotion():
    from faceanim.animate.refine_train import make_pair

    neutral, happy = _colour_clip("A", "neutral", n=3), _colour_clip("A", "happy", n=3, lips=(40, 0, 0))
    x, y, lm = make_pair(neutral, 0, 1, target=happy, condition=("happy", 1.0))
    assert x.shape == (13, 256, 256) and y.shape == (3, 256, 256)
    assert x[6:].max() == 1.0 and x[6 + 3].min() == 1.0  # happy is the 4th condition
    np.testing.assert_allclose(lm, happy.landmarks[1], atol=1e-3)  # same crop: the similarity is the identity
    lips = np.round(_face68()[[51, 57]].mean(0)).astype(int)
    assert y[0, lips[1], lips[0]] > x[0, lips[1], lips[0]]  # the target's redder lips, not the source's


@pytest.fixture(scope="module")
def animator():
    from faceanim.animate import Animator

    return Animator()


def test_512_px_crop_keeps_the_photo_detail(animator, astronaut):
    import cv2

    from faceanim.animate.animator import AnimationSettings

    small = animator.emotion(astronaut, "happy", 1.0, frames=2, paste=False)
    large = animator.emotion(astronaut, "happy", 1.0, frames=2, paste=False, crop_size=512)
    assert small.crops.shape[1:3] == (256, 256) and large.crops.shape[1:3] == (512, 512)
    # the same animation: the 512 crop scaled down is close to the 256 one
    down = cv2.resize(large.crops[-1], (256, 256), interpolation=cv2.INTER_AREA)
    assert np.abs(down.astype(float) - small.crops[-1]).mean() < 6
    # and it has detail the 256 crop cannot hold
    def sharp(img):
        return cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var()
    up = cv2.resize(small.crops[-1], (512, 512), interpolation=cv2.INTER_CUBIC)
    assert sharp(large.crops[-1]) > 1.2 * sharp(up)  # the astronaut photo's face is only ~300 px across
    with pytest.raises(SettingError, match="crop_size"):
        AnimationSettings(crop_size=300).validate()


def test_contempt_is_animatable_with_the_mead_learned_set(animator, astronaut):
    from faceanim.animate import Animator
    from faceanim.animate.animator import LEARNED_FROM

    with pytest.raises(SettingError, match="contempt"):  # the default, CK+ alone, has no contempt
        animator.emotion(astronaut, "contempt", 1.0, frames=2)
    mead = Animator(**LEARNED_FROM["mead"])
    assert "contempt" in mead.motion.displacement and mead.motion.sources["mead"]["contempt"] == 2
    clip = mead.emotion(astronaut, "contempt", 1.0, frames=3, paste=False)
    assert len(clip) == 3 and np.abs(clip.crops[-1].astype(int) - clip.crops[0]).max() > 10


def test_truth_summary_and_targets():
    from faceanim.animate.truth import summarize_truth

    rows = []
    for method, err, mouth, fer in (("no motion", 0.04, 0.06, None), ("CK+ (current)", 0.05, 0.08, 0.25),
                                    ("MEAD+CK+ calibrated", 0.03, 0.05, 0.5)):
        for emo in ("happy", "surprise", "angry", "contempt"):
            row = {"actor": "A", "source_frame": 0, "emotion": emo, "method": method, "shape_error": err,
                   "upper_error": err, "lower_error": err, "face_l1": 0.1, "face_ssim": 0.5, "mouth_l1": mouth,
                   "mouth_ssim": 0.4}
            if fer is not None:
                ok = emo in ("happy", "surprise") if fer > 0.3 else emo == "happy"
                row.update(same_person=True, fer_label=emo if ok else "neutral",
                           fer_correct=ok if emo != "contempt" else np.nan)
            rows.append(row)
    renders = pd.DataFrame(rows)
    real = pd.DataFrame([{"clip": f"A_front_{e}", "actor": "A", "emotion": e, "frame": t, "judge": "fer",
                          "label": e if t < 3 else "neutral", "rest": t == 0, "correct": t < 3}
                         for e in ("happy", "surprise", "angry") for t in range(4)])
    m = summarize_truth(renders, real, new="MEAD+CK+ calibrated")
    assert m["real"]["fer"]["rate"] == pytest.approx(0.75) and m["real"]["fer"]["clip_majority"] == 1.0
    t = m["targets"]["MEAD+CK+ calibrated"]
    assert t["shape_error_reduction"] == pytest.approx(0.4) and t["shape_error_30pct_lower"]
    # fer names 2 of the 3 FER emotions on the new renders (contempt has no FER class), 0.75 on the real faces
    assert t["fer_rate_animated"] == pytest.approx(2 / 3) and t["fer_ratio"] == pytest.approx((2 / 3) / 0.75)
    assert not t["fer_at_least_90pct_of_real"] and t["same_person_95pct"]
    assert m["methods"]["CK+ (current)"]["fer_rate"] == pytest.approx(1 / 3)
    assert m["mead_method"] == "MEAD+CK+ calibrated"


@needs("mead")
def test_mead_poses_and_clips_line_up():
    from faceanim.data import list_mead_clips
    from faceanim.data.mead import load_mead_pose

    table = list_mead_clips()
    front = table[table.name.str.contains("_front_")]
    assert len(front) == 16 and set(front.actor) == {"M030", "W009"}
    pose = load_mead_pose(front.name.iloc[0])
    assert pose.shape[1] == 3 and np.abs(pose[:, :2]).max() < 30  # degrees, a near-frontal camera
    assert load_mead_pose("eamm_fear") is None


@needs("mead")
def test_neutral_sources_are_rest_frames():
    from faceanim.animate.clips import load_mead_clips
    from faceanim.animate.truth import actor_folds, neutral_sources

    mead = load_mead_clips(progress=False)
    assert actor_folds(mead) == ["M030", "W009"]
    neutral = next(c for c in mead if c.person == "M030" and c.emotion == "neutral")
    picked = neutral_sources(neutral, 3)
    unit = np.stack([_unit(lm) for lm in neutral.landmarks])
    opening = mouth_opening(unit)
    assert len(picked) == 3
    for t, source in picked:
        assert opening[t] <= np.quantile(opening, 0.25)
        assert source.crop.shape == (256, 256, 3)


def test_a_conditioned_generator_is_told_the_emotion_and_replaces_the_texture(animator, astronaut):
    from faceanim.animate import Animator
    from faceanim.animate.networks import CONDITIONS, Generator
    from faceanim.animate.refine import Refiner
    from faceanim.animate.refine_train import _init_generator

    gen = Generator(conditions=len(CONDITIONS))
    _init_generator(gen, "animator_refiner")
    refiner = Refiner.load(precision="fp32", backend="torch")
    cond = Animator(refiner=refiner, generator=Refiner(gen, precision="fp32", backend="torch"), predictor=None,
                    calibration=None)
    plain = Animator(refiner=refiner, generator=None, predictor=None, calibration=None)
    source = plain.prepare(astronaut)
    a = cond.emotion(source, "angry", 1.0, frames=3, paste=False, source_expression="neutral", generator=True).crops
    b = plain.emotion(source, "angry", 1.0, frames=3, paste=False, source_expression="neutral", texture=0.0).crops
    textured = plain.emotion(source, "angry", 1.0, frames=3, paste=False, source_expression="neutral").crops
    # the default (generator=False): the refiner and the texture, as without a generator
    off = cond.emotion(source, "angry", 1.0, frames=3, paste=False, source_expression="neutral").crops
    assert np.array_equal(off, textured)
    with pytest.raises(SettingError, match="not an emotion-conditioned"):
        Animator(generator="animator_refiner")
    # its condition weights start at zero: it renders what the refiner renders, and no ratio image on top
    assert np.abs(a.astype(int) - b).max() <= 1
    assert np.abs(textured.astype(int) - b).max() > 10
    # it is told the emotion: the planes reach the network (a weight on the angry plane changes the output)
    with torch.no_grad():
        gen.e0[0][0].weight[:, 6] += 0.5
    c = cond.emotion(source, "angry", 1.0, frames=3, paste=False, source_expression="neutral", generator=True).crops
    assert np.abs(c[-1].astype(int) - a[-1]).max() > 5 and np.abs(c[0].astype(int) - a[0]).max() <= 1  # frame 0: 0


def test_leaving_out_an_actor_that_is_not_there_is_a_clear_error():
    from faceanim.animate.train import train_animator

    mead = [_colour_clip("A", "neutral", n=2), _colour_clip("A", "happy", n=2)]
    with pytest.raises(SettingError, match="not a MEAD actor"):
        train_animator(parts=("generator",), clips=[_clip("S1_1", "S1", "happiness", np.stack([_face68()] * 3))],
                       mead=mead, leave_out="X999", progress=False)
