"""The animator: keypoints, motion sources, the warp, smoothing, the refiner's training loop, the
end-to-end pipeline on the bundled photo, and the CLI."""


import numpy as np
import pytest
import torch
from conftest import needs

from faceanim.animate.clips import Clip
from faceanim.animate.keypoints import (
    KEYPOINT_ORDER,
    border_anchors,
    face_scale,
    normalizing_transform,
    select_keypoints,
)
from faceanim.animate.motion import (
    EmotionMotion,
    closest_frame,
    driving_keypoints,
    ease,
    emotion_keypoints,
    learn_emotion_motion,
)
from faceanim.animate.smooth import (
    KeypointGRU,
    OneEuro,
    jitter,
    lag_frames,
    one_euro,
    prediction_errors,
    predictive_filter,
)
from faceanim.animate.warp import TPS, affine_warp, tps_map, warp_image
from faceanim.errors import FaceanimError, NoFaceError, SettingError


def _mean_shape(scale=60.0, center=(128.0, 128.0)) -> np.ndarray:
    """A plausible 68-point face (from the normalising reference, padded with a ring for the rest)."""
    rng = np.random.default_rng(0)
    pts = rng.normal(0, 0.25, (68, 2))
    ref = np.array([[-0.5, 0.0], [-0.21, 0.01], [0.21, 0.01], [0.5, 0.0], [0.0, 0.0], [0.0, 0.13], [0.0, 0.26],
                    [0.0, 0.40], [-0.12, 0.47], [0.0, 0.50], [0.12, 0.47]])
    for i, p in zip([36, 39, 42, 45, 27, 28, 29, 30, 31, 33, 35], ref):
        pts[i] = p
    pts[48], pts[54] = [-0.25, 0.8], [0.25, 0.8]
    return pts * scale + np.array(center)


# ---------------------------------------------------------------- keypoints
def test_keypoint_subsets_grow_in_order_and_bad_counts_are_clear():
    assert sorted(KEYPOINT_ORDER) == list(range(68))
    five = select_keypoints(5)
    assert five.tolist() == sorted([36, 45, 30, 48, 54])
    assert set(select_keypoints(20)) > set(five) and len(select_keypoints(68)) == 68
    for bad in (4, 69, "many"):
        with pytest.raises(SettingError, match="keypoint count"):
            select_keypoints(bad)


def test_border_anchors_lie_on_the_edges():
    a = border_anchors(256, 5)
    assert a.shape == (16, 2)
    on_edge = (np.isclose(a, 0) | np.isclose(a, 255)).any(1)
    assert on_edge.all() and len(np.unique(a, axis=0)) == 16


def test_normalising_transform_removes_pose():
    lm = _mean_shape()
    theta = np.radians(20)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = (lm - 128) @ rot.T * 1.7 + [40, 10]
    a = lm @ normalizing_transform(lm)[:, :2].T + normalizing_transform(lm)[:, 2]
    b = moved @ normalizing_transform(moved)[:, :2].T + normalizing_transform(moved)[:, 2]
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert face_scale(moved) == pytest.approx(1.7 * face_scale(lm), rel=1e-3)


# ---------------------------------------------------------------- warp
def test_tps_interpolates_controls_and_reproduces_affine_motion():
    rng = np.random.default_rng(1)
    src = rng.uniform(20, 230, (30, 2))
    dst = src + rng.normal(0, 4, src.shape)
    f = TPS(dst, src, scale=256, smooth=0)
    np.testing.assert_allclose(f(dst), src, atol=1e-6)
    # a pure shift everywhere: the backward map is the grid minus the shift, exactly
    shift = np.array([5.0, -3.0])
    m = tps_map(src, src + shift, 64, grid=16)
    gx, gy = np.meshgrid(np.arange(64), np.arange(64))
    # (OpenCV's bilinear remap weighs in steps of 1/32 px, hence the tolerance)
    np.testing.assert_allclose(m[..., 0], gx - shift[0], atol=0.07)
    np.testing.assert_allclose(m[..., 1], gy - shift[1], atol=0.07)


def test_warp_moves_an_image_with_its_keypoints():
    img = np.zeros((64, 64, 3), np.uint8)
    img[20:30, 20:30] = 255
    pts = np.array([[10, 10], [50, 10], [10, 50], [50, 50], [25, 25]], float)
    out = warp_image(img, tps_map(pts, pts + [6, 4], 64, grid=64))
    ys, xs = np.nonzero(out[..., 0] > 127)
    assert xs.mean() == pytest.approx(24.5 + 6, abs=0.6) and ys.mean() == pytest.approx(24.5 + 4, abs=0.6)
    same = affine_warp(img, pts, pts)
    np.testing.assert_array_equal(same, img)


# ---------------------------------------------------------------- motion
def _motion(delta_mouth=0.1) -> EmotionMotion:
    d = np.zeros((68, 2))
    d[48] = [-delta_mouth, -delta_mouth]
    d[54] = [delta_mouth, -delta_mouth]
    return EmotionMotion(displacement={"happy": d, "sad": -d})


def test_emotion_keypoints_scale_with_intensity_and_follow_the_face():
    lm, m = _mean_shape(), _motion()
    np.testing.assert_allclose(emotion_keypoints(lm, m, "happy", 0.0), lm)
    full, half = emotion_keypoints(lm, m, "happy", 1.0), emotion_keypoints(lm, m, "happy", 0.5)
    np.testing.assert_allclose(half - lm, 0.5 * (full - lm), atol=1e-9)
    # eye corners 60 px apart -> 0.1 unit = 6 px; mouth corners go up and outwards
    assert full[54, 0] - lm[54, 0] == pytest.approx(6.0, rel=0.05) and full[54, 1] < lm[54, 1]
    big = emotion_keypoints(lm * 2, m, "happy", 1.0)
    assert np.linalg.norm(big[54] - lm[54] * 2) == pytest.approx(2 * np.linalg.norm(full[54] - lm[54]), rel=1e-6)
    track = emotion_keypoints(lm, m, "happy", 1.0, ease(10))
    assert track.shape == (10, 68, 2)
    np.testing.assert_allclose(track[0], lm)
    np.testing.assert_allclose(emotion_keypoints(lm, m, "neutral", 1.0), lm)
    with pytest.raises(SettingError, match="intensity"):
        emotion_keypoints(lm, m, "happy", 1.5)
    with pytest.raises(SettingError, match="unknown emotion"):
        emotion_keypoints(lm, m, "smug", 1.0)


def test_source_expression_is_taken_out_of_the_motion():
    from faceanim.animate.motion import SourceExpression
    from faceanim.emotion.recognizer import EmotionReading

    lm, m = _mean_shape(), _motion()
    half_smile = SourceExpression("happy", 0.5)
    # a photo smiling at 0.5 moved to happy at 0.5 does not move; to neutral its smile is undone
    np.testing.assert_allclose(emotion_keypoints(lm, m, "happy", 0.5, undo=half_smile), lm, atol=1e-9)
    back = emotion_keypoints(lm, m, "neutral", 1.0, undo=SourceExpression("happy", 1.0))
    np.testing.assert_allclose(back - lm, -(emotion_keypoints(lm, m, "happy", 1.0) - lm), atol=1e-9)
    # toward sad from a smile: sad's own motion plus the smile's undoing, growing with progress
    track = emotion_keypoints(lm, m, "sad", 1.0, ease(5), undo=half_smile)
    np.testing.assert_allclose(track[0], lm)
    expected = (emotion_keypoints(lm, m, "sad", 1.0) - lm) - 0.5 * (emotion_keypoints(lm, m, "happy", 1.0) - lm)
    np.testing.assert_allclose(track[-1] - lm, expected, atol=1e-9)
    # the gain exaggerates the requested emotion only
    np.testing.assert_allclose(emotion_keypoints(lm, m, "happy", 0.5, gain=2.0, undo=SourceExpression("happy", 1.0)),
                               lm, atol=1e-9)
    with pytest.raises(SettingError, match="unknown source expression"):
        SourceExpression("smug", 0.5)
    with pytest.raises(SettingError, match="source expression amount"):
        SourceExpression("happy", 1.5)
    probs = np.eye(7)[3]
    weak = SourceExpression.from_reading(EmotionReading("happy", probs, intensity=0.2))
    strong = SourceExpression.from_reading(EmotionReading("happy", probs, intensity=0.8))
    calm = SourceExpression.from_reading(EmotionReading("neutral", np.eye(7)[6], intensity=0.9))
    assert weak.neutral and calm.neutral and not strong.neutral
    assert (strong.emotion, strong.amount, strong.source) == ("happy", 0.8, "recognizer")


def test_easing_curves():
    for curve in ("smoothstep", "linear", "ckplus"):
        p = ease(12, curve, hold=3)
        assert len(p) == 15 and p[0] == 0 and p[-1] == 1 and np.all(np.diff(p) >= -1e-12)
    with pytest.raises(SettingError):
        ease(0)
    with pytest.raises(SettingError):
        ease(5, "bounce")


def test_driving_motion_relative_absolute_and_best_frame():
    src = _mean_shape()
    drv = np.stack([_mean_shape(80, (100, 140)) + [k, 0.5 * k] for k in range(6)])
    rel = driving_keypoints(src, drv, "relative")
    np.testing.assert_allclose(rel[0], src)
    # relative motion is scaled by the face-size ratio (60 / 80)
    np.testing.assert_allclose(rel[5] - src, (drv[5] - drv[0]) * 0.75, atol=1e-6)
    ab = driving_keypoints(src, drv, "absolute")
    np.testing.assert_allclose(ab[0], src, atol=1e-6)
    shaped = drv.copy()
    shaped[3, 48:68] += 4.0  # one driving frame with another expression
    assert closest_frame(src, shaped) != 3
    assert closest_frame(drv[2], drv) in range(6)
    best = driving_keypoints(src, drv, "relative", reference="best")
    assert np.isclose(best, src).all(axis=(1, 2)).any()
    with pytest.raises(SettingError):
        driving_keypoints(src, drv, "sideways")
    with pytest.raises(SettingError):
        driving_keypoints(src, drv, reference=99)


def _clip(name, person, emotion, track, kind="ckplus"):
    n = len(track)
    return Clip(name=name, kind=kind, person=person, emotion=emotion, fps=25.0,
                frames=np.zeros((n, 8, 8, 3), np.uint8), landmarks=np.asarray(track, np.float32),
                found=np.ones(n, bool))


def test_learned_emotion_motion_recovers_the_real_displacement():
    base = _mean_shape()
    clips = []
    for i, (person, emo) in enumerate([("S1", "happiness"), ("S2", "happiness"), ("S3", "sadness")]):
        lm = base * (1 + 0.1 * i) + 5 * i
        apex = lm.copy()
        sign = 1 if emo == "happiness" else -1
        apex[54, 1] -= sign * 6 * (1 + 0.1 * i)
        clips.append(_clip(f"{person}_1", person, emo, np.linspace(lm, apex, 8)))
    m = learn_emotion_motion(clips, exclude_subjects=("S2",))
    assert m.sequences == {"happy": 1, "sad": 1} and m.subjects == ["S1", "S3"]
    assert m.displacement["happy"][54, 1] == pytest.approx(-0.1, abs=0.01)  # 6 px of 60 px eye span
    assert m.displacement["sad"][54, 1] == pytest.approx(0.1, abs=0.01)
    np.testing.assert_allclose(m.onset, np.linspace(0, 1, 21), atol=0.02)  # linear onset measured
    restored = EmotionMotion.from_state(m.to_state())
    np.testing.assert_allclose(restored.offsets("happy"), m.offsets("happy"), atol=1e-6)
    with pytest.raises(SettingError):
        learn_emotion_motion(clips, exclude_subjects=("S1", "S2", "S3"))


# ---------------------------------------------------------------- smoothing
def test_one_euro_passes_through_at_zero_and_steadies_noise():
    rng = np.random.default_rng(0)
    noisy = 100 + rng.normal(0, 2, (200, 68, 2))
    np.testing.assert_array_equal(one_euro(noisy, 0.0), noisy)
    assert jitter(one_euro(noisy, 0.8)) < 0.25 * jitter(noisy)
    with pytest.raises(SettingError):
        OneEuro(1.5)


def test_predictive_filter_keeps_exact_motion_and_cuts_noise():
    t = np.arange(60)[:, None, None]
    line = _mean_shape()[None] + np.stack([t[..., 0] * 0.5, t[..., 0] * 0.2], -1)  # constant velocity
    np.testing.assert_allclose(predictive_filter(line, 0.8, None), line, atol=1e-6)
    rng = np.random.default_rng(1)
    noisy = line + rng.normal(0, 1.5, line.shape)
    assert jitter(predictive_filter(noisy, 0.8, None)) < 0.6 * jitter(noisy)
    np.testing.assert_array_equal(predictive_filter(noisy, 0.0, None), noisy)


def test_untrained_gru_is_the_constant_position_predictor():
    track = _mean_shape()[None] + np.random.default_rng(2).normal(0, 1, (40, 68, 2))
    errs = prediction_errors(KeypointGRU(), [track])
    assert errs["gru"] == pytest.approx(errs["constant_position"], rel=1e-4)
    filtered = predictive_filter(track, 0.5, KeypointGRU())
    assert filtered.shape == track.shape and jitter(filtered) < jitter(track)


def test_lag_of_a_delayed_signal():
    x = np.sin(np.linspace(0, 12, 300))[:, None]
    assert lag_frames(np.roll(x, 3, 0)[5:], x[5:]) == pytest.approx(3, abs=0.3)
    assert lag_frames(x, x) == 0


# ---------------------------------------------------------------- refiner
def test_generator_starts_near_the_warp_and_training_resumes(tmp):
    from faceanim.animate.networks import Generator
    from faceanim.animate.refine import Refiner
    from faceanim.animate.refine_train import RefinerConfig, make_pair, train_refiner

    torch.manual_seed(0)
    g = Generator(8)
    x = torch.rand(1, 6, 64, 64) * 2 - 1
    out = g(x)
    assert out.shape == (1, 3, 64, 64) and (out - x[:, :3]).abs().mean() < 0.25
    rng = np.random.default_rng(0)
    lm = _mean_shape(20, (32, 32))
    frames = rng.integers(0, 255, (6, 64, 64, 3), dtype=np.uint8)
    tracks = np.stack([lm + rng.normal(0, 0.5, lm.shape) for _ in range(6)])
    clips = [Clip("v", "video", "v", "", 25.0, frames, tracks.astype(np.float32), np.ones(6, bool)),
             Clip("c", "ckplus", "S999", "happiness", 25.0, frames, tracks.astype(np.float32), np.ones(6, bool))]
    xin, y, _ = make_pair(clips[0], 0, 3)
    assert xin.shape == (6, 64, 64) and y.shape == (3, 64, 64) and np.isfinite(xin).all()
    cfg = RefinerConfig(steps=4, batch_size=2, patch=32, width=8, warmup=2, checkpoint_every=2)
    st = train_refiner(clips, cfg, run_dir=tmp / "run", progress=False, stop_after=2)
    assert st["step"] == 2 and (tmp / "run" / "checkpoint.pt").exists()
    st = train_refiner(clips, cfg, run_dir=tmp / "run", progress=False)
    assert st["step"] == 4 and [h["step"] for h in st["history"]] == [0, 2, 4]
    assert all(np.isfinite(h["val_l1"]) for h in st["history"])
    assert "train_d" in st["history"][-1]  # the discriminator joined after the warm-up
    with pytest.raises(SettingError, match="other settings"):
        train_refiner(clips, RefinerConfig(steps=5, batch_size=2, patch=32, width=8), run_dir=tmp / "run",
                      progress=False)
    from faceanim.animate.refine_train import export_refiner
    from faceanim.weights import load_weights

    export_refiner(st, "r", root=tmp)
    state, meta = load_weights("r", root=tmp, kind="animator_refiner")
    assert meta["steps"] == 4 and meta["heldout_videos"]
    g2 = Generator(8)
    g2.load_state_dict(state["generator"])
    assert Refiner(g2).refine_batch(xin[None]).shape == (1, 64, 64, 3)


# ---------------------------------------------------------------- end to end (committed weights)
@pytest.fixture(scope="module")
def animator():
    from faceanim.animate import Animator

    return Animator()


def test_emotion_animation_of_the_astronaut(animator, astronaut, tmp):
    clip = animator.emotion(astronaut, "surprise", intensity=1.0, frames=6, hold=2, gaussian=0.3)
    assert len(clip) == 8 and clip.frames.shape == (8, *astronaut.shape) and clip.crops.shape == (8, 256, 256, 3)
    # frame 0 is the unmoved face; the photo's far corner is never touched
    assert np.abs(clip.frames[0].astype(int) - astronaut).mean() < 3.0
    np.testing.assert_array_equal(clip.frames[:, :20, -20:], np.broadcast_to(astronaut[:20, -20:], (8, 20, 20, 3)))
    # the mouth opens: inner-lip gap grows in the keypoints
    gap = clip.keypoints[:, 66, 1] - clip.keypoints[:, 62, 1]
    assert gap[-1] > gap[0] + 3
    assert np.abs(clip.crops[-1].astype(int) - clip.crops[0]).mean() > 1.0
    for name in ("a.mp4", "a.gif"):
        assert clip.save(tmp / name).stat().st_size > 1000
    warp_only = animator.emotion(animator.prepare(astronaut), "happy", 0.5, frames=3, refine=False, keypoints=5,
                                 paste=False)
    assert warp_only.frames is None and warp_only.crops.shape == (3, 256, 256, 3)


def test_driving_with_frames_follows_their_motion(animator, astronaut):
    import cv2

    frames = [cv2.warpAffine(astronaut, np.float32([[1, 0, dx], [0, 1, 0]]), astronaut.shape[1::-1],
                             borderMode=cv2.BORDER_REFLECT) for dx in (0, 6, 12, 18)]
    clip = animator.drive(astronaut, frames, mode="relative", refine=False)
    assert len(clip) == 4
    shift = clip.keypoints[-1].mean(0) - clip.keypoints[0].mean(0)
    assert shift[0] > 5 and abs(shift[1]) < 4  # moved right, in crop pixels


def test_no_face_and_bad_settings_are_clear(animator, tmp):
    blank = np.full((200, 200, 3), 127, np.uint8)
    with pytest.raises(NoFaceError, match="no face"):
        animator.prepare(blank)
    from faceanim.animate.animator import AnimationSettings

    for bad in ({"keypoints": 2}, {"filter_strength": 2}, {"gaussian": -1}, {"filter": "kalmanish"}):
        with pytest.raises(SettingError):
            AnimationSettings(**bad).validate()
    from faceanim.cli import main
    from faceanim.io import write_image

    write_image(tmp / "blank.png", blank)
    assert main(["animate", str(tmp / "blank.png"), "--emotion", "happy", "-o", str(tmp / "x.mp4")]) == 2
    assert not (tmp / "x.mp4").exists()
    assert main(["animate", str(tmp / "blank.png"), "-o", str(tmp / "x.mp4")]) == 2
    assert main(["animate", str(tmp / "blank.png"), "--emotion", "happy", "-o", str(tmp / "x.txt")]) == 2


def test_cli_animate_writes_a_video(astronaut, tmp):
    from faceanim.cli import main
    from faceanim.io import VideoReader, write_image

    write_image(tmp / "astro.jpg", astronaut)
    assert main(["animate", str(tmp / "astro.jpg"), "--emotion", "happy", "--intensity", "0.8", "--frames", "5",
                 "--hold", "1", "-o", str(tmp / "out.mp4")]) == 0
    with VideoReader(tmp / "out.mp4") as r:
        assert len(list(r)) == 6 and (r.width, r.height) == (astronaut.shape[1], astronaut.shape[0])
    assert main(["animate", str(tmp / "astro.jpg"), "--emotion", "sad", "--frames", "2", "--hold", "0",
                 "--source-expression", "neutral", "-o", str(tmp / "kept.gif")]) == 0
    assert (tmp / "kept.gif").stat().st_size > 1000


@needs("face_videos", "ckplus_sequences")
def test_clips_from_real_data_are_cropped_and_tracked(tmp):
    from faceanim.animate.clips import load_clips, prepare_clips

    path = prepare_clips(max_frames=12, cache=tmp / "c.npz", progress=False, max_videos=1, max_sequences=1)
    clips = load_clips(path, prepare=False)
    assert [c.kind for c in clips] == ["video", "ckplus"]
    for c in clips:
        assert c.frames.shape[1:] == (256, 256, 3) and c.landmarks.shape == (len(c), 68, 2)
        assert c.found.mean() > 0.9
        inside = (c.landmarks > 0) & (c.landmarks < 256)
        assert inside.all()
    with pytest.raises(FaceanimError):
        load_clips(tmp / "none.npz", prepare=False)


# ---------------------------------------------------------------- expression texture
def _face68(center=(128.0, 128.0), scale=1.0) -> np.ndarray:
    """A 68-point face laid out as dlib's: jaw U, brows, nose, eyes, mouth (crop pixels)."""
    t = np.linspace(np.pi, 0, 17)
    jaw = np.stack([60 * np.cos(t), -15 + 75 * np.sin(t)], 1)
    brows = np.stack([np.r_[np.linspace(-48, -12, 5), np.linspace(12, 48, 5)], np.full(10, -35.0)], 1)
    nose = np.r_[np.stack([np.zeros(4), np.linspace(-22, 5, 4)], 1),
                 np.stack([np.linspace(-10, 10, 5), np.full(5, 10.0)], 1)]
    eye = np.array([[-14, 0], [-9, -4], [-3, -4], [2, 0], [-3, 3], [-9, 3]], np.float64)
    eyes = np.r_[eye + [-22, -18], eye + [26, -18]]
    ang = np.linspace(np.pi, -np.pi, 12, endpoint=False)
    outer = np.stack([22 * np.cos(ang), 35 + 9 * np.sin(ang)], 1)
    ang8 = np.linspace(np.pi, -np.pi, 8, endpoint=False)
    inner = np.stack([14 * np.cos(ang8), 35 + 3 * np.sin(ang8)], 1)
    pts = np.r_[jaw, brows, nose, eyes, outer, inner]
    assert pts.shape == (68, 2)
    return pts * scale + np.asarray(center)


def _texture_clip(person, emotion, shift=(0.0, 0.0), crease=True):
    """Neutral and apex frames of a flat grey face; the apex has a dark furrow between the brows and is
    moved by ``shift`` together with its landmarks (geometry the ratio image must not read as shading)."""
    import cv2

    lm0 = _face68()
    size = 256
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    neutral = np.full((size, size), 120, np.float32) + 20 * np.sin(xx / 9.0)  # skin texture that must cancel
    apex = neutral.copy()
    if crease:
        apex[(np.abs(xx - 128) < 3) & (np.abs(yy - 88) < 10)] = 50
    m = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    apex = cv2.warpAffine(apex, m, (size, size), borderMode=cv2.BORDER_REFLECT)
    frames = np.stack([neutral, apex]).clip(0, 255).astype(np.uint8)[..., None].repeat(3, -1)
    lms = np.stack([lm0, lm0 + np.asarray(shift)])
    return Clip(name=f"{person}_{emotion}", kind="ckplus", person=person, emotion=emotion, fps=25.0, frames=frames,
                landmarks=lms, found=np.ones(2, bool))


def test_learned_texture_keeps_the_crease_and_drops_skin_and_geometry():
    from faceanim.animate.texture import ExpressionTexture, eyes_mask, face_mask, learn_expression_texture

    clips = [_texture_clip("S1", "anger", shift=(4.0, 3.0)), _texture_clip("S2", "anger", shift=(-3.0, 2.0)),
             _texture_clip("S3", "happiness", crease=False, shift=(5.0, -2.0)),
             _texture_clip("S9", "happiness", crease=True)]
    tex = learn_expression_texture(clips, exclude_subjects=("S9",))
    assert tex.sequences == {"angry": 2, "happy": 1} and tex.subjects == ["S1", "S2", "S3"]
    angry, happy = tex.log_ratio["angry"], tex.log_ratio["happy"]
    assert angry[88, 128] < np.log(0.7)                       # the furrow darkens (blurred, so not all the way)
    assert abs(angry[120, 90]) < 0.03 and abs(angry[150, 160]) < 0.03  # moved skin texture cancels
    assert np.abs(happy).max() < 0.05                         # a shift alone is geometry, not shading
    assert np.all(angry[face_mask(tex.landmarks, 256) == 0] == 0)  # nothing outside the face
    eyes = eyes_mask(tex.landmarks, 256) > 0.99
    assert eyes.sum() > 50 and np.abs(angry[eyes]).max() < 1e-3  # nor over the eyes
    restored = ExpressionTexture.from_state(tex.to_state())
    np.testing.assert_allclose(restored.log_ratio["angry"], angry, atol=2e-3)
    with pytest.raises(SettingError):
        learn_expression_texture(clips, exclude_subjects=("S1", "S2", "S3", "S9"))


def test_texture_moves_with_the_keypoints_and_multiplies_in():
    from faceanim.animate.texture import ExpressionTexture, apply_texture

    canon = _face68()
    ratio = np.zeros((256, 256), np.float32)
    ratio[118:123, 126:131] = np.log(2.0)        # a bright spot near the nose (landmark 30 sits at 128, 120)
    tex = ExpressionTexture(landmarks=canon, log_ratio={"angry": ratio})
    moved = tex.map_for("angry", canon + [12.0, -6.0], 256)
    ys, xs = np.nonzero(moved > 0.5 * np.log(2.0))
    assert xs.mean() == pytest.approx(128 + 12, abs=1.0) and ys.mean() == pytest.approx(120 - 6, abs=1.0)
    half = tex.map_for("angry", canon * 0.5 + 64, 256)   # a face half the size: the spot follows it
    ys, xs = np.nonzero(half > 0.25 * np.log(2.0))
    assert xs.mean() == pytest.approx(128, abs=1.5) and ys.mean() == pytest.approx(124, abs=1.5)
    # the same through a frame's warp (as the animator does it): where the warp put the face
    anchors = border_anchors(256, 5)
    frame_warp = tps_map(np.vstack([canon, anchors]), np.vstack([canon + [12.0, -6.0], anchors]), 256, grid=32)
    through = tex.map_through("angry", tex.source_map(canon, 256), frame_warp)
    ys, xs = np.nonzero(through > 0.5 * np.log(2.0))
    assert xs.mean() == pytest.approx(128 + 12, abs=1.0) and ys.mean() == pytest.approx(120 - 6, abs=1.0)
    assert np.abs(through - moved).sum() < 0.25 * np.abs(moved).sum()
    assert not tex.map_for("neutral", canon, 256).any()
    assert not tex.map_through("neutral", tex.source_map(canon, 256), frame_warp).any()
    with pytest.raises(SettingError, match="no expression texture"):
        tex.map_for("fear", canon, 256)
    with pytest.raises(SettingError, match="68 landmarks"):
        tex.map_for("angry", canon[:5], 256)
    img = np.full((256, 256, 3), 100, np.uint8)
    assert apply_texture(img, moved, 0.0) is img
    full = lambda v: np.full((256, 256), v, np.float32)  # noqa: E731
    out = apply_texture(img, full(np.log(0.5)), 1.0)
    assert out.dtype == np.uint8 and np.all(out == 50)                 # darker: multiplied
    assert np.all(apply_texture(img, full(np.log(0.5)), 0.5) == 71)    # 100 / sqrt 2
    assert np.all(apply_texture(img, full(np.log(2.0)), 1.0) == 178)   # brighter: 255 - (255 - 100) / 2
    assert np.all(apply_texture(img[..., 0], full(np.log(0.5)), 1.0) == 50)   # a grey image alike
    # colour: only the grey level moves, the colour differences (Cb, Cr) stay
    lips = np.broadcast_to(np.uint8([180, 90, 100]), (256, 256, 3))
    luma = lambda c: c.astype(float) @ [0.299, 0.587, 0.114]  # noqa: E731
    for ratio in (0.5, 1.6):
        out = apply_texture(lips, full(np.log(ratio)), 1.0)[0, 0].astype(int)
        y0 = luma(lips[0, 0])
        assert luma(out) == pytest.approx(y0 * ratio if ratio < 1 else 255 - (255 - y0) / ratio, abs=1.0)
        assert (out - out[1]).tolist() == pytest.approx([90, 0, 10], abs=1)


def test_texture_setting_in_the_animator(animator, astronaut):
    source = animator.prepare(astronaut)
    geo = animator.emotion(source, "angry", 1.0, frames=3, texture=0.0, paste=False)
    tex = animator.emotion(source, "angry", 1.0, frames=3, paste=False)
    assert animator.settings.texture == 1.0 and animator.texture is not None
    np.testing.assert_array_equal(geo.crops[0], tex.crops[0])          # progress 0: no texture yet
    diff = np.abs(tex.crops[-1].astype(int) - geo.crops[-1]).mean(-1)
    assert diff.mean() > 0.5                                            # the texture shows at the apex
    assert diff[:20].max() == 0 and diff[:, :20].max() == 0             # and stays off the background
    # the generator is kept below the brows in emotion animation: above them the frame is the warp's
    from faceanim.animate.keypoints import above_brows

    warp = animator.emotion(source, "angry", 1.0, frames=3, texture=0.0, refine=False, paste=False)
    high = above_brows(geo.keypoints[-1], 256) > 0.9999
    assert high.sum() > 2000
    np.testing.assert_array_equal(geo.crops[-1][high], warp.crops[-1][high])
    assert np.abs(geo.crops[-1].astype(int) - warp.crops[-1])[~high].max() > 0   # below them it still works
    zero = animator.emotion(source, "angry", 0.0, frames=2, paste=False, source_expression="neutral")
    np.testing.assert_array_equal(zero.crops, animator.emotion(source, "angry", 0.0, frames=2, texture=0.0,
                                                               paste=False, source_expression="neutral").crops)
    with pytest.raises(SettingError, match="texture strength"):
        animator.emotion(source, "angry", 1.0, frames=2, texture=3.0)
    from faceanim.animate import Animator

    plain = Animator(texture=None, refiner=None)
    assert plain.settings.texture == 0.0
    with pytest.raises(SettingError, match="texture weights"):
        plain.emotion(source, "angry", 1.0, frames=2, texture=1.0, refine=False)


def test_texture_adds_one_expression_and_takes_the_photos_out_but_spares_the_lips():
    from faceanim.animate.texture import ExpressionTexture

    canon = _face68()
    rng = np.random.default_rng(0)
    maps = {e: rng.normal(0, 0.1, (256, 256)).astype(np.float32) for e in ("angry", "happy")}
    tex = ExpressionTexture(landmarks=canon, log_ratio=maps)
    mouth = tex.mouth_mask
    lips = np.round(canon[48:60].mean(0)).astype(int)
    assert mouth[lips[1], lips[0]] > 0.99 and mouth[40, 40] == 0 and mouth[int(canon[30, 1]), int(canon[30, 0])] < 0.01
    mix = tex.ratio("angry", undo=("happy", 0.5), weight=0.8)
    np.testing.assert_allclose(mix, 0.8 * maps["angry"] - 0.5 * maps["happy"] * (1 - mouth), atol=1e-6)
    np.testing.assert_allclose(tex.ratio("neutral", undo=("happy", 1.0)), -maps["happy"] * (1 - mouth), atol=1e-6)
    assert tex.ratio("neutral", undo=("happy", 0.0)) is None
    np.testing.assert_array_equal(tex.ratio("angry", undo=("neutral", 1.0)), maps["angry"])
    kp = canon + [5.0, 3.0]
    moved = tex.map_for("angry", kp, 256, undo=("happy", 0.5), weight=0.8)
    np.testing.assert_allclose(moved, 0.8 * tex.map_for("angry", kp, 256)
                               + 0.5 * tex.map_for("neutral", kp, 256, undo=("happy", 1.0)), atol=1e-5)


def test_the_photos_smile_is_taken_out(animator, astronaut):
    from faceanim.animate.motion import SourceExpression
    from faceanim.emotion import create_recognizer

    source = animator.prepare(astronaut)
    smile = animator.read_expression(source)
    assert smile.emotion == "happy" and smile.amount > 0.5 and smile.source == "recognizer"
    auto = animator.emotion(source, "angry", 1.0, frames=3, paste=False)
    kept = animator.emotion(source, "angry", 1.0, frames=3, paste=False, source_expression="neutral")
    given = animator.emotion(source, "angry", 1.0, frames=3, paste=False, source_expression=smile)
    assert auto.info["source_expression"]["emotion"] == "happy" and "source_expression" not in kept.info
    np.testing.assert_array_equal(auto.crops, given.crops)
    np.testing.assert_array_equal(auto.crops[0], kept.crops[0])          # progress 0: the photo as it is
    # the mouth corners come down and in with the smile taken out, not with it kept
    corners = lambda c: c.keypoints[-1][[48, 54]]  # noqa: E731
    assert (corners(auto)[:, 1] - corners(kept)[:, 1]).mean() > 2.0
    assert np.ptp(corners(auto)[:, 0]) < np.ptp(corners(kept)[:, 0]) - 2.0
    rec = create_recognizer()
    read = lambda c: rec.recognize_faces(c.crops[-1], [_face_of(c.keypoints[-1])])[0]  # noqa: E731
    assert read(kept).label == "happy" and read(auto).label != "happy"
    back = animator.emotion(source, "neutral", 1.0, frames=2, paste=False)
    assert not read(back).expressive                                     # "neutral" now means: smile gone
    with pytest.raises(SettingError, match="source_expression"):
        animator.emotion(source, "angry", 1.0, frames=2, source_expression=3)
    with pytest.raises(SettingError, match="amount must be a number"):
        animator.emotion(source, "angry", 1.0, frames=2, source_expression=("happy", "lots"))
    with pytest.raises(SettingError, match="source expression amount"):
        animator.emotion(source, "angry", 1.0, frames=2, source_expression=("happy", 1.5))
    assert SourceExpression("happy", 0.0).neutral


def _face_of(landmarks):
    from faceanim.face.types import Face

    lm = np.asarray(landmarks, np.float32)
    return Face(box=np.r_[lm.min(0), lm.max(0)], score=1.0, landmarks=lm, detector="landmarks")


def test_expressive_summary_counts_what_still_reads_as_the_photo():
    import pandas as pd

    from faceanim.animate.evaluate import _summ_expressive

    rows = [{"face": "a", "source_label": "happy", "source_intensity": 0.9, "emotion": e, "method": m,
             "label": lab, "correct": ok, "same_person": True}
            for e, m, lab, ok in (("angry", "kept", "happy", False), ("neutral", "kept", "happy", False),
                                  ("angry", "taken out", "angry", True), ("neutral", "taken out", "neutral", True))]
    s = _summ_expressive(pd.DataFrame(rows))
    assert s["faces"] == 1 and s["sources"] == {"a": "happy 0.90"}
    assert s["kept"]["reads_as_source"] == 1.0 and s["taken out"]["reads_as_source"] == 0.0
    assert s["taken out"]["top1"] == 1.0 and s["taken out"]["to_neutral"] == 1.0 and s["kept"]["top1_emotions"] == 0.0
    assert _summ_expressive(pd.DataFrame()) == {}


def test_emotion_summary_keeps_variants_out_of_the_target_figures():
    import pandas as pd

    from faceanim.animate.evaluate import _summ_emotion

    rows = []
    for face in ("a", "b"):
        for lv in (0.25, 0.5, 0.75, 1.0):
            rows.append({"face": face, "emotion": "sad", "level": lv, "method": "full", "variant": "",
                         "label": "sad" if lv == 1.0 else "neutral", "intensity": lv / 2, "correct": lv == 1.0,
                         "identity": 0.2, "same_person": True})
        rows.append({"face": face, "emotion": "sad", "level": 1.0, "method": "full", "variant": "x2",
                     "label": "angry", "intensity": 0.0, "correct": False, "identity": 0.7, "same_person": False})
    out = _summ_emotion(pd.DataFrame(rows))
    assert out["full"]["top1_full"] == 1.0 and out["full"]["same_person_share"] == 1.0
    assert out["full"]["spearman_pooled"] == pytest.approx(1.0) and out["full"]["renders"] == 8
    assert out["top1_full_by_gain"]["full x1"]["top1"] == 1.0
    assert out["top1_full_by_gain"]["full x2"] == {"top1": 0.0, "intensity": 0.0, "same_person_share": 0.0,
                                                   "per_emotion": {"sad": 0.0}}


def test_forehead_keep_spares_hair_above_the_brows_only():
    from faceanim.animate.texture import forehead_keep

    lm = _face68()                                   # brows at y = 93
    crop = np.empty((256, 256, 3), np.uint8)
    crop[:] = (205, 150, 125)                        # skin
    crop += np.random.default_rng(0).integers(0, 6, crop.shape, dtype=np.uint8)
    crop[:55] = (45, 32, 25)                         # a dark fringe high on the forehead
    crop[140:170, 40:70] = (45, 32, 25)              # the same colour below the brows (a shadow, a beard)
    keep = forehead_keep(crop, lm)
    assert keep.shape == (256, 256) and keep.dtype == np.float32
    assert keep[25, 128] < 0.05                      # texture kept off the hair
    assert keep[80, 128] > 0.95                      # forehead skin just above the brows keeps it
    assert keep[155, 55] > 0.99 and keep[200, 128] > 0.99  # nothing below the brows is touched
    assert np.all(forehead_keep(crop, lm * 0.02) == 1.0)   # too small to read the skin: keep everything


def test_intensity_calibration_picks_the_gain_that_reads_like_a_real_apex():
    from faceanim.animate.calibration import IntensityCalibration, _gain_reaching

    curve = {0.5: 0.1, 1.0: 0.3, 2.0: 0.7, 3.0: 0.65}       # a dip at the end is read as a plateau
    assert _gain_reaching(curve, 0.5) == pytest.approx(1.5)
    assert _gain_reaching(curve, 0.05) == 0.5 and _gain_reaching(curve, 0.9) == 3.0
    assert _gain_reaching(curve, 0.7) == pytest.approx(2.0)
    cal = IntensityCalibration(gain={"sad": 2.2, "happy": 0.97}, target={"sad": 0.73}, curve={"sad": curve})
    back = IntensityCalibration.from_state(cal.to_state())
    assert back.gain == cal.gain and back.gain_for("neutral") == 1.0 and back.gain_for("fear") == 1.0
    assert back.curve["sad"]["2.0"] == 0.7
    with pytest.raises(SettingError, match="calibrated gain"):
        IntensityCalibration(gain={"sad": 0.0})


def test_identity_cap_is_the_largest_gain_that_keeps_the_person():
    from faceanim.animate.calibration import IntensityCalibration, _gain_keeping

    kept = {0.5: 1.0, 1.0: 1.0, 1.5: 0.9, 2.0: 0.5, 3.0: 0.7}    # a recovery at the end is not trusted
    assert _gain_keeping(kept, 0.95) == pytest.approx(1.25)
    assert _gain_keeping(kept, 0.6) == pytest.approx(1.875)
    assert _gain_keeping({0.5: 1.0, 3.0: 1.0}, 0.95) == 3.0
    assert _gain_keeping({0.5: 0.8, 3.0: 0.1}, 0.95) == 0.5
    cal = IntensityCalibration(gain={"angry": 1.4}, kept={"angry": {"1.0": 1.0}}, capped={"angry": 1.4})
    back = IntensityCalibration.from_state(cal.to_state())
    assert back.capped == {"angry": 1.4} and back.kept == {"angry": {"1.0": 1.0}}
    old = IntensityCalibration.from_state({"gain": {"sad": 2.0}})       # files from before the identity cap
    assert old.kept == {} and old.capped == {}


def test_calibration_never_picks_a_gain_that_loses_the_person(monkeypatch):
    """A fake animator whose renders read more intense but drift from the person as the gain grows: the
    reading alone would pick the largest gain; the identity check stops it where 95% are still kept."""
    from types import SimpleNamespace

    import faceanim.animate.calibration as calibration
    import faceanim.face.identity as identity
    from faceanim.labels import EXPRESSIONS

    faces = 20
    clips = [SimpleNamespace(name=f"S{k:03d}_001", person=f"S{k:03d}", heldout=False, frames=[np.full((8, 8, 3), k)])
             for k in range(faces)]

    class Anim:
        def prepare(self, frame):
            return SimpleNamespace(crop=frame, landmarks=np.zeros((68, 2)), face=int(frame[0, 0, 0]))

        seen: set = set()

        def apex(self, source, emotion, gains, settings=None):
            self.seen.add(settings)
            return SimpleNamespace(crops=[(source.face, g) for g in gains], keypoints=[None] * len(gains))

    class Rec:
        name = "fake"

        def read(self, crop, kp):
            gain = 0.0 if isinstance(crop, np.ndarray) else crop[1]
            return SimpleNamespace(intensity=gain / 3.0)               # reaches 0.9 only at gain 2.7

    class Check:
        def face(self, image, points):
            return None

        def descriptor(self, image, face):
            return np.zeros(1)

        def distance(self, crop, kp, reference):
            face, gain = crop
            return 0.3 if gain < 1.5 or (gain < 2.0 and face > 0) else 0.9  # face 0 goes at 1.5, all at 2

    monkeypatch.setattr(calibration, "apex_targets", lambda rec, excl: {e: 0.9 for e in EXPRESSIONS})
    monkeypatch.setattr(identity, "IdentityCheck", Check)
    cal = calibration.calibrate_intensity(Anim(), Rec(), clips, progress=False)
    assert cal.kept["sad"][1.75] == pytest.approx(0.95) and cal.kept["sad"][2.0] == 0.0
    assert all(cal.gain[e] == pytest.approx(1.75) for e in EXPRESSIONS)  # 95% kept up to 1.75, none at 2.0
    assert cal.capped == {e: pytest.approx(1.75) for e in EXPRESSIONS}
    assert Anim.seen == {None}                                           # the apex's own default settings
    free = calibration.calibrate_intensity(Anim(), Rec(), clips, keep_person=None, settings="generator",
                                           progress=False)
    assert free.gain["sad"] == pytest.approx(2.7, abs=1e-3) and free.capped == {} and free.kept == {}
    assert Anim.seen == {None, "generator"}                              # rendered as it will be used


def test_calibrated_gain_in_the_animator(animator, astronaut):
    from faceanim.animate import Animator
    from faceanim.animate.calibration import IntensityCalibration

    assert animator.calibration is not None and animator.settings.calibrated
    sad = animator.calibration.gain_for("sad")
    assert animator.emotion_gain("sad") == pytest.approx(sad)
    assert animator.emotion_gain("sad", 3.0) == 3.0                       # capped at the slider's end
    assert animator.emotion_gain("neutral", 1.5) == 1.5
    source = animator.prepare(astronaut)
    cal = animator.emotion(source, "sad", 0.5, frames=2, paste=False, source_expression="neutral")
    raw = animator.emotion(source, "sad", 0.5, frames=2, paste=False, source_expression="neutral", calibrated=False)
    assert cal.info["calibrated_gain"] == pytest.approx(sad, abs=1e-3) and "calibrated_gain" not in raw.info
    # the calibration scales the motion: sad at 0.5 calibrated moves the keypoints as sad at 0.5 x gain
    np.testing.assert_allclose(cal.keypoints[-1] - source.landmarks, sad * (raw.keypoints[-1] - source.landmarks),
                               atol=1e-6)
    plain = Animator(refiner=None, texture=None, calibration=None)
    assert not plain.settings.calibrated and plain.emotion_gain("sad") == 1.0
    with pytest.raises(SettingError, match="calibration weights"):
        plain.emotion(source, "sad", 1.0, frames=2, refine=False, calibrated=True)
    halved = Animator(refiner=None, calibration=IntensityCalibration(gain={"sad": 0.5}))
    assert halved.emotion_gain("sad") == 0.5 and halved.emotion_gain("happy") == 1.0


@needs("ckplus48")
def test_apex_targets_read_real_apex_faces():
    from faceanim.animate.calibration import apex_targets
    from faceanim.animate.clips import HELDOUT_SUBJECTS
    from faceanim.emotion import create_recognizer

    t = apex_targets(create_recognizer(), HELDOUT_SUBJECTS)
    assert set(t) == {"angry", "disgust", "fear", "happy", "sad", "surprise"}
    assert all(0.5 < v <= 1.0 for v in t.values())       # real apex faces read as clearly expressive


@pytest.mark.slow
def test_streamed_animations_keep_memory_flat(tmp):
    """``output=`` streams: peak memory does not grow with the length (emotion with a long hold on a large
    photo; a long driving video), and the streamed file equals the frames held in memory."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import resource, sys, cv2
        from faceanim import demo
        from faceanim.animate import Animator
        kind, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        anim = Animator(refiner=None)
        if kind == "emotion":
            photo = cv2.resize(demo.astronaut(), (2400, 2400))
            anim.emotion(photo, "happy", frames=8, hold=n, refine=False, output=out)
        else:
            anim.drive(demo.astronaut(), demo.demo_video(frames=n), refine=False, output=out)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
    """)

    def peak(kind, n):
        p = subprocess.run([sys.executable, "-c", script, kind, str(n), str(tmp / f"{kind}{n}.mp4")],
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        return int(p.stdout.split()[-1])

    for kind, short, long in (("emotion", 12, 240), ("drive", 60, 600)):
        a, b = peak(kind, short), peak(kind, long)
        assert b - a < 100, f"{kind}: {a} MB for {short} frames, {b} MB for {long}"
    from faceanim import io
    from faceanim.animate import Animator
    from faceanim.demo import astronaut, demo_video

    anim = Animator(refiner=None, provenance=False)  # two marks with two output ids would differ
    held = anim.drive(astronaut(), demo_video(frames=12), refine=False)
    anim.drive(astronaut(), demo_video(frames=12), refine=False, output=tmp / "s.mp4")
    held.save(tmp / "h.mp4", provenance=False)
    with io.VideoReader(tmp / "s.mp4") as s, io.VideoReader(tmp / "h.mp4") as h:
        for x, y in zip(s, h):
            assert np.abs(x.image.astype(int) - y.image).max() <= 1
