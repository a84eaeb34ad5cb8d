"""Detect -> landmarks -> align in one object, for photos and videos."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..io import VideoReader, as_rgb, read_image
from .align import AlignedFace, align_face
from .detect import FaceDetector, create_detector
from .landmarks import Landmarker, create_landmarker
from .types import Face, faces_to_frame

if TYPE_CHECKING:  # used in annotations only
    import pandas

__all__ = ["FacePipeline", "FaceResult"]


@dataclass
class FaceResult:
    """Everything the pipeline found in one image (or one video frame)."""

    image: np.ndarray = field(repr=False)
    faces: list[Face]
    aligned: list[AlignedFace] = field(default_factory=list, repr=False)
    frame_index: int | None = None
    time: float | None = None

    def to_frame(self) -> "pandas.DataFrame":  # noqa: F821
        extra = {} if self.frame_index is None else {"frame": self.frame_index, "time": self.time}
        return faces_to_frame(self.faces, **extra)


class FacePipeline:
    """Faces, 68 landmarks and aligned crops from images or videos.

    Args:
        detector: a name (``"mtcnn"``, ``"haar"``) or a :class:`FaceDetector`.
        landmarker: a name (``"dlib68"``), a :class:`Landmarker`, or ``None`` to skip landmarks.
        template: alignment template (``"animation"``, ``"fer"``, ``"arcface"``), or ``None`` to skip.
        max_faces: keep at most this many faces (largest first); ``None`` keeps all.
        **detector_kwargs: passed to the detector when it is given by name (``min_score``, ``max_side``...).

    >>> from faceanim.demo import astronaut
    >>> result = FacePipeline("haar", template="fer")(astronaut())   # or a path: pipe("photo.jpg")
    >>> len(result.faces), result.aligned[0].image.shape
    (1, (48, 48))
    """

    def __init__(self, detector: str | FaceDetector = "mtcnn", landmarker: str | Landmarker | None = "dlib68",
                 template: str | None = "animation", max_faces: int | None = None, **detector_kwargs):
        self.detector = create_detector(detector, **detector_kwargs) if isinstance(detector, str) else detector
        self.landmarker = create_landmarker(landmarker) if isinstance(landmarker, str) else landmarker
        self.template = template
        self.max_faces = max_faces

    def __call__(self, image: np.ndarray | str | os.PathLike) -> FaceResult:
        rgb = read_image(image) if isinstance(image, (str, os.PathLike)) else as_rgb(image)
        faces = self.detector.detect(rgb)
        if self.max_faces is not None:
            faces = sorted(faces, key=lambda f: -f.size)[: self.max_faces]
        if self.landmarker is not None and faces:
            self.landmarker.fit(rgb, faces)
        aligned = [align_face(rgb, f, self.template) for f in faces] if self.template else []
        return FaceResult(image=rgb, faces=faces, aligned=aligned)

    def video(self, source: str | os.PathLike | int | VideoReader, step: int = 1, max_frames: int | None = None,
              progress: bool = True) -> Iterator[FaceResult]:
        """Run on every ``step``-th frame of a video, one :class:`FaceResult` per frame, streaming."""
        from tqdm.auto import tqdm

        reader = source if isinstance(source, VideoReader) else VideoReader(source, step=step, max_frames=max_frames)
        try:
            total = len(reader) if reader.frame_count is not None else None
            for frame in tqdm(reader, total=total, desc="faces", unit="frame", disable=not progress):
                result = self(frame.image)
                result.frame_index, result.time = frame.index, frame.time
                yield result
        finally:
            if reader is not source:
                reader.close()

    def video_table(self, source, step: int = 1, max_frames: int | None = None, progress: bool = True):
        """Faces per frame of a video as one DataFrame (frames without a face get a row with ``face=-1``)."""
        import pandas as pd

        tables = []
        for result in self.video(source, step=step, max_frames=max_frames, progress=progress):
            table = result.to_frame()
            if table.empty:
                table = pd.DataFrame([{"face": -1, "frame": result.frame_index, "time": result.time}])
            tables.append(table)
        return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()

    def __repr__(self) -> str:
        lm = self.landmarker.name if self.landmarker else None
        return f"FacePipeline(detector={self.detector!r}, landmarker={lm!r}, template={self.template!r})"


