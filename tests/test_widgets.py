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
