"""Typed results of the face pipeline."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # used in annotations only
    import pandas

__all__ = ["Face", "POINTS5_NAMES", "faces_to_frame"]

#: Order of the five points every detector returns (image coordinates, pixels; "left" = subject's right
#: eye as it appears on the left of the image).
POINTS5_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


@dataclass
class Face:
    """One face in one image. Coordinates are pixels in that image, ``x`` right, ``y`` down.

    Attributes:
        box: ``(x1, y1, x2, y2)``.
        score: detector confidence in ``[0, 1]`` (for ``haar``, a monotone map of the cascade's weight).
        points5: ``(5, 2)`` eyes, nose tip, mouth corners (see :data:`POINTS5_NAMES`), or ``None``.
        landmarks: ``(68, 2)`` iBUG-68 points when a landmarker ran, else ``None``.
        detector: name of the detector that found it.
    """

    box: np.ndarray
    score: float
    points5: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    detector: str = ""
    extra: dict = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        box = ", ".join(f"{v:.0f}" for v in self.box)
        parts = [f"box=({box})", f"score={self.score:.3f}"]
        if self.points5 is not None:
            parts.append("points5")
        if self.landmarks is not None:
            parts.append(f"landmarks={len(self.landmarks)}")
        return f"Face({', '.join(parts)}, detector={self.detector!r})"

    def __post_init__(self) -> None:
        self.box = np.asarray(self.box, dtype=np.float32).reshape(4)
        self.score = float(self.score)
        if self.points5 is not None:
            self.points5 = np.asarray(self.points5, dtype=np.float32).reshape(5, 2)
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, dtype=np.float32).reshape(-1, 2)

    @classmethod
    def from_landmarks(cls, landmarks) -> "Face":
        """A face known only by its 68 landmarks (an animated frame, a tracked face): the box is their extent."""
        lm = np.asarray(landmarks, np.float32)
        return cls(box=np.r_[lm.min(0), lm.max(0)], score=1.0, landmarks=lm, detector="landmarks")

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def size(self) -> float:
        """Geometric mean of width and height, in pixels."""
        return float(np.sqrt(max(self.width, 0.0) * max(self.height, 0.0)))

    @property
    def center(self) -> tuple[float, float]:
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2

    def scaled(self, factor: float) -> "Face":
        """The same face in an image resized by ``factor``."""
        return replace(
            self,
            box=self.box * factor,
            points5=None if self.points5 is None else self.points5 * factor,
            landmarks=None if self.landmarks is None else self.landmarks * factor,
            extra=dict(self.extra),
        )

    def to_row(self) -> dict:
        """A flat dict (one DataFrame row): box, score, size and the five points."""
        row = {
            "x1": float(self.box[0]), "y1": float(self.box[1]), "x2": float(self.box[2]), "y2": float(self.box[3]),
            "score": self.score, "size": self.size, "detector": self.detector,
            "has_landmarks": self.landmarks is not None,
        }
        if self.points5 is not None:
            for name, (x, y) in zip(POINTS5_NAMES, self.points5):
                row[f"{name}_x"], row[f"{name}_y"] = float(x), float(y)
        return row

    def to_dict(self, include_landmarks: bool = True) -> dict:
        """JSON-ready dict, with lists for the points."""
        out = {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(self.score, 4),
            "detector": self.detector,
            "points5": None if self.points5 is None else np.round(self.points5.astype(np.float64), 2).tolist(),
        }
        if include_landmarks and self.landmarks is not None:
            out["landmarks"] = np.round(self.landmarks.astype(np.float64), 2).tolist()
        return out


def faces_to_frame(faces: Iterable[Face], **columns) -> "pandas.DataFrame":  # noqa: F821
    """Faces as a DataFrame, one row each; ``columns`` adds constant columns (e.g. ``path=...``)."""
    import pandas as pd

    rows = []
    for i, face in enumerate(faces):
        row = {"face": i, **columns, **face.to_row()}
        rows.append(row)
    return pd.DataFrame(rows)
