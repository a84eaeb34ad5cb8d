import ipywidgets as w

from faceanim.widgets import Checkbox, Dropdown, Slider, controls


def test_static_mode_calls_the_function_once_with_the_defaults():
    calls = []
    result = controls(lambda detector, min_score, flip: calls.append((detector, min_score, flip)) or "drawn",
                      interactive=False, detector=Dropdown("haar", ["mtcnn", "haar"]),
                      min_score=Slider(0.9, 0.0, 1.0, 0.05), flip=Checkbox(True))
    assert result.result == "drawn" and calls == [("haar", 0.9, True)]


def test_interactive_mode_wires_one_widget_per_parameter():
    handle = controls(lambda frames, strength: None, interactive=True,
                      frames=Slider(16, 2, 64, 1, "frames"), strength=Slider(0.5, 0.0, 1.0, 0.1))
    row = handle.box.children[0].children
    assert isinstance(row[0], w.IntSlider) and row[0].value == 16 and row[0].max == 64
    assert isinstance(row[1], w.FloatSlider) and row[1].value == 0.5 and row[1].description == "strength"
    assert handle.box.children[1] is handle.output and isinstance(handle.output, w.Output)


def test_every_change_redraws_the_figure_inside_the_widget(monkeypatch):
    """The bug seen in JupyterLab: a returned figure went to the inline backend (drawn only when a cell
    ends), so a slider change drew nothing and the first figure landed outside the widget. Each change
    must display a new figure while the widget's Output is the active context, and leave none open."""
    import IPython.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    depth, shown = [0], []
    monkeypatch.setattr(w.Output, "__enter__", lambda self: depth.__setitem__(0, depth[0] + 1))
    monkeypatch.setattr(w.Output, "__exit__", lambda self, *exc: depth.__setitem__(0, depth[0] - 1))
    monkeypatch.setattr(w.Output, "clear_output", lambda self, *a, **k: None)
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, depth[0])))

    def draw(score, name, flip):
        fig, ax = plt.subplots()
        ax.set_title(f"{name} {score:.2f} {flip}")
        plt.figure()  # a second figure opened with pyplot and not returned is shown too
        return fig

    handle = controls(draw, interactive=True, score=Slider(0.9, 0.0, 1.0, 0.05), name=Dropdown("a", ["a", "b"]),
                      flip=Checkbox(False))
    handle.widgets["score"].value = 0.5
    handle.widgets["name"].value = "b"
    handle.widgets["flip"].value = True
    assert shown[0] == (handle.box, 0)  # the box itself, outside any output
    figures = [(obj, d) for obj, d in shown[1:]]
    assert len(figures) == 8 and all(d == 1 for _, d in figures)  # 4 draws x 2 figures, all inside the widget
    titles = [obj.axes[0].get_title() for obj, _ in figures if obj.axes]
    assert titles == ["a 0.90 False", "a 0.50 False", "b 0.50 False", "b 0.50 True"]
    assert plt.get_fignums() == []  # nothing left for the inline backend to draw later, outside the widget
    # shown once: the handle as a cell's value does not display the box again
    handle._ipython_display_()
    assert len(shown) == 9


def test_a_setting_error_is_printed_in_the_widget_not_raised(capsys):
    from faceanim.errors import SettingError

    def draw(x):
        raise SettingError(f"x={x} is too large")

    controls(draw, interactive=True, x=Slider(3, 0, 5, 1))
    assert "cannot draw with these settings: x=3 is too large" in capsys.readouterr().out


def test_static_mode_saves_the_figure_through_the_report(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from faceanim.report import ReportWriter

    rep = ReportWriter(tmp_path, quick=True)
    shown = controls(lambda n: plt.subplots()[0], interactive=False, report=rep, save_as="preview", n=Slider(2, 1, 5))
    assert (tmp_path / "preview.png").stat().st_size > 1000 and rep.figures == ["preview.png"]
    # shown once where the call stands, then closed: the inline backend has nothing left to show again
    assert plt.get_fignums() == [] and shown.result.axes


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
