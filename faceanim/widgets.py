"""Sliders and dropdowns that only wire controls to package functions.

In JupyterLab (``interactive=True``) :func:`controls` shows ipywidgets and re-runs the function on every
change; under papermill (``interactive=False``) it calls the function once with the defaults, so the
executed report holds the same figure, statically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

__all__ = ["Slider", "Dropdown", "Checkbox", "controls"]


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
