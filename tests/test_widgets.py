import ipywidgets as w

from faceanim.widgets import Checkbox, Dropdown, Slider, controls


def test_static_mode_calls_the_function_once_with_the_defaults():
    calls = []
    result = controls(lambda detector, min_score, flip: calls.append((detector, min_score, flip)) or "drawn",
                      interactive=False, detector=Dropdown("haar", ["mtcnn", "haar"]),
                      min_score=Slider(0.9, 0.0, 1.0, 0.05), flip=Checkbox(True))
    assert result == "drawn" and calls == [("haar", 0.9, True)]


def test_interactive_mode_wires_one_widget_per_parameter():
    box = controls(lambda frames, strength: None, interactive=True,
                   frames=Slider(16, 2, 64, 1, "frames"), strength=Slider(0.5, 0.0, 1.0, 0.1))
    row = box.children[0].children
    assert isinstance(row[0], w.IntSlider) and row[0].value == 16 and row[0].max == 64
    assert isinstance(row[1], w.FloatSlider) and row[1].value == 0.5 and row[1].description == "strength"
    assert isinstance(box.children[1], w.Output)


def test_image_upload_decodes_photos_and_reports_bad_files():
    import cv2
    import numpy as np
    import pytest

    from faceanim.errors import MediaError
    from faceanim.widgets import decode_upload, image_upload

    img = np.zeros((20, 30, 3), np.uint8)
    img[..., 0] = 200  # red in RGB
    ok, png = cv2.imencode(".png", img[..., ::-1])
    out = decode_upload(png.tobytes())
    assert out.shape == (20, 30, 3) and out[0, 0].tolist() == [200, 0, 0]
    with pytest.raises(MediaError, match="not an image"):
        decode_upload(b"hello")
    assert image_upload(lambda im: None, interactive=False) is None
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    got = []
    box = image_upload(got.append, interactive=True)
    button, message = box.children
    button.value = ({"name": "face.png", "content": memoryview(png.tobytes()), "type": "image/png",
                     "size": len(png), "last_modified": now},)
    assert len(got) == 1 and got[0].shape == (20, 30, 3)
    button.value = ({"name": "notes.txt", "content": memoryview(b"text"), "type": "text/plain", "size": 4,
                     "last_modified": now},)
    assert len(got) == 1  # a bad file is reported in the widget, not passed on
