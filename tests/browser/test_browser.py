"""Every slider, dropdown, checkbox and upload in the notebooks visibly drives its output in a real
JupyterLab (headless Chromium). Run with `make test-browser`; writes reports/browser/."""

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import harness  # noqa: E402

from faceanim.config import REPO_ROOT, dataset_path  # noqa: E402
from faceanim.errors import DataNotFoundError  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _runnable() -> tuple[list[Path], list[str]]:
    books, skipped = [], []
    for path in sorted((REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(path.read_text()).get("metadata", {}).get("faceanim", {})
        if meta.get("browser") == "live":  # a webcam notebook: test_live_browser.py feeds it a fake camera
            continue
        needs = meta.get("requires", [])
        try:
            for name in needs:
                dataset_path(name)
            books.append(path)
        except DataNotFoundError:
            skipped.append(path.stem)
    return books, skipped


def test_every_widget_drives_its_output_in_jupyterlab(tmp_path):
    missing = harness.tools_missing()
    if missing:
        pytest.skip(missing)
    import cv2
    from skimage import data

    upload = tmp_path / "portrait.png"  # scikit-image's astronaut (public domain, NASA)
    cv2.imwrite(str(upload), data.astronaut()[..., ::-1])
    books, skipped = _runnable()
    out = REPO_ROOT / "reports" / "browser"
    results = harness.check_notebooks(books, tmp_path / "work", out, upload)
    report = {"notebooks": [r.to_dict() for r in results], "skipped_for_data": skipped}
    for r in report["notebooks"]:
        r["screenshot"] = Path(r["screenshot"]).name if r["screenshot"] else None
    (out / "browser.json").write_text(json.dumps(report, indent=1))
    failures = [f"{r.notebook}: {r.error}" for r in results if not r.ran]
    failures += [f"{r.notebook}: {w.kind} '{w.label}' did not change its output ({w.seconds} s)"
                 for r in results for w in r.widgets if not w.changed]
    assert not failures, "\n".join(failures)
    assert all(r.widgets for r in results), [r.notebook for r in results if not r.widgets]  # each has controls
    assert all((out / f"{r.notebook}.png").stat().st_size > 10_000 for r in results)
