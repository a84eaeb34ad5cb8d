"""Sliders and dropdowns that only wire controls to package functions.

In JupyterLab (``interactive=True``) :func:`controls` shows ipywidgets and re-runs the function on every
change; under papermill (``interactive=False``) it calls the function once with the defaults, so the
executed report holds the same figure, statically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["Slider", "Dropdown", "Checkbox", "controls", "decode_upload", "image_upload"]


@dataclass
class Slider:
    value: float
    min: float
    max: float
    step: float = 1.0
    description: str = ""

    def widget(self, name: str):
        import ipywidgets as w

        is_int = all(float(v).is_integer() for v in (self.value, self.min, self.max, self.step))
        cls = w.IntSlider if is_int else w.FloatSlider
        cast = int if is_int else float
        return cls(value=cast(self.value), min=cast(self.min), max=cast(self.max), step=cast(self.step),
                   description=self.description or name, continuous_update=False,
                   style={"description_width": "initial"})


@dataclass
class Dropdown:
    value: Any
    options: Sequence[Any]
    description: str = ""

    def widget(self, name: str):
        import ipywidgets as w

        return w.Dropdown(value=self.value, options=list(self.options), description=self.description or name)


@dataclass
class Checkbox:
    value: bool
    description: str = ""

    def widget(self, name: str):
        import ipywidgets as w

        return w.Checkbox(value=self.value, description=self.description or name)


def controls(fn: Callable[..., Any], interactive: bool = True, **specs: Slider | Dropdown | Checkbox):
    """Show ``fn`` behind one control per keyword (interactive), or call it once with the defaults.

    ``fn`` should draw (e.g. return or show a matplotlib figure); its return value is displayed.
    Returns the ipywidgets container when interactive, else ``fn``'s result.
    """
    if not interactive:
        return fn(**{name: spec.value for name, spec in specs.items()})
    import ipywidgets as w
    from IPython.display import display

    widgets = {name: spec.widget(name) for name, spec in specs.items()}
    out = w.interactive_output(fn, widgets)
    box = w.VBox([w.HBox(list(widgets.values())), out])
    display(box)
    return box


def decode_upload(content: bytes):
    """RGB array from the bytes of an uploaded image file; a :class:`MediaError` if they are not an image."""
    import cv2
    import numpy as np

    from .errors import MediaError

    arr = cv2.imdecode(np.frombuffer(bytes(content), np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise MediaError("the uploaded file is not an image OpenCV can read (use jpg, png, bmp or webp)")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def image_upload(on_image: Callable[[Any], Any], interactive: bool = True):
    """A file-upload button that calls ``on_image(rgb_array)`` with each uploaded photo (JupyterLab only;
    under papermill nothing is shown and the notebook's ``photo`` parameter is used instead)."""
    if not interactive:
        return None
    import ipywidgets as w
    from IPython.display import display

    button = w.FileUpload(accept="image/*", multiple=False, description="upload photo")
    message = w.Output()

    def changed(change):
        files = change["new"]
        if not files:
            return
        item = files[0] if isinstance(files, (list, tuple)) else next(iter(files.values()))
        message.clear_output()
        with message:
            try:
                on_image(decode_upload(item["content"]))
                print(f"using {item.get('name', 'the upload')}")
            except Exception as exc:  # shown to the user, not raised inside the widget callback
                print(f"could not use this photo: {exc}")

    button.observe(changed, names="value")
    box = w.VBox([button, message])
    display(box)
    return box
