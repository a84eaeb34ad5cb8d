"""Stable face ids across video frames.

:class:`FaceTracker` matches each frame's faces to the tracks of earlier frames by box overlap
(Hungarian assignment on IoU). A face that matches nothing is compared with recently lost tracks by
its dlib descriptor, so a person who leaves and comes back keeps their id; otherwise it gets a new one.
:func:`follow` moves a face from one frame to the next without the detector: it refits the 68
landmarks inside the old box and moves the box with them (2-3 ms instead of 20-50 ms for detection).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .types import Face

__all__ = ["Track", "FaceTracker", "box_iou", "follow"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a (N, 4)`` with every box in ``b (M, 4)`` -> ``(N, M)``."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-9)


@dataclass
class Track:
    id: int
    face: Face
    last_frame: int
    first_frame: int
    hits: int = 1
    descriptor: np.ndarray | None = field(default=None, repr=False)

    def lost_for(self, frame: int) -> int:
        return frame - self.last_frame


class FaceTracker:
    """Assign stable ids to faces frame after frame.

    Args:
        iou_threshold: minimum box overlap to continue a track.
        lost_after: frames without a match after which a track stops being active (it can still be
            re-identified).
        forget_after: frames after which a lost track is dropped for good.
        reid: compare unmatched faces with lost tracks by descriptor (needs 68 landmarks on the faces).
        reid_threshold: descriptor distance under which a face is the lost person (dlib: 0.6).
    """

    def __init__(self, iou_threshold: float = 0.3, lost_after: int = 15, forget_after: int = 3000,
                 reid: bool = True, reid_threshold: float = 0.5):
        self.iou_threshold, self.lost_after, self.forget_after = iou_threshold, lost_after, forget_after
        self.reid, self.reid_threshold = reid, reid_threshold
        self.tracks: dict[int, Track] = {}
        self._next = 0
        self._describer = None
        self.reidentified = 0

    def active(self, frame: int) -> list[Track]:
        return [t for t in self.tracks.values() if t.lost_for(frame) <= self.lost_after]

    def _describe(self, image, faces):
        if self._describer is None:
            from .identity import FaceDescriber

            self._describer = FaceDescriber()
        return self._describer.describe(image, faces)

    def update(self, faces: Sequence[Face], frame: int, image: np.ndarray | None = None) -> list[int]:
        """Ids for ``faces`` (same order); updates, creates and forgets tracks."""
        from scipy.optimize import linear_sum_assignment

        ids: list[int | None] = [None] * len(faces)
        active = self.active(frame)
        if faces and active:
            iou = box_iou(np.stack([f.box for f in faces]), np.stack([t.face.box for t in active]))
            rows, cols = linear_sum_assignment(-iou)
            for r, c in zip(rows, cols):
                if iou[r, c] >= self.iou_threshold:
                    ids[r] = active[c].id
        unmatched = [i for i, v in enumerate(ids) if v is None]
        if unmatched and self.reid and image is not None:
            with_lm = [i for i in unmatched if faces[i].landmarks is not None and len(faces[i].landmarks) == 68]
            if with_lm:
                desc = self._describe(image, [faces[i] for i in with_lm])
                taken = set(v for v in ids if v is not None)
                lost = [t for t in self.tracks.values() if t.descriptor is not None and t.id not in taken
                        and t.lost_for(frame) > 0]
                for k, i in enumerate(with_lm):
                    faces[i].extra["descriptor"] = desc[k]
                    if not lost:
                        continue
                    d = np.linalg.norm(np.stack([t.descriptor for t in lost]) - desc[k], axis=1)
                    j = int(d.argmin())
                    if d[j] < self.reid_threshold:
                        ids[i] = lost[j].id
                        self.reidentified += 1
                        lost.pop(j)
        for i, face in enumerate(faces):
            if ids[i] is None:
                ids[i] = self._next
                self._next += 1
                self.tracks[ids[i]] = Track(id=ids[i], face=face, last_frame=frame, first_frame=frame)
            else:
                t = self.tracks[ids[i]]
                t.face, t.last_frame, t.hits = face, frame, t.hits + 1
            desc = face.extra.get("descriptor")
            if desc is not None:
                self.tracks[ids[i]].descriptor = desc
        for tid in [t.id for t in self.tracks.values() if t.lost_for(frame) > self.forget_after]:
            del self.tracks[tid]
        return [int(v) for v in ids]

    def describe_new(self, image: np.ndarray, faces: Sequence[Face], ids: Sequence[int]) -> None:
        """Give tracks that have no descriptor yet one (so they can be re-identified after leaving)."""
        todo = [(f, i) for f, i in zip(faces, ids) if self.tracks[i].descriptor is None
                and f.landmarks is not None and len(f.landmarks) == 68]
        if self.reid and todo:
            desc = self._describe(image, [f for f, _ in todo])
            for (_, i), d in zip(todo, desc):
                self.tracks[i].descriptor = d


def follow(image: np.ndarray, face: Face, landmarker) -> Face | None:
    """The same face in the next frame: 68 landmarks refitted inside the old box, and the box moved by
    the similarity transform between the old and new landmarks. ``None`` if the fit collapsed."""
    from .align import similarity_matrix
    from .landmarks import Landmarker

    if face.landmarks is None:
        return None
    new = Face(box=face.box.copy(), score=face.score, detector=face.detector)
    landmarker.fit(image, [new])
    old_lm, new_lm = face.landmarks, new.landmarks
    spread_old, spread_new = np.ptp(old_lm, 0).mean(), np.ptp(new_lm, 0).mean()
    if spread_new < 0.5 * spread_old or spread_new > 2.0 * spread_old:
        return None
    mat = similarity_matrix(old_lm, new_lm)
    corners = np.array([[face.box[0], face.box[1]], [face.box[2], face.box[3]]], np.float64)
    moved = corners @ mat[:, :2].T + mat[:, 2]
    new.box = np.array([*moved.min(0), *moved.max(0)], np.float32)
    new.points5 = Landmarker.points5(new_lm)
    new.extra["tracked"] = True
    return new
