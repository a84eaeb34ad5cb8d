"""The face videos and portrait stills in the data folder."""

from __future__ import annotations

from pathlib import Path

from ..config import dataset_path
from ..io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoReader

__all__ = ["list_face_videos", "list_stills", "video_table", "default_face_video"]


def list_face_videos() -> list[Path]:
    """Sorted paths of the face videos (``$FACEANIM_DATA/face_videos/videos``)."""
    return sorted(p for p in dataset_path("face_videos").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)


def list_stills() -> list[Path]:
    return sorted(p for p in dataset_path("stills").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def video_table(paths=None) -> "pandas.DataFrame":  # noqa: F821
    """Name, size, fps, frame count and duration of each video."""
    import pandas as pd

    rows = []
    for p in paths if paths is not None else list_face_videos():
        with VideoReader(p) as v:
            rows.append({"name": Path(p).name, "width": v.width, "height": v.height, "fps": round(v.fps, 3),
                         "frames": v.frame_count, "seconds": None if v.duration is None else round(v.duration, 2)})
    return pd.DataFrame(rows)


def default_face_video() -> Path:
    """The video the tour and benchmarks use by default: ``liveportrait_d0.mp4`` if present, else the first."""
    videos = list_face_videos()
    if not videos:
        from ..errors import DataNotFoundError

        raise DataNotFoundError(f"no videos in {dataset_path('face_videos')}")
    named = [p for p in videos if p.name == "liveportrait_d0.mp4"]
    return named[0] if named else videos[0]
