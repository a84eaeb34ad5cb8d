import numpy as np
import pytest
from conftest import needs
from PIL import Image

from faceanim import MediaError, io


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".webp", ".tiff"])
def test_image_formats_round_trip(tmp, astronaut, suffix):
    path = io.write_image(tmp / f"a{suffix}", astronaut)
    back = io.read_image(path)
    assert back.shape == astronaut.shape and back.dtype == np.uint8
    err = np.abs(back.astype(int) - astronaut.astype(int)).mean()
    assert err < (4.0 if suffix in (".jpg", ".webp") else 1e-9)


def test_gray_rgba_and_16bit(tmp):
    gray = np.tile(np.arange(256, dtype=np.uint8), (8, 1))
    Image.fromarray(gray).save(tmp / "g.png")
    out = io.read_image(tmp / "g.png")
    assert out.shape == (8, 256, 3) and (out[..., 0] == gray).all() and (out[..., 2] == gray).all()

    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:2, :, 3] = 255  # top half opaque red, bottom half fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp / "t.png")
    out = io.read_image(tmp / "t.png")
    assert (out[:2] == [200, 0, 0]).all() and (out[2:] == 255).all()

    deep = (np.arange(16, dtype=np.uint16).reshape(4, 4) * 4096).astype(np.uint16)
    Image.fromarray(deep).save(tmp / "d.png")
    out = io.read_image(tmp / "d.png")
    assert (out[..., 0] == (deep >> 8)).all()


def test_exif_rotation_is_applied(tmp):
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :20] = 255  # left half white
    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    im.save(tmp / "r.jpg", exif=exif, quality=98)
    out = io.read_image(tmp / "r.jpg")
    assert out.shape[:2] == (40, 20)
    assert out[:15].mean() > 200 and out[25:].mean() < 50  # the white half is now on top


@pytest.mark.parametrize("case, words", [
    ("missing", "does not exist"),
    ("empty", r"empty \(0 bytes\)"),
    ("text", "not an image"),
    ("truncated", "truncated"),
    ("folder", "folder"),
])
def test_bad_images_say_what_is_wrong(tmp, astronaut, case, words):
    path = tmp / "bad.png"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text":
        path.write_text("<html>this is not a picture</html>")
    elif case == "truncated":
        path = tmp / "bad.jpg"
        io.write_image(path, astronaut)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif case == "folder":
        path = tmp
    with pytest.raises(MediaError, match=words):
        io.read_image(path)


def test_as_rgb_rejects_batches():
    with pytest.raises(MediaError, match="one image at a time"):
        io.as_rgb(np.zeros((2, 8, 8, 3), np.uint8))
    assert io.as_rgb(np.ones((4, 4), np.float32)).max() == 255


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".gif"])
def test_video_round_trip(tmp, suffix):
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(10)]
    path = io.write_video(tmp / f"v{suffix}", frames, fps=10)
    with io.VideoReader(path) as reader:
        assert (reader.width, reader.height) == (64, 48)
        assert reader.fps == pytest.approx(10, rel=0.05)
        got = [f.image for f in reader]
    assert len(got) == 10
    means = [g.mean() for g in got]
    assert np.allclose(means, [20 * i for i in range(10)], atol=6)


def test_odd_sized_frames_are_padded_for_h264(tmp):
    path = io.write_video(tmp / "odd.mp4", [np.zeros((31, 45, 3), np.uint8)] * 3, fps=5)
    with io.VideoReader(path) as reader:
        assert (reader.width, reader.height) == (46, 32)


def test_writer_is_atomic_and_refuses_empty(tmp):
    target = tmp / "never.mp4"
    with pytest.raises(RuntimeError):
        with io.VideoWriter(target, fps=5) as out:
            out.write(np.zeros((16, 16, 3), np.uint8))
            raise RuntimeError("crash mid-write")
    assert not target.exists() and not list(tmp.iterdir())
    with pytest.raises(MediaError, match="no frames"):
        io.VideoWriter(tmp / "empty.mp4").close()
    assert not list(tmp.iterdir())


def test_reader_streams_with_step_and_limit(tmp):
    path = io.write_video(tmp / "count.mp4", [np.full((16, 16, 3), i * 10, np.uint8) for i in range(20)], fps=20)
    with io.VideoReader(path, step=3, max_frames=4) as reader:
        frames = list(reader)
    assert [f.index for f in frames] == [0, 3, 6, 9]
    assert frames[1].time == pytest.approx(3 / 20)


def test_bad_videos_say_what_is_wrong(tmp):
    import av

    with pytest.raises(MediaError, match="does not exist"):
        io.VideoReader(tmp / "nope.mp4")
    (tmp / "zero.mp4").write_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        io.VideoReader(tmp / "zero.mp4")
    (tmp / "junk.mp4").write_bytes(b"this is not a video at all " * 100)
    with pytest.raises(MediaError, match="cannot be opened"):
        io.VideoReader(tmp / "junk.mp4")
    # A valid AVI header whose movie list holds no frame.
    full = io.write_video(tmp / "full.avi", [np.full((32, 32, 3), 9, np.uint8)] * 5, fps=5).read_bytes()
    cut = full.find(b"movi") + 12
    (tmp / "noframes.avi").write_bytes(full[:cut])
    with pytest.raises(MediaError, match="no decodable video frames"):
        io.VideoReader(tmp / "noframes.avi")
    # An audio-only file: no video stream.
    with av.open(str(tmp / "audio.wav"), "w") as c:
        a = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for p in a.encode(frame):
            c.mux(p)
    with pytest.raises(MediaError, match="no video stream"):
        io.VideoReader(tmp / "audio.wav")
    with pytest.raises(MediaError, match="use .mp4, .avi or .gif"):
        io.VideoWriter(tmp / "x.mkv")


def test_missing_webcam_is_a_clear_error():
    with pytest.raises(MediaError, match="webcam 97"):
        io.VideoReader(97)


@needs("face_videos")
def test_real_video_metadata():
    from faceanim.data import list_face_videos

    path = [p for p in list_face_videos() if p.name == "liveportrait_d0.mp4"][0]
    with io.VideoReader(path) as reader:
        assert (reader.width, reader.height, reader.frame_count) == (512, 512, 78)
        assert reader.fps == pytest.approx(25.0)
        n = sum(1 for _ in reader)
    assert n == 78


def _damaged_copy(src, dst):
    data = bytearray(open(src, "rb").read())
    rng = np.random.default_rng(0)
    for off in (len(data) // 3, len(data) // 2):
        data[off:off + 3000] = rng.integers(0, 256, 3000, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))
    return dst


def test_damaged_video_is_read_past_the_damage(tmp):
    from faceanim import demo

    path = _damaged_copy(demo.demo_video(frames=120), tmp / "damaged.mp4")
    with io.VideoReader(path) as reader:
        n = sum(1 for _ in reader)
        assert reader.skipped >= 1
    assert 100 <= n < 120  # the frames after the damage are still read
