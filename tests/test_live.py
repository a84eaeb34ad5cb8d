"""Live animation: the streaming driver (Puppet / Animator.stream), MediaPipe tracking, the refiner's
backends and window, and the faults a live stream meets (lost face, unreadable frames, a camera that
disappears, Ctrl-C)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import needs

from faceanim.animate import Animator, driving_keypoints
from faceanim.animate.animator import AnimationSettings
from faceanim.animate.clips import fill_landmarks, follow_crops
from faceanim.animate.live import LiveSettings, Puppet
from faceanim.errors import MediaError, NoFaceError, SettingError
from faceanim.io import VideoReader


@pytest.fixture(scope="module")
def anim() -> Animator:
    return Animator()


@pytest.fixture(scope="module")
def driving() -> list[np.ndarray]:
    """40 frames of a real face video (a talking head turning a little)."""
    from faceanim.data import list_face_videos

    path = next(p for p in list_face_videos() if p.stem == "liveportrait_d6")
    with VideoReader(path, max_frames=40) as reader:
        return [f.image for f in reader]


@pytest.fixture(scope="module")
def source(anim, astronaut):
    return anim.prepare(astronaut)


@needs("face_videos")
def test_streaming_equals_the_batch_path(anim, source, driving):
    """drive() is now a loop over the stream; the old path (all landmarks first, then the whole track
    rendered in batches of 8) gives the same frames within 1 grey level."""
    settings = AnimationSettings(filter_strength=0.5)
    landmarks = fill_landmarks([lm for _, lm in follow_crops(driving, "d6", pipeline=anim.pipeline)], "d6")[0]
    track = driving_keypoints(source.landmarks, landmarks, "relative", "first")
    batch = anim.render(source, track, 25.0, settings)
    streamed = anim.drive(source, driving, filter_strength=0.5)
    assert len(streamed) == len(batch) == len(driving)
    diff = np.abs(streamed.frames.astype(int) - batch.frames.astype(int))
    assert diff.max() <= 1, diff.max()
    assert np.abs(streamed.keypoints - batch.keypoints).max() < 1e-3


@needs("face_videos")
def test_stream_is_causal_and_moves(anim, source, driving):
    """Frame t depends only on frames up to t: a stream cut short gives the same first frames."""
    short = [f.image for f in Puppet(source, anim, tracker="mediapipe", filter_strength=0.5).run(driving[:12])]
    full = [f.image for f in Puppet(source, anim, tracker="mediapipe", filter_strength=0.5).run(driving)]
    for a, b in zip(short, full[:12]):
        assert np.array_equal(a, b)
    moved = [np.abs(f.astype(int) - source.image.astype(int)).mean() for f in full]
    assert max(moved) > 0.5  # the face really moves with the driver


@needs("face_videos")
def test_lost_face_holds_eases_back_and_recovers_without_jumps(anim, source, driving):
    blank = np.full_like(driving[0], 128)
    frames = driving[:10] + [blank] * 30 + driving[10:25]
    live = LiveSettings(tracker="mediapipe", hold=4, ease_back=10, recover=5, max_jump=6.0)
    puppet = Puppet(source, anim, live=live, refine=False)
    out = list(puppet.run(frames))
    states = [f.state for f in out]
    assert states[:10] == ["tracking"] * 10
    assert states[10:14] == ["holding"] * 4 and states[14] == "easing"
    np.testing.assert_allclose(out[13].keypoints, out[9].keypoints)  # the last pose, held
    # eased back to the photo's own pose, then recovered and tracking again
    assert np.abs(out[39].keypoints - source.landmarks).max() < 1e-6
    assert states[40] == "recovering" and states[-1] == "tracking"
    steps = [np.linalg.norm(b.keypoints - a.keypoints, axis=1).max() for a, b in zip(out, out[1:])]
    assert max(steps) <= 6.0 + 1e-9
    assert puppet.summary.lost == 30


@needs("face_videos")
def test_unreadable_frames_are_skipped_and_counted(anim, source, driving):
    frames = [driving[0], None, np.zeros((3,), np.uint8), driving[1], "not a frame", driving[2]]
    puppet = Puppet(source, anim, refine=False)
    out = list(puppet.run(frames))
    assert [f.index for f in out] == [0, 3, 5]
    assert puppet.summary.skipped == 3


def _failing(frames, after: int, exc: BaseException):
    for i, f in enumerate(frames):
        if i == after:
            raise exc
        yield f


@needs("face_videos")
@pytest.mark.parametrize("fault", ["camera", "ctrl-c"])
def test_a_stream_that_stops_keeps_a_playable_file(anim, source, driving, tmp, fault):
    out = tmp / "live.mp4"
    exc: BaseException = OSError("the camera was unplugged") if fault == "camera" else KeyboardInterrupt()
    puppet = Puppet(source, anim, refine=False)
    expected = MediaError if fault == "camera" else KeyboardInterrupt
    with pytest.raises(expected) as info:
        for _ in puppet.run(_failing(driving, 7, exc), output=out):
            pass
    if fault == "camera":
        assert "after 7 frames" in str(info.value) and str(out) in str(info.value)
    with VideoReader(out) as reader:
        assert sum(1 for _ in reader) == 7
    assert not list(tmp.glob(".*faceanim*"))  # no temporaries left


def test_a_photo_without_a_face_fails_before_the_stream(anim):
    consumed = []

    def frames():
        consumed.append(1)
        yield np.zeros((64, 64, 3), np.uint8)

    with pytest.raises(NoFaceError, match="no face"):
        anim.stream(np.full((200, 200, 3), 90, np.uint8), frames())
    assert not consumed


@needs("face_videos")
def test_reset_recentres_and_settings_change_mid_stream(anim, source, driving):
    puppet = Puppet(source, anim, tracker="mediapipe", refine=False)
    for f in driving[:15]:
        puppet.step(f)
    puppet.reset()
    again = puppet.step(driving[15])
    np.testing.assert_allclose(again.keypoints, source.landmarks, atol=1e-9)  # the reference is this frame
    puppet.configure(keypoints=5, side_by_side=True, mode="absolute")
    shown = puppet.step(driving[16])
    assert shown.image.shape[1] > source.image.shape[1]  # the driver beside the photo
    with pytest.raises(SettingError):
        puppet.configure(keypoints=99)
    with pytest.raises(SettingError):
        Puppet(source, anim, tracker="kinect")


@needs("face_videos")
def test_mediapipe_tracker_agrees_with_dlib(driving):
    from faceanim.face import FacePipeline, create_detector
    from faceanim.face.mesh import MESH_POINTS, MeshLandmarker, mesh_to_68

    dlib = FacePipeline("mtcnn", "dlib68", template=None, max_faces=1)
    mesh = FacePipeline("mediapipe", "mediapipe", template="animation", max_faces=1)
    a, b = dlib(driving[0]).faces[0], mesh(driving[0]).faces[0]
    iod = np.linalg.norm(a.landmarks[36:42].mean(0) - a.landmarks[42:48].mean(0))
    assert np.linalg.norm(a.landmarks - b.landmarks, axis=1).mean() < 0.1 * iod
    assert b.extra["mesh"].shape == (MESH_POINTS, 2) and mesh_to_68(b.extra["mesh"]).shape == (68, 2)
    assert create_detector("mediapipe").detect(np.zeros((240, 320, 3), np.uint8)) == []
    assert isinstance(mesh.landmarker, MeshLandmarker)


def test_refiner_window_and_onnx_backend(anim, source):
    from faceanim.animate.animator import FrameRenderer
    from faceanim.animate.motion import emotion_keypoints
    from faceanim.animate.refine import Refiner, refine_window

    kp = emotion_keypoints(source.landmarks, anim.motion, "surprise", 1.0)
    item = FrameRenderer(anim, source, AnimationSettings(paste=False)).warp(0, kp)
    x, warped = item[4][None], item[3][None]
    y0, y1, x0, x1 = win = refine_window(source.landmarks, [kp], 256)
    assert 0 <= y0 < y1 <= 256 and (y1 - y0) % 8 == 0 and (x1 - x0) % 8 == 0 and (y1 - y0) < 256
    full = anim.refiner.refine_batch(x)
    windowed = anim.refiner.refine_batch(x, window=win, warped=warped)
    outside = np.ones((256, 256), bool)
    outside[y0:y1, x0:x1] = False
    assert np.array_equal(windowed[0][outside], warped[0][outside])
    assert np.abs(windowed.astype(int) - full.astype(int)).mean() < 2.0  # the same face, nearly
    fp32 = Refiner.load(precision="fp32", backend="torch")
    onnx = Refiner.load(backend="onnx")
    assert onnx.name == "onnx fp32"
    assert np.abs(onnx.refine_batch(x).astype(int) - fp32.refine_batch(x).astype(int)).max() <= 2
    with pytest.raises(SettingError):
        Refiner.load(backend="tensorrt")


@needs("face_videos")
def test_cli_puppet(tmp, driving, astronaut, capsys):
    from faceanim.cli import main
    from faceanim.io import write_image, write_video

    video, photo, out = tmp / "d.mp4", tmp / "a.png", tmp / "out.mp4"
    write_video(video, driving[:12], fps=25)
    write_image(photo, astronaut)
    assert main(["puppet", str(photo), "--source", str(video), "-o", str(out), "--side-by-side", "--warp-only"]) == 0
    printed = capsys.readouterr().out
    assert "12 frames" in printed and f"wrote {out}" in printed
    with VideoReader(out) as reader:
        assert (reader.width, sum(1 for _ in reader)) == (1024, 12)
    write_image(tmp / "blank.png", np.full((128, 128, 3), 90, np.uint8))
    assert main(["puppet", str(tmp / "blank.png"), "--source", str(video)]) == 2
    assert "no face" in capsys.readouterr().err


@pytest.mark.slow
@needs("face_videos")
def test_memory_stays_flat_over_a_long_stream(anim, source, driving, tmp):
    """RSS grows by less than 100 MB between frame 300 and frame 3,000 of a long input written to a file."""
    import psutil

    proc = psutil.Process()
    rss = {}

    def frames():
        for i in range(3000):
            if i in (300, 2999):
                rss[i] = proc.memory_info().rss
            yield driving[(i // 2) % len(driving)]

    for _ in Puppet(source, anim, refine=False).run(frames(), output=tmp / "long.mp4"):
        pass
    growth = (rss[2999] - rss[300]) / 2**20
    assert growth < 100, f"RSS grew {growth:.0f} MB between frame 300 and 3000"


def test_detector_and_landmarker_names_match_the_registries():
    from faceanim.face import available_detectors, available_landmarkers
    from faceanim.face.detect import DETECTOR_NAMES, MIN_SCORES
    from faceanim.face.landmarks import LANDMARKER_NAMES

    assert set(DETECTOR_NAMES) == set(available_detectors()) == set(MIN_SCORES)
    assert set(LANDMARKER_NAMES) == set(available_landmarkers())


@needs("face_videos")
def test_the_emoji_stream_can_track_with_mediapipe(driving):
    from faceanim.video import EmotionStream

    stream = EmotionStream(detector="mediapipe", landmarker="mediapipe", stride=5)
    frames = list(stream.frames(driving[:12], progress=False))
    assert len(frames) == 12 and all(len(f.faces) == 1 for f in frames)
    assert sum(f.detected for f in frames) < 12  # tracked between detections
    with pytest.raises(SettingError):
        EmotionStream(landmarker="openface")


def test_the_refiner_backend_follows_the_machine(monkeypatch):
    """auto: torch where the machine runs bf16, ONNX Runtime where it runs fp32 (faster there, measured)."""
    from faceanim.animate.refine import Refiner

    monkeypatch.delenv("FACEANIM_BACKEND", raising=False)
    assert Refiner.load(precision="fp32").backend == "onnx"
    monkeypatch.setenv("FACEANIM_BACKEND", "torch")
    assert Refiner.load(precision="fp32").backend == "torch"
