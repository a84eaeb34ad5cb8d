import numpy as np
import pytest
from conftest import needs

from faceanim import BackendError, FaceanimError, SettingError, demo
from faceanim.face import (
    TEMPLATES,
    Face,
    FacePipeline,
    align_face,
    create_detector,
    create_landmarker,
    paste_back,
    similarity_matrix,
)

# Where the astronaut's face is (pixels): eyes near y=102, x=205 and 247.
EYES = np.array([[205, 102], [247, 104]], float)


@pytest.mark.parametrize("name", ["mtcnn", "haar"])
def test_detectors_find_the_astronaut(request, astronaut, name):
    faces = request.getfixturevalue(name).detect(astronaut)
    assert len(faces) == 1
    f = faces[0]
    assert f.detector == name and 0.5 < f.score <= 1.0
    x1, y1, x2, y2 = f.box
    assert x1 < EYES[:, 0].min() and x2 > EYES[:, 0].max() and y1 < EYES[:, 1].min() and y2 > EYES[:, 1].max()
    assert f.points5.shape == (5, 2)
    assert np.linalg.norm(f.points5[:2] - EYES, axis=1).max() < 6  # eyes in the right place, right order
    assert f.points5[3, 1] > f.points5[2, 1] > f.points5[0, 1]  # mouth below nose below eyes


def test_landmarks_agree_with_mtcnn_points(astronaut, mtcnn):
    faces = mtcnn.detect(astronaut)
    lm = create_landmarker("dlib68")
    lm.fit(astronaut, faces)
    f = faces[0]
    assert f.landmarks.shape == (68, 2)
    assert np.linalg.norm(lm.points5(f.landmarks) - f.points5, axis=1).mean() < 5
    x1, y1, x2, y2 = f.box
    xs, ys = f.landmarks[:, 0], f.landmarks[:, 1]
    inside = (xs > x1 - 15) & (xs < x2 + 15) & (ys > y1 - 15) & (ys < y2 + 15)
    assert inside.all()


@pytest.mark.parametrize("name", ["mtcnn", "haar"])
def test_several_faces(request, name):
    group = demo.group_photo(n=3)
    faces = request.getfixturevalue(name).detect(group)
    assert len(faces) == 3
    centres = sorted(f.center[0] for f in faces)
    assert np.diff(centres).min() > 150  # three different faces, not one found thrice
    assert all(f.score >= faces[-1].score for f in faces)  # sorted by score


@pytest.mark.parametrize("name", ["mtcnn", "haar"])
def test_no_face_gives_an_empty_list(request, name):
    det = request.getfixturevalue(name)
    assert det.detect(np.full((240, 320, 3), 128, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert len(det.detect(noise)) <= 1  # noise may fool a cascade once, never many times
    assert det.detect(np.zeros((5, 5, 3), np.uint8)) == []  # too small to hold a face: not an error


def test_tiny_and_small_faces(astronaut, mtcnn):
    small = np.ascontiguousarray(astronaut[::4, ::4])  # face about 24 px
    faces = mtcnn.detect(small)
    assert len(faces) == 1 and np.linalg.norm(faces[0].points5[:2] - EYES / 4, axis=1).max() < 3
    tiny = np.ascontiguousarray(astronaut[::8, ::8])  # about 12 px: below MTCNN's 20 px search floor
    for f in mtcnn.detect(tiny):
        assert (f.box >= 0).all() and (f.box[2:] <= 64).all()
    aligned = align_face(small, faces[0], "animation")
    assert aligned.image.shape == (256, 256, 3) and aligned.scale > 3  # upsampled, and says so


def test_huge_image_is_searched_downscaled(astronaut, mtcnn):
    import cv2

    huge = cv2.resize(astronaut, (8000, 8000), interpolation=cv2.INTER_LINEAR)
    faces = mtcnn.detect(huge)
    assert len(faces) == 1
    scale = 8000 / 512
    assert np.linalg.norm(faces[0].points5[:2] / scale - EYES, axis=1).max() < 6
    assert faces[0].box[2] <= 8000 and faces[0].box[3] <= 8000


def test_half_hidden_and_sideways_faces(astronaut, mtcnn, haar):
    """Half the face hidden (as in a strong profile): MTCNN still finds it, over the visible half.
    A face turned on its side: both frontal detectors return nothing rather than a wrong face."""
    half = astronaut.copy()
    half[:, 226:] = 0
    faces = mtcnn.detect(half)
    assert len(faces) == 1 and faces[0].box[0] < 200 and faces[0].box[2] <= 262
    assert faces[0].points5.shape == (5, 2) and (faces[0].points5[:, 0] < 262).all()
    sideways = np.ascontiguousarray(np.rot90(astronaut))
    assert mtcnn.detect(sideways) == [] and haar.detect(sideways) == []


def test_haar_profile_cascade_runs(astronaut):
    det = create_detector("haar", profile=True)
    faces = det.detect(astronaut)
    assert len(faces) >= 1  # the frontal face is still found once merged with profile hits


def test_alignment_lands_points_on_the_template(astronaut, mtcnn):
    face = mtcnn.detect(astronaut)[0]
    for name in ("animation", "fer", "arcface"):
        a = align_face(astronaut, face, name)
        tpl = TEMPLATES[name]
        assert a.image.shape == ((tpl.size, tpl.size) if tpl.gray else (tpl.size, tpl.size, 3))
        err = np.linalg.norm(a.to_crop(face.points5) - tpl.pixels(), axis=1).mean()
        assert err < 0.05 * tpl.size  # a similarity fit of 5 points: close, not exact
        assert np.allclose(a.to_frame(a.to_crop(face.points5)), face.points5, atol=1e-6)


def test_similarity_matrix_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    ang, s, t = np.radians(17), 1.7, np.array([3.0, -8.0])
    rot = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    dst = src @ rot.T + t
    m = similarity_matrix(src, dst)
    assert np.allclose(m[:, :2], rot, atol=1e-9) and np.allclose(m[:, 2], t, atol=1e-9)


def test_paste_back_changes_the_face_and_keeps_the_background(astronaut, mtcnn):
    face = mtcnn.detect(astronaut)[0]
    a = align_face(astronaut, face, "animation")
    same = paste_back(astronaut, a.image, a)
    x1, y1, x2, y2 = face.box.astype(int)
    assert np.abs(same[y1:y2, x1:x2].astype(int) - astronaut[y1:y2, x1:x2]).mean() < 4
    white = np.full_like(a.image, 255)
    out = paste_back(astronaut, white, a)
    assert out[y1:y2, x1:x2].mean() > 240  # the face region took the new crop
    assert (out[450:, :100] == astronaut[450:, :100]).all()  # far background untouched
    big = np.full((512, 512, 3), 255, np.uint8)  # a crop at another resolution maps back too
    assert paste_back(astronaut, big, a)[y1:y2, x1:x2].mean() > 240
    assert np.shares_memory(out, astronaut) is False


def test_pipeline_gives_faces_landmarks_and_crops(astronaut):
    result = FacePipeline("haar", template="fer")(astronaut)
    assert len(result.faces) == 1 and result.faces[0].landmarks.shape == (68, 2)
    assert result.aligned[0].image.shape == (48, 48)
    table = result.to_frame()
    assert list(table.columns[:6]) == ["face", "x1", "y1", "x2", "y2", "score"] and len(table) == 1


def test_pipeline_on_a_video(tmp):
    path = demo.demo_video(tmp / "d.mp4", frames=12)
    table = FacePipeline("haar", landmarker=None, template=None).video_table(path, step=2, progress=False)
    assert sorted(table.frame.unique()) == [0, 2, 4, 6, 8, 10]
    assert (table.groupby("frame").face.max() >= 0).all()  # the astronaut is found in every sampled frame


def test_clear_errors(astronaut):
    with pytest.raises(BackendError, match="choose one of: haar, mediapipe, mtcnn"):
        create_detector("yolo")
    with pytest.raises(FaceanimError, match="no five points"):
        align_face(astronaut, Face(box=[0, 0, 10, 10], score=1.0), "fer")
    with pytest.raises(FaceanimError, match="unknown template"):
        align_face(astronaut, Face(box=[0, 0, 10, 10], score=1.0, points5=np.ones((5, 2))), "nope")
    with pytest.raises(SettingError, match="min_score"):
        create_detector("haar", min_score=2.0)


@needs("face_videos")
def test_mtcnn_finds_the_one_face_in_every_real_video(mtcnn):
    """Frames 0, 30, 60, 90 of each real face video: exactly one face, big and confident (tilted heads and
    open mouths included, which the frontal Haar cascade misses on some of these frames)."""
    from faceanim.data import list_face_videos
    from faceanim.io import VideoReader

    for path in list_face_videos():
        with VideoReader(path, step=30, max_frames=4) as reader:
            for frame in reader:
                faces = mtcnn.detect(frame.image)
                assert len(faces) == 1, f"{path.name} frame {frame.index}: {len(faces)} faces"
                assert faces[0].score > 0.95 and faces[0].size > 0.2 * min(reader.width, reader.height)
