"""Drive the numbered notebooks in a real JupyterLab with headless Chromium, as a user would.

JupyterLab runs on a free port of 127.0.0.1; Debian's ``chromium`` and ``chromium-driver`` (never a
downloaded browser) are driven through selenium. For each notebook: run every cell (quick parameters,
``interactive = True``), then change each slider, dropdown, checkbox and upload in turn and wait until the
output that control drives shows something new. A screenshot of each notebook goes to ``reports/browser/``.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

CHROMIUM = os.environ.get("FACEANIM_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FACEANIM_CHROMEDRIVER", "/usr/bin/chromedriver")
WIDGETS = ".widget-slider, .widget-dropdown, .widget-checkbox, .widget-upload"


def tools_missing() -> str | None:
    """Why the harness cannot run here (``None`` when it can)."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not Path(path).exists():
            return f"{path} is missing: `make setup-browser` installs Debian's chromium and chromium-driver"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: `make setup-browser` installs it"
    return None


@dataclass
class WidgetCheck:
    """One control changed in the browser, and whether the output it drives changed."""

    kind: str
    label: str
    before: str
    after: str
    changed: bool
    seconds: float


@dataclass
class NotebookCheck:
    notebook: str
    ran: bool
    error: str = ""
    seconds: float = 0.0
    widgets: list[WidgetCheck] = field(default_factory=list)
    screenshot: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_notebook(src: Path, dest_dir: Path, output_dir: Path) -> Path:
    """A copy of ``src`` with quick parameters injected after its ``parameters`` cell (as papermill does),
    outputs written under ``output_dir``; the widgets stay interactive."""
    nb = nbformat.read(src, as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    cell = nbformat.v4.new_code_cell(f"# injected by the browser test\nquick = True\ninteractive = True\n"
                                     f"output_dir = {str(output_dir)!r}")
    nb.cells.insert(idx + 1, cell)
    dest = dest_dir / src.name
    nbformat.write(nb, dest)
    return dest


class Lab:
    """A JupyterLab server on 127.0.0.1 over ``root``, with the notebook windowing off (every cell in the
    DOM) and no news or update checks (the network is closed)."""

    def __init__(self, root: Path, work: Path):
        self.root, self.work = root, work
        self.port, self.token = _free_port(), "faceanim-browser-test"
        settings = work / "lab-settings"
        for rel, value in {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
                           "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                               {"checkForUpdates": False, "fetchNews": "false"}}.items():
            (settings / rel).parent.mkdir(parents=True, exist_ok=True)
            (settings / rel).write_text(json.dumps(value))
        env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), JUPYTERLAB_WORKSPACES_DIR=str(work / "ws"),
                   MPLBACKEND="module://matplotlib_inline.backend_inline")
        if env.get("FACEANIM_DATA"):  # the kernels run in the copy: a relative path (../shared/data) must not move
            env["FACEANIM_DATA"] = str(Path(env["FACEANIM_DATA"]).expanduser().resolve())
        self.log = open(work / "jupyterlab.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={root}", "--allow-root",
             "--LabApp.expose_app_in_browser=True", "--ServerApp.port_retries=0",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env, cwd=root)
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{self.url('api/status')}", timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.5)
        self.close()
        raise RuntimeError(f"JupyterLab did not start; see {work / 'jupyterlab.log'}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def chromium(width: int = 1400, height: int = 1800, extra: tuple[str, ...] = ()):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--window-size={width},{height}", *extra):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


# --- what the page shows, read through JupyterLab's own objects (expose_app_in_browser) -----------------
_STATE_JS = """
let w = null;
if (window.jupyterapp)
    for (const x of Array.from(window.jupyterapp.shell.widgets('main')))
        if (x.context && x.context.path === arguments[0]) w = x;
if (!w || !w.content || !w.sessionContext || !w.sessionContext.session || !w.sessionContext.session.kernel)
    return {ready: false};
const cells = w.content.widgets.filter(c => c.model.type === 'code');
const errors = [];
for (const c of cells) for (const o of c.model.outputs.toJSON())
    if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
return {ready: true, status: w.sessionContext.session.kernel.status,
        done: cells.every(c => c.model.executionCount !== null), errors: errors,
        pending: w.content.widgets.filter(c => c.model.type === 'code' &&
                 c.node.querySelector('.jp-InputPrompt') &&
                 c.node.querySelector('.jp-InputPrompt').textContent.includes('*')).length};
"""

_DRIVEN_JS = """
const el = document.querySelectorAll(arguments[0])[arguments[1]];
const box = el.closest('.widget-vbox');
const out = box && box.querySelector('.widget-output');
if (!out) return null;
const imgs = Array.from(out.querySelectorAll('img')).map(i => i.src.length + ':' + i.src.slice(-64));
return imgs.join('|') + '#' + out.innerText.trim().slice(0, 300);
"""

_LABEL_JS = r"""
const el = document.querySelectorAll(arguments[0])[arguments[1]];
const clean = t => (t || '').replace(/[\u200b\s]+/g, ' ').trim();
const d = el.querySelector('.widget-label');
return clean(d && d.textContent) || clean(el.innerText) || el.className;
"""


class NotebookPage:
    def __init__(self, driver, lab: Lab, name: str, workspace: str):
        self.driver, self.lab, self.name = driver, lab, name
        # a workspace of its own: JupyterLab restores nothing from the notebook before
        driver.get(lab.url(f"lab/workspaces/{workspace}/tree/{name}") + "&reset")
        self.wait(lambda s: s.get("ready") and s["status"] == "idle", 120, "the kernel to start")

    def state(self) -> dict:
        return self.driver.execute_script(_STATE_JS, self.name) or {}

    def wait(self, ok, timeout: float, what: str) -> dict:
        deadline = time.time() + timeout
        state = {}
        while time.time() < deadline:
            state = self.state()
            if ok(state):
                return state
            time.sleep(0.5)
        raise TimeoutError(f"{self.name}: waited {timeout:.0f} s for {what}; last state {state}")

    def run_all(self, timeout: float) -> dict:
        self.driver.execute_script("""
            for (const x of Array.from(window.jupyterapp.shell.widgets('main')))
                if (x.context && x.context.path === arguments[0]) window.jupyterapp.shell.activateById(x.id);
            window.jupyterapp.commands.execute('notebook:run-all-cells');""", self.name)
        time.sleep(1.0)
        return self.wait(lambda s: s.get("ready") and (s["errors"] or (s["done"] and not s["pending"]
                                                                        and s["status"] == "idle")),
                         timeout, "every cell to run")

    def controls(self, settle: float = 30.0) -> int:
        """How many controls the page shows, once their count has held still for 2 s (widget views are
        drawn after the kernel goes idle, so right after the last cell some may not be there yet)."""
        deadline, last, since = time.time() + settle, -1, time.time()
        while time.time() < deadline:
            n = len(self.driver.find_elements("css selector", WIDGETS))
            if n != last:
                last, since = n, time.time()
            elif n > 0 and time.time() - since >= 2.0:
                break
            time.sleep(0.25)
        return last

    def driven(self, i: int) -> str | None:
        return self.driver.execute_script(_DRIVEN_JS, WIDGETS, i)

    def change(self, i: int, upload: Path) -> str:
        """Change control ``i`` the way a user would; returns its kind."""
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support.ui import Select

        el = self.driver.find_elements("css selector", WIDGETS)[i]
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
        cls = el.get_attribute("class")
        if "widget-slider" in cls:
            handle = el.find_element("css selector", ".noUi-handle")
            lo, hi = float(handle.get_attribute("aria-valuemin")), float(handle.get_attribute("aria-valuemax"))
            now = float(handle.get_attribute("aria-valuenow"))
            target = lo + (0.8 if now < (lo + hi) / 2 else 0.2) * (hi - lo)
            readout = el.find_element("css selector", ".widget-readout")
            readout.click()
            readout.send_keys(Keys.CONTROL, "a")
            readout.send_keys(f"{target:.4g}", Keys.ENTER)
            return "slider"
        if "widget-dropdown" in cls:
            select = Select(el.find_element("css selector", "select"))
            options = [o.get_attribute("value") for o in select.options]
            current = select.first_selected_option.get_attribute("value")
            # the option before the current one (after "surprise" comes "neutral", which would leave the
            # emotion preview with no motion for the sliders after it to change)
            select.select_by_value(options[(options.index(current) - 1) % len(options)])
            return "dropdown"
        if "widget-checkbox" in cls:
            el.find_element("css selector", "input[type=checkbox]").click()
            return "checkbox"
        # the upload button clicks a file input it keeps out of the page, which opens the file dialog; here
        # that one click puts the input on the page instead, and selenium fills it as the dialog would
        file_input = self.driver.execute_script("""
            const button = arguments[0], click = HTMLInputElement.prototype.click;
            let caught = null;
            HTMLInputElement.prototype.click = function () {
                if (this.type !== 'file') return click.call(this);
                this.style.display = 'block';
                document.body.appendChild(this);
                caught = this;
            };
            try { button.click(); } finally { HTMLInputElement.prototype.click = click; }
            return caught;""", el)
        if file_input is None:
            raise RuntimeError("the upload button opened no file input")
        file_input.send_keys(str(upload))
        return "upload"

    def check_control(self, i: int, upload: Path, timeout: float) -> WidgetCheck:
        before = self.driven(i) or ""
        label = self.driver.execute_script(_LABEL_JS, WIDGETS, i)
        t = time.time()
        kind = self.change(i, upload)
        after = before
        deadline = time.time() + timeout
        while time.time() < deadline:
            time.sleep(0.5)
            state = self.state()
            after = self.driven(i) or ""
            if after != before and state.get("status") == "idle" and after.split("#")[0]:
                break
        return WidgetCheck(kind, label, before[-80:], after[-80:], after != before and bool(after.split("#")[0]),
                           round(time.time() - t, 1))


def check_notebooks(notebooks: list[Path], work: Path, screenshots: Path, upload: Path,
                    run_timeout: float = 900, widget_timeout: float = 90) -> list[NotebookCheck]:
    """Open, run and exercise each notebook; one :class:`NotebookCheck` each."""
    root = work / "notebooks"
    root.mkdir(parents=True, exist_ok=True)
    screenshots.mkdir(parents=True, exist_ok=True)
    for src in notebooks:
        prepare_notebook(src, root, work / "out" / src.stem)
    # the notebooks import their photo and helpers relative to notebooks/ (e.g. ../reports): keep siblings
    lab = Lab(root, work)
    results = []
    try:
        for k, src in enumerate(notebooks):
            t0 = time.time()
            check = NotebookCheck(src.stem, ran=False)
            driver = chromium()  # a fresh browser per notebook: nothing of the last one's state is left
            try:
                page = NotebookPage(driver, lab, src.name, workspace=f"w{k}")
                state = page.run_all(run_timeout)
                if state["errors"]:
                    check.error = "; ".join(state["errors"])[:2000]
                else:
                    check.ran = True
                    for i in range(page.controls()):
                        check.widgets.append(page.check_control(i, upload, widget_timeout))
            except Exception as exc:  # the report says what went wrong; the test asserts on it
                check.error = f"{type(exc).__name__}: {exc}"[:2000]
            shot = screenshots / f"{src.stem}.png"
            driver.save_screenshot(str(shot))
            driver.quit()
            check.screenshot = str(shot)
            check.seconds = round(time.time() - t0, 1)
            results.append(check)
            error = f" ERROR {check.error[:300]}" if check.error else ""
            print(f"[browser] {src.stem}: {'ran' if check.ran else 'FAILED'}{error}; "
                  + ", ".join(f"{w.kind} {w.label!r} {'changed' if w.changed else 'UNCHANGED'} ({w.seconds} s)"
                              for w in check.widgets), flush=True)
            _shutdown_kernels(lab)
    finally:
        lab.close()
    shutil.rmtree(root, ignore_errors=True)
    return results


def _shutdown_kernels(lab: Lab) -> None:
    """Free the memory of the last notebook's kernel before the next one starts."""
    req = urllib.request.Request(lab.url("api/kernels"))
    try:
        kernels = json.loads(urllib.request.urlopen(req, timeout=10).read())
    except OSError:
        return
    for k in kernels:
        urllib.request.urlopen(urllib.request.Request(lab.url(f"api/kernels/{k['id']}"), method="DELETE"), timeout=30)
