"""Where things live: the data folder (``FACEANIM_DATA``), weights, reports.

All data is found through one setting, the environment variable ``FACEANIM_DATA``. When it is not set,
``<repo>/data`` is used, so a user can also drop (or symlink) their copy there. Weights are found the same
way through ``FACEANIM_WEIGHTS`` (default ``<repo>/weights``), reports through ``FACEANIM_REPORTS``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import DataNotFoundError

__all__ = ["REPO_ROOT", "data_dir", "dataset_path", "has_dataset", "reports_dir", "cache_dir", "weights_dir", "DATASETS"]

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Where each dataset sits inside the data folder, and how a user gets it.
DATASETS: dict[str, dict[str, str]] = {
    "fer2013": {
        "path": "fer2013/fer2013.npz",
        "how": "FER-2013 (Goodfellow et al. 2013, Kaggle 'challenges-in-representation-learning-facial-"
        "expression-recognition-challenge'). Put the Kaggle fer2013.csv, the train/<emotion>/*.jpg "
        "folders, or fer2013.npz under $FACEANIM_DATA/fer2013/.",
    },
    "ferplus": {
        "path": "ferplus/fer2013new.csv",
        "how": "FER+ labels (Microsoft FERPlus repository, fer2013new.csv, MIT). Put it at "
        "$FACEANIM_DATA/ferplus/fer2013new.csv.",
    },
    "ckplus_sequences": {
        "path": "ckplus/ckplus_sequences.npz",
        "how": "CK+ neutral-to-apex sequences (Lucey et al. 2010; request access from the University of "
        "Pittsburgh). Pack them as $FACEANIM_DATA/ckplus/ckplus_sequences.npz (see README, 'Data').",
    },
    "ckplus48": {
        "path": "ckplus/ckplus48.npz",
        "how": "CK+48 apex crops (48x48). Pack them as $FACEANIM_DATA/ckplus/ckplus48.npz (see README).",
    },
    "face_videos": {
        "path": "face_videos/videos",
        "how": "Short face-centred videos (*.mp4) in $FACEANIM_DATA/face_videos/videos/.",
    },
    "stills": {
        "path": "face_videos/stills",
        "how": "Portrait photos in $FACEANIM_DATA/face_videos/stills/.",
    },
    "mead": {
        "path": "mead/clips",
        "how": "MEAD emotional talking-face clips (Wang et al. 2020, research use): <actor>_front_<emotion>_"
        "level<L>_<n>.mp4 (and eamm_<emotion>.mp4) in $FACEANIM_DATA/mead/clips/.",
    },
}


def data_dir() -> Path:
    """The data folder: ``$FACEANIM_DATA`` if set, else ``<repo>/data``."""
    env = os.environ.get("FACEANIM_DATA")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "data"


def dataset_path(name: str) -> Path:
    """Path of a named dataset, or a :class:`DataNotFoundError` saying how to get it."""
    if name not in DATASETS:
        raise DataNotFoundError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    path = data_dir() / DATASETS[name]["path"]
    if not path.exists():
        where = "FACEANIM_DATA=" + os.environ["FACEANIM_DATA"] if "FACEANIM_DATA" in os.environ else (
            "FACEANIM_DATA is not set, so the repo's data/ folder was searched"
        )
        raise DataNotFoundError(
            f"dataset {name!r} not found at {path} ({where}). {DATASETS[name]['how']}"
        )
    return path


def has_dataset(name: str) -> bool:
    """True when :func:`dataset_path` would succeed."""
    try:
        dataset_path(name)
    except DataNotFoundError:
        return False
    return True


def reports_dir() -> Path:
    """Where executed notebooks, figures and metrics go (``$FACEANIM_REPORTS`` or ``<repo>/reports``)."""
    env = os.environ.get("FACEANIM_REPORTS")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "reports"


def cache_dir() -> Path:
    """Where prepared data is kept between runs (crops, aligned faces): ``$FACEANIM_CACHE`` or ``<repo>/runs/cache``."""
    env = os.environ.get("FACEANIM_CACHE")
    return Path(env).expanduser() if env else REPO_ROOT / "runs" / "cache"


def weights_dir() -> Path:
    """Where weights are found: ``$FACEANIM_WEIGHTS`` if set (a non-editable install points it at a copy of
    the repository's ``weights/``), else ``<repo>/weights``, where they are committed."""
    env = os.environ.get("FACEANIM_WEIGHTS")
    return Path(env).expanduser().resolve() if env else REPO_ROOT / "weights"
