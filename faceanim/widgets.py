"""Sliders and dropdowns that only wire controls to package functions.

In JupyterLab (``interactive=True``) :func:`controls` shows ipywidgets and re-runs the function on every
change; under papermill (``interactive=False``) it calls the function once with the defaults, so the
executed report holds the same figure, statically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import FaceanimError, MediaError

__all__ = ["Slider", "Dropdown", "Checkbox", "Controls", "Shown", "controls", "decode_upload", "image_upload"]


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


class Controls:
    """The widgets :func:`controls` made, and the output they drive (shown once, wherever the call stands).

    Attributes:
        widgets: one ipywidget per keyword, by name.
        output: the ``ipywidgets.Output`` the function draws into.
        box: both, as one ``VBox``.
    """

    def __init__(self, fn: Callable[..., Any], widgets: dict[str, Any]):
        import ipywidgets as w

        self.fn, self.widgets = fn, widgets
        self.output = w.Output()
        self.box = w.VBox([w.HBox(list(widgets.values())), self.output])
        self._shown = False
        for widget in widgets.values():
            widget.observe(lambda _change: self.redraw(), names="value")

    @property
    def values(self) -> dict[str, Any]:
        return {name: widget.value for name, widget in self.widgets.items()}

    def redraw(self) -> None:
        """Call the function with the widgets' values and show what it draws in :attr:`output`."""
        with self.output:
            self.output.clear_output(wait=True)
            _show(self.fn, self.values)

    def _ipython_display_(self) -> None:  # the cell's value: the box once, never twice
        if not self._shown:
            from IPython.display import display

            display(self.box)
            self._shown = True


class Shown:
    """What :func:`controls` returns under papermill: ``fn``'s :attr:`result`, already displayed where the
    call stands (so a cell that ends with the call does not show it twice)."""

    def __init__(self, result: Any):
        self.result = result

    def _ipython_display_(self) -> None:
        pass


def _show(fn: Callable[..., Any], values: dict[str, Any], failed: str = "cannot draw with these settings",
          before: set | None = None, result: Any = None) -> Any:
    """Run ``fn(**values)`` and display its result, and every pyplot figure it opened, right here; returns
    the result. (With ``before`` given, ``fn`` already ran: ``result`` is what it returned.)

    A figure left to matplotlib's inline backend is only drawn when a cell finishes, so after a widget
    change (no cell runs) it would never appear, and on the first call it would land outside the widget.
    A :class:`~faceanim.errors.FaceanimError` (a bad combination of settings) is printed, not raised.
    """
    import matplotlib.pyplot as plt
    from IPython.display import display
    from matplotlib.figure import Figure

    if before is None:
        before = set(plt.get_fignums())
        try:
            result = fn(**values)
        except FaceanimError as exc:
            print(f"{failed}: {exc}")
            result = None
    shown = []
    if isinstance(result, Figure):
        display(result)
        shown.append(result)
    elif result is not None:
        display(result)
    for num in sorted(set(plt.get_fignums()) - before):
        fig = plt.figure(num)
        if fig not in shown:
            display(fig)
        shown.append(fig)
    for fig in shown:
        plt.close(fig)
    return result


def controls(fn: Callable[..., Any], interactive: bool = True, report: Any = None, save_as: str | None = None,
             **specs: Slider | Dropdown | Checkbox):
    """Show ``fn`` behind one control per keyword (interactive), or call it once with the defaults.

    ``fn`` draws: it returns a matplotlib figure (or anything IPython can display), or opens one with
    pyplot. Interactive, the figure is redrawn inside the widget on every change and a :class:`Controls`
    is returned (shown once, even as the cell's value). Static (papermill), ``fn`` runs once with the
    defaults, its figure is saved as ``<save_as>.png`` through ``report`` (a
    :class:`~faceanim.report.ReportWriter`) when both are given, shown once, and returned in a :class:`Shown`.
    """
    if not interactive:
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        result = fn(**{name: spec.value for name, spec in specs.items()})
        if report is not None and save_as:
            report.figure(result, save_as)
        return Shown(_show(fn, {}, before=before, result=result))
    handle = Controls(fn, {name: spec.widget(name) for name, spec in specs.items()})
    handle._ipython_display_()
    handle.redraw()
    return handle


def decode_upload(content: bytes):
    """RGB array from the bytes of an uploaded image file; a :class:`MediaError` if they are not an image."""
    import cv2
    import numpy as np

    arr = cv2.imdecode(np.frombuffer(bytes(content), np.uint8), cv2.IMREAD_COLOR)
    if arr is None:
        raise MediaError("the uploaded file is not an image OpenCV can read (use jpg, png, bmp or webp)")
    return cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)


def image_upload(on_image: Callable[[Any], Any], interactive: bool = True):
    """A file-upload button that calls ``on_image(rgb_array)`` with each uploaded photo (JupyterLab only;
    under papermill nothing is shown and the notebook's ``photo`` parameter is used instead).

    What ``on_image`` returns (e.g. a figure of the new photo) is shown under the button.
    """
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
                image = decode_upload(item["content"])
            except MediaError as exc:
                print(f"could not use this photo: {exc}")
                return
            print(f"using {item.get('name', 'the upload')}")
            _show(lambda: on_image(image), {}, failed="could not use this photo")

    button.observe(changed, names="value")
    box = w.VBox([button, message])
    display(box)
    return box
