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

__all__ = ["Slider", "Dropdown", "Checkbox", "Controls", "Shown", "controls", "decode_upload", "image_upload",
           "webcam_puppet", "live_controls", "kernel_camera"]


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


# --- live animation in the browser ------------------------------------------------------------------------
# The page's webcam (getUserMedia) -> a JPEG per frame to the kernel (two in flight: the next frame waits
# in the kernel while one is animated, hiding the round trip; a slow kernel lowers the rate instead of
# building a queue)
# -> Puppet.step -> the animated JPEG back, drawn in an <img> that carries how many frames arrived and
# the settings the last one was made with (data-frames, data-settings: what the browser test reads).
_WEBCAM_JS = r"""
function render({ model, el }) {
  const video = document.createElement("video");
  video.autoplay = true; video.muted = true; video.playsInline = true; video.width = 240;
  const img = document.createElement("img");
  img.className = "faceanim-live-frame"; img.dataset.frames = "0";
  img.style.minWidth = "0"; img.style.maxWidth = "calc(100% - 250px)"; img.style.height = "auto";
  const status = document.createElement("div");
  status.className = "faceanim-live-status"; status.style.fontFamily = "monospace";
  const row = document.createElement("div");
  row.style.display = "flex"; row.style.gap = "8px"; row.style.alignItems = "flex-start";
  row.append(video, img);
  el.classList.add("faceanim-live"); el.append(row, status);
  const canvas = document.createElement("canvas");
  let inflight = 0, encoding = false, got = 0, stream = null, stopped = false, t0 = performance.now();
  async function start() {
    const w = model.get("width"), h = model.get("height");
    canvas.width = w; canvas.height = h;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: w, height: h }, audio: false });
    } catch (e) {
      status.textContent = "no camera in this browser: " + e;
      model.set("error", String(e)); model.save_changes(); return;
    }
    video.srcObject = stream;
    await video.play();
    tick();
  }
  function tick() {
    if (stopped) return;
    if (model.get("running") && inflight < 2 && !encoding && video.readyState >= 2) {
      encoding = true;
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(async (blob) => {
        encoding = false;
        if (!blob) return;
        inflight += 1;
        model.send({ type: "frame" }, undefined, [await blob.arrayBuffer()]);
      }, "image/jpeg", 0.85);
    }
    setTimeout(tick, 5);
  }
  model.on("msg:custom", (msg, buffers) => {
    if (msg.type !== "frame") return;
    inflight = Math.max(0, inflight - 1);
    if (!buffers || !buffers.length) { status.textContent = msg.status; return; }
    got += 1;
    const old = img.src;
    img.src = URL.createObjectURL(new Blob([buffers[0]], { type: "image/jpeg" }));
    if (old) URL.revokeObjectURL(old);
    img.dataset.frames = String(got);
    img.dataset.settings = msg.settings;
    const fps = got / ((performance.now() - t0) / 1000);
    status.textContent = msg.status + " | " + fps.toFixed(1) + " fps in the page";
  });
  start();
  return () => { stopped = true; if (stream) stream.getTracks().forEach((t) => t.stop()); };
}
export default { render };
"""


def _webcam_widget_class():
    import anywidget
    import traitlets

    class WebcamPuppet(anywidget.AnyWidget):
        """The browser's webcam drives a :class:`~faceanim.animate.live.Puppet` in the kernel."""

        _esm = _WEBCAM_JS
        width = traitlets.Int(640).tag(sync=True)
        height = traitlets.Int(480).tag(sync=True)
        running = traitlets.Bool(True).tag(sync=True)
        error = traitlets.Unicode("").tag(sync=True)

        def __init__(self, puppet, quality: int = 85, **kwargs):
            super().__init__(**kwargs)
            self.puppet, self.quality, self.frames = puppet, int(quality), 0
            self.on_msg(self._on_frame)

        def settings_text(self) -> str:
            st, live = self.puppet.settings, self.puppet.live
            return (f"keypoints={st.keypoints} filter={st.filter_strength:g} refine={'on' if st.refine else 'off'} "
                    f"mode={live.mode} side_by_side={live.side_by_side}")

        def _on_frame(self, _widget, content, buffers) -> None:
            import cv2
            import numpy as np

            if not isinstance(content, dict) or content.get("type") != "frame" or not buffers:
                return
            bgr = cv2.imdecode(np.frombuffer(bytes(buffers[0]), np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:  # a frame the browser could not encode: ask for the next one
                self.send({"type": "frame", "status": "unreadable frame skipped"})
                return
            try:
                out = self.puppet.step(bgr[..., ::-1])
            except FaceanimError as exc:
                self.send({"type": "frame", "status": f"error: {exc}"})
                return
            self.frames += 1
            ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(out.image[..., ::-1]),
                                    [cv2.IMWRITE_JPEG_QUALITY, self.quality])
            status = f"frame {self.frames}: {out.state}, {out.ms:.0f} ms in the kernel"
            self.send({"type": "frame", "settings": self.settings_text(), "status": status}, buffers=[jpeg.tobytes()])

    return WebcamPuppet


def webcam_puppet(puppet, width: int = 640, height: int = 480):
    """An anywidget showing the browser's webcam and, beside it, the photo it animates live (JupyterLab 4)."""
    return _webcam_widget_class()(puppet, width=width, height=height)


def live_controls(puppet, view=None):
    """Sliders for a live :class:`~faceanim.animate.live.Puppet`: keypoints, filter strength, refine, mode,
    side by side, and a "reset pose" button; each change goes to the puppet at once (the next frame
    uses it). ``view``: the widget showing the frames (e.g. :func:`webcam_puppet`), placed under them."""
    import ipywidgets as w

    st, live = puppet.settings, puppet.live
    items = {
        "keypoints": w.IntSlider(value=st.keypoints, min=5, max=68, step=1, description="keypoints",
                                 continuous_update=False),
        "filter_strength": w.FloatSlider(value=st.filter_strength, min=0, max=1, step=0.05,
                                         description="filter strength", continuous_update=False,
                                         style={"description_width": "initial"}),
        "refine": w.Checkbox(value=st.refine, description="refine (GAN)"),
        "mode": w.Dropdown(value=live.mode, options=["relative", "absolute"], description="mode"),
        "side_by_side": w.Checkbox(value=live.side_by_side, description="side by side"),
    }
    message = w.HTML()

    def apply(name):
        def on_change(change):
            try:
                puppet.configure(**{name: change["new"]})
                message.value = ""
            except FaceanimError as exc:
                message.value = f"<b>cannot use that</b>: {exc}"
        return on_change

    for name, widget in items.items():
        widget.observe(apply(name), names="value")
    reset = w.Button(description="reset pose", tooltip="the next frame becomes the reference pose")
    reset.on_click(lambda _b: puppet.reset())
    rows = [w.HBox([items["keypoints"], items["filter_strength"]]),
            w.HBox([items["refine"], items["mode"], items["side_by_side"], reset]), message]
    return w.VBox(([view] if view is not None else []) + rows)


def kernel_camera(puppet, source=0, max_frames: int | None = None):
    """The kernel's own camera (``cv2.VideoCapture(source)``) or a video driving ``puppet`` in a background
    thread, each animated frame shown in an ``ipywidgets.Image``; a "stop" button ends it (the stream
    stops with a message, never a traceback, if the camera goes away)."""
    import threading

    import cv2
    import ipywidgets as w
    import numpy as np

    image, status, stop = w.Image(format="jpeg"), w.HTML(), w.Button(description="stop")
    halt = threading.Event()
    stop.on_click(lambda _b: halt.set())

    def loop() -> None:
        try:
            for frame in puppet.run(source, max_frames=max_frames):
                image.value = cv2.imencode(".jpg", np.ascontiguousarray(frame.image[..., ::-1]))[1].tobytes()
                status.value = f"frame {frame.index}: {frame.state}, {frame.ms:.0f} ms"
                if halt.is_set():
                    break
        except FaceanimError as exc:
            status.value = f"<b>stopped</b>: {exc}"
            return
        status.value = f"stopped: {puppet.summary.ended}"

    threading.Thread(target=loop, daemon=True, name="faceanim-camera").start()
    return w.VBox([image, w.HBox([stop, status])])
