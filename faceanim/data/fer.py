"""FER-2013 (and FER+ votes) from any of the forms users have, as one dataset object."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import data_dir, dataset_path
from ..errors import DataNotFoundError, FaceanimError
from ..labels import ALIASES, EMOTIONS

__all__ = ["EMOTIONS", "SPLITS", "FERPLUS_COLUMNS", "FER2013", "load_fer2013", "read_ferplus_csv"]

log = logging.getLogger(__name__)

SPLITS = ("Training", "PublicTest", "PrivateTest")
#: Column order of FER+'s fer2013new.csv vote columns.
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                   "unknown", "NF")
# FER+ vote column -> FER-2013 label id (contempt, unknown and NF have none).
_FERPLUS_TO_FER = {0: 6, 1: 3, 2: 5, 3: 4, 4: 0, 5: 1, 6: 2}
_FOLDER_ALIASES = {word: EMOTIONS.index(name) for word, name in ALIASES.items()}


@dataclass
class FER2013:
    """FER-2013 faces with labels, the original split, and FER+ votes where known.

    Attributes:
        images: ``(N, 48, 48)`` uint8 gray faces.
        labels: ``(N,)`` int64, ids into :data:`EMOTIONS`.
        usage: ``(N,)`` split names from :data:`SPLITS`.
        ferplus_votes: ``(N, 10)`` vote counts in :data:`FERPLUS_COLUMNS` order, or ``None``.
        exact: ``(N,)`` bool, rows whose pixels and row index are verified (``None`` if unknown).
        source: where it was read from.
    """

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    ferplus_votes: np.ndarray | None = None
    exact: np.ndarray | None = None
    source: str = ""
    classes: tuple[str, ...] = field(default=EMOTIONS)

    def __post_init__(self) -> None:
        n = len(self.images)
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise FaceanimError(f"FER-2013 images must be (N, H, W) uint8, got {self.images.shape} {self.images.dtype}")
        for name in ("labels", "usage"):
            if len(getattr(self, name)) != n:
                raise FaceanimError(f"FER-2013 {name} has {len(getattr(self, name))} rows, images have {n}")
        if self.ferplus_votes is not None and len(self.ferplus_votes) != n:
            raise FaceanimError("FER+ votes do not line up with the images")

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        counts = {s: int((self.usage == s).sum()) for s in SPLITS}
        return f"FER2013({len(self)} faces, {counts}, ferplus={self.ferplus_votes is not None}, source={self.source!r})"

    def subset(self, mask_or_index) -> "FER2013":
        idx = np.asarray(mask_or_index)
        pick = (lambda a: None if a is None else a[idx])
        return FER2013(self.images[idx], self.labels[idx], self.usage[idx], pick(self.ferplus_votes),
                       pick(self.exact), self.source)

    def split(self, name: str) -> "FER2013":
        """One of ``Training``, ``PublicTest``, ``PrivateTest``."""
        if name not in SPLITS:
            raise FaceanimError(f"unknown split {name!r}; choose one of {', '.join(SPLITS)}")
        return self.subset(self.usage == name)

    def counts(self) -> "pandas.DataFrame":  # noqa: F821
        """Faces per class (rows) and split (columns)."""
        import pandas as pd

        table = pd.crosstab(pd.Categorical([self.classes[i] for i in self.labels], categories=self.classes),
                            pd.Categorical(self.usage, categories=SPLITS), dropna=False)
        table.index.name, table.columns.name = "emotion", "split"
        return table

    # ---- FER+
    def ferplus_distribution(self) -> np.ndarray:
        """``(N, 7)`` FER+ vote shares over FER-2013's classes (contempt/unknown/not-a-face dropped).

        Rows without any usable vote (and rows whose pixels are not verified, where the votes cannot be
        trusted to belong to the image) are NaN.
        """
        if self.ferplus_votes is None:
            raise DataNotFoundError("this copy of FER-2013 has no FER+ votes; load it with the FER+ csv beside it")
        votes = np.zeros((len(self), 7), np.float64)
        for col, cls in _FERPLUS_TO_FER.items():
            votes[:, cls] = self.ferplus_votes[:, col]
        total = votes.sum(1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            dist = votes / total
        bad = (total[:, 0] == 0)
        if self.exact is not None:
            bad |= ~self.exact
        dist[bad] = np.nan
        return dist

    def ferplus_majority(self) -> np.ndarray:
        """FER+ majority class per face (ties -> lowest id), -1 where FER+ gives none."""
        dist = self.ferplus_distribution()
        out = np.full(len(self), -1, np.int64)
        ok = ~np.isnan(dist).any(1)
        out[ok] = dist[ok].argmax(1)
        return out



def read_ferplus_csv(path: str | os.PathLike) -> np.ndarray:
    """The ``(N, 10)`` vote table of FER+'s ``fer2013new.csv``."""
    import pandas as pd

    table = pd.read_csv(path)
    missing = [c for c in FERPLUS_COLUMNS if c not in table.columns]
    if missing:
        raise FaceanimError(f"{path} is not FER+'s fer2013new.csv: columns {missing} are missing")
    return table[list(FERPLUS_COLUMNS)].fillna(0).to_numpy(np.int64)


def load_fer2013(path: str | os.PathLike | None = None, ferplus: str | os.PathLike | None | bool = True) -> FER2013:
    """Load FER-2013 from ``fer2013.npz``, Kaggle's ``fer2013.csv``, or ``train/``+``test/`` image folders.

    Args:
        path: a file or folder; by default ``$FACEANIM_DATA/fer2013/`` is searched for any of the three.
        ferplus: FER+ ``fer2013new.csv`` path, ``True`` to look in ``$FACEANIM_DATA/ferplus/``, or
            ``False``. Votes are joined by row, so only for the npz and csv forms (the image folders do
            not keep the original row order).
    """
    root = Path(path) if path is not None else None
    if root is None:
        folder = data_dir() / "fer2013"
        for candidate in (folder / "fer2013.npz", folder / "fer2013.csv", folder):
            if candidate.is_file() or (candidate.is_dir() and (candidate / "train").is_dir()):
                root = candidate
                break
        if root is None:
            dataset_path("fer2013")  # raises with the "how to get it" message
    if not root.exists():
        raise DataNotFoundError(f"{root} does not exist; point load_fer2013() at fer2013.npz, fer2013.csv "
                                "or a folder with train/ and test/")
    if root.is_dir():
        fer = _from_folders(root)
    elif root.suffix == ".npz":
        fer = _from_npz(root)
    elif root.suffix == ".csv":
        fer = _from_csv(root)
    else:
        raise FaceanimError(f"{root}: expected fer2013.npz, fer2013.csv or an image folder")
    if fer.ferplus_votes is None and ferplus is not False and not root.is_dir():
        csv = data_dir() / "ferplus" / "fer2013new.csv" if ferplus is True else Path(ferplus)
        if csv.exists():
            votes = read_ferplus_csv(csv)
            if len(votes) == len(fer):
                fer.ferplus_votes = votes
            else:
                log.warning("%s has %d rows, FER-2013 has %d: FER+ votes not joined", csv, len(votes), len(fer))
        elif ferplus is not True:
            raise DataNotFoundError(f"FER+ file {csv} does not exist")
    return fer


def _from_npz(path: Path) -> FER2013:
    with np.load(path) as z:
        need = {"images", "labels", "usage"}
        if not need <= set(z.files):
            raise FaceanimError(f"{path} lacks arrays {sorted(need - set(z.files))}")
        return FER2013(
            images=z["images"].astype(np.uint8), labels=z["labels"].astype(np.int64), usage=z["usage"].astype(str),
            ferplus_votes=z["ferplus_votes"].astype(np.int64) if "ferplus_votes" in z.files else None,
            exact=z["exact"].astype(bool) if "exact" in z.files else None, source=str(path))


def _from_csv(path: Path) -> FER2013:
    import pandas as pd

    table = pd.read_csv(path)
    cols = {c.lower(): c for c in table.columns}
    if not {"emotion", "pixels", "usage"} <= set(cols):
        raise FaceanimError(f"{path} is not Kaggle's fer2013.csv (columns emotion, pixels, Usage), got {list(table.columns)}")
    pixels = table[cols["pixels"]].astype(str).str.split()
    lengths = pixels.map(len)
    if (lengths != 48 * 48).any():
        bad = int(np.flatnonzero(lengths.to_numpy() != 2304)[0])
        raise FaceanimError(f"{path}: row {bad} has {lengths.iloc[bad]} pixels, expected 2304 (48x48); "
                            "the file is probably truncated")
    images = np.array(pixels.tolist(), dtype=np.uint8).reshape(-1, 48, 48)
    return FER2013(images=images, labels=table[cols["emotion"]].to_numpy(np.int64),
                   usage=table[cols["usage"]].astype(str).to_numpy(), source=str(path))


def _from_folders(root: Path) -> FER2013:
    import cv2
    from tqdm.auto import tqdm

    files: list[tuple[Path, int, str]] = []
    unprefixed_test: list[int] = []
    for split_dir, default_usage in (("train", "Training"), ("test", None)):
        base = root / split_dir
        if not base.is_dir():
            continue
        for cls_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            label = _FOLDER_ALIASES.get(cls_dir.name.lower())
            if label is None:
                raise FaceanimError(f"{cls_dir}: unknown emotion folder; expected one of {sorted(_FOLDER_ALIASES)}")
            for f in sorted(cls_dir.iterdir()):
                if f.suffix.lower() not in (".jpg", ".jpeg", ".png", ".bmp"):
                    continue
                usage = default_usage
                for s in SPLITS:
                    if f.name.startswith(s + "_"):
                        usage = s
                if usage is None:
                    unprefixed_test.append(len(files))
                    usage = "PublicTest"
                files.append((f, label, usage))
    if not files:
        raise DataNotFoundError(f"{root} has no train/<emotion>/*.jpg or test/<emotion>/*.jpg images")
    if unprefixed_test:
        # Kaggle's folder copy lost the Public/Private split for some files: split them in half, stably.
        log.warning("%d test images carry no PublicTest_/PrivateTest_ prefix; the second half (by name) is "
                    "used as PrivateTest", len(unprefixed_test))
        order = sorted(unprefixed_test, key=lambda i: files[i][0].name)
        for i in order[len(order) // 2:]:
            files[i] = (files[i][0], files[i][1], "PrivateTest")
    images = np.empty((len(files), 48, 48), np.uint8)
    for i, (f, _, _) in enumerate(tqdm(files, desc="reading FER-2013 images", unit="img", mininterval=1.0)):
        img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if img is None:
            raise FaceanimError(f"{f} cannot be read as an image; delete or replace it")
        images[i] = img if img.shape == (48, 48) else cv2.resize(img, (48, 48), interpolation=cv2.INTER_AREA)
    return FER2013(images=images, labels=np.array([f[1] for f in files], np.int64),
                   usage=np.array([f[2] for f in files]), source=str(root))
