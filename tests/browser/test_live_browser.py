"""Notebook 08 in a real JupyterLab with a fake camera fed from a real face video: the browser's webcam
drives the photo live. Animated frames must arrive in the page, and change with the controls (the
keypoint slider's value comes back with the frames made after it moved; side by side widens them).
Run with `make test-browser`; writes reports/browser/08_live_animation*.png and live.json."""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402

from faceanim.config import REPO_ROOT, has_dataset  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

NOTEBOOK = REPO_ROOT / "notebooks" / "08_live_animation.ipynb"
FRAME_JS = """
const img = document.querySelector('img.faceanim-live-frame');
const st = document.querySelector('.faceanim-live-status');
if (!img) return null;
return {frames: parseInt(img.dataset.frames || '0'), settings: img.dataset.settings || '',
        width: img.naturalWidth, src: img.src, status: st ? st.textContent : ''};
"""


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    """Frames as a YUV4MPEG2 (4:2:0) file: what Chromium's fake camera plays, in a loop."""
    import cv2

    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def _fake_camera(tmp: Path) -> Path:
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from _common import letterbox

    from faceanim.data import list_face_videos
    from faceanim.io import VideoReader

    path = next(p for p in list_face_videos() if p.stem == "liveportrait_d6")
    with VideoReader(path, max_frames=150) as reader:
        frames = [letterbox(f.image) for f in reader]
    return write_y4m(tmp / "camera.y4m", frames)


def _wait(driver, ok, timeout: float, what: str) -> dict:
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        last = driver.execute_script(FRAME_JS)
        if last and ok(last):
            return last
        time.sleep(0.5)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}; last {last}")


def test_the_webcam_drives_the_photo_live_in_jupyterlab(tmp_path):
    missing = harness.tools_missing()
    if missing:
        pytest.skip(missing)
    if not has_dataset("face_videos"):
        pytest.skip("the fake camera plays a real face video: FACEANIM_DATA has no face_videos")
    from selenium.webdriver.common.by import By

    camera = _fake_camera(tmp_path)
    work, shots = tmp_path / "work", REPO_ROOT / "reports" / "browser"
    (work / "notebooks").mkdir(parents=True)
    shots.mkdir(parents=True, exist_ok=True)
    harness.prepare_notebook(NOTEBOOK, work / "notebooks", work / "out")
    lab = harness.Lab(work / "notebooks", work)
    driver = harness.chromium(extra=("--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                                     f"--use-file-for-fake-video-capture={camera}",
                                     "--autoplay-policy=no-user-gesture-required"))
    report: dict = {"notebook": NOTEBOOK.stem, "camera": "liveportrait_d6 letterboxed to 640x480 (y4m)"}
    try:
        page = harness.NotebookPage(driver, lab, NOTEBOOK.name, workspace="live")
        state = page.run_all(900)
        assert not state["errors"], state["errors"]
        first = _wait(driver, lambda s: s["frames"] >= 5, 120, "animated frames in the page")
        time.sleep(3)
        later = driver.execute_script(FRAME_JS)
        assert later["frames"] > first["frames"] and later["src"] != first["src"], "frames stopped arriving"
        report["frames_in_3s"] = later["frames"] - first["frames"]
        driver.save_screenshot(str(shots / "08_live_animation.png"))

        # the keypoint slider: frames made after it moved say so
        slider = next(i for i, el in enumerate(driver.find_elements(By.CSS_SELECTOR, harness.WIDGETS))
                      if "keypoints" in (el.text or ""))
        page.change(slider, camera)
        moved = _wait(driver, lambda s: "keypoints=68" not in s["settings"] and s["frames"] > later["frames"]
                      and s["width"] > 0, 60,
                      "frames made with the new keypoint count")
        report["after_slider"] = moved["settings"]
        # side by side: the frames get the driver beside the photo (wider)
        box = next(i for i, el in enumerate(driver.find_elements(By.CSS_SELECTOR, harness.WIDGETS))
                   if "side by side" in (el.text or ""))
        page.change(box, camera)
        wide = _wait(driver, lambda s: s["width"] > moved["width"] and "side_by_side=True" in s["settings"], 60,
                     "side-by-side frames")
        report["width_before_after_side_by_side"] = [moved["width"], wide["width"]]
        driver.find_element(By.XPATH, "//button[contains(., 'reset pose')]").click()
        after_reset = _wait(driver, lambda s: s["frames"] > wide["frames"] + 3, 60, "frames after reset pose")
        report["status_after_reset"] = after_reset["status"]
        driver.save_screenshot(str(shots / "08_live_animation_side_by_side.png"))
        report["passed"] = True
    finally:
        driver.quit()
        lab.close()
        (shots / "live.json").write_text(json.dumps(report, indent=1))
