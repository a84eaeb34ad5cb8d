import os
from pathlib import Path

import numpy as np
import pytest

from faceanim import demo
from faceanim.config import has_dataset


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return demo.astronaut()


@pytest.fixture(scope="session")
def mtcnn():
    from faceanim.face import create_detector

    return create_detector("mtcnn")


@pytest.fixture(scope="session")
def haar():
    from faceanim.face import create_detector

    return create_detector("haar")


def needs(*datasets: str):
    """Skip when a dataset is absent (CI sets FACEANIM_DATA, so there these tests always run)."""
    missing = [d for d in datasets if not has_dataset(d)]
    return pytest.mark.skipif(bool(missing), reason=f"datasets missing: {missing}; set FACEANIM_DATA")


@pytest.fixture(autouse=True, scope="session")
def _ci_has_data():
    # On CI the shared data must be there: a silently skipped data test would hide a broken loader.
    if os.environ.get("CI") and not has_dataset("fer2013"):
        pytest.fail("CI=true but FACEANIM_DATA has no FER-2013; .ci/run must set FACEANIM_DATA=../shared/data")
    yield


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path
