"""MEAD's emotional talking-face clips (``$FACEANIM_DATA/mead/clips``): each clip is one actor showing one
emotion (the file name says which) while speaking."""

from __future__ import annotations

import re
from pathlib import Path

from ..config import dataset_path
from ..labels import ALIASES

__all__ = ["list_mead_clips", "load_mead_pose", "MEAD_EMOTIONS"]

#: MEAD's emotion words -> ours ("contempt" has no class of ours and keeps its name)
MEAD_EMOTIONS = {"contempt": "contempt", **{k: v for k, v in ALIASES.items()}}
_FRONT = re.compile(r"^(?P<actor>[MW]\d{3})_front_(?P<emotion>[a-z]+)_level(?P<level>\d)_\d+$")
_EAMM = re.compile(r"^eamm_(?:(?P<actor>[MW]\d{3})_)?(?P<emotion>[a-z]+)(?:_level(?P<level>\d))?")


def list_mead_clips() -> "pandas.DataFrame":  # noqa: F821
    """One row per clip: ``path``, ``actor`` (EAMM's unnamed actors share the id ``eamm``, except its sad clip,
    which SOURCES.md names as M030), ``emotion`` (ours), ``level`` (1-3, or None when not stated)."""
    import pandas as pd

    rows = []
    for path in sorted(Path(dataset_path("mead")).glob("*.mp4")):
        m = _FRONT.match(path.stem) or _EAMM.match(path.stem)
        if m is None or m["emotion"] not in MEAD_EMOTIONS:
            continue
        actor = m["actor"] or ("M030" if m["emotion"] == "sad" else "eamm")
        rows.append({"path": path, "actor": actor, "emotion": MEAD_EMOTIONS[m["emotion"]],
                     "level": int(m["level"]) if m["level"] else None, "name": path.stem})
    table = pd.DataFrame(rows, columns=["path", "actor", "emotion", "level", "name"])
    table["level"] = table["level"].astype("Int64")
    return table


def load_mead_pose(name: str) -> "np.ndarray | None":  # noqa: F821
    """``(T, 3)`` head pose per frame of the MEAD clip ``name`` (pitch, yaw, roll in degrees) from its 3DMM fit
    (``$FACEANIM_DATA/mead/3dmm/<name>.mat``, coefficients 224-226), or None where the clip has no fit."""
    import numpy as np
    from scipy.io import loadmat

    path = Path(dataset_path("mead")).parent / "3dmm" / f"{name}.mat"
    if not path.exists():
        return None
    return np.degrees(np.asarray(loadmat(path)["coeff"], np.float64)[:, 224:227])
