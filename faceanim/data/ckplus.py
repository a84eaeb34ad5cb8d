"""CK+ (Extended Cohn-Kanade): neutral-to-apex sequences and the CK+48 apex crops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import dataset_path
from ..errors import FaceanimError
from ..labels import ALIASES, EMOTIONS, NEUTRAL, label_id, to_emotion

__all__ = ["CKSequence", "CKPlusSequences", "CKPlus48", "load_ckplus_sequences", "load_ckplus48"]

@dataclass
class CKSequence:
    """One CK+ sequence; frame 0 is neutral and the last frame the apex, so position orders intensity."""

    name: str
    subject: str
    emotion: str
    frames: np.ndarray  # (T, H, W) uint8 gray

    @property
    def fer_label(self) -> int:
        """The emotion as a FER-2013 label id."""
        return label_id(self.emotion)

    @property
    def progress(self) -> np.ndarray:
        """Position of each frame from 0 (neutral) to 1 (apex): an ordering, not a measured intensity."""
        t = len(self.frames)
        return np.linspace(0.0, 1.0, t) if t > 1 else np.ones(1)

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class CKPlusSequences:
    """All sequences of ``ckplus_sequences.npz``; iterate for :class:`CKSequence` objects."""

    sequences: list[CKSequence]
    source: str = ""

    def __iter__(self) -> Iterator[CKSequence]:
        return iter(self.sequences)

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, i: int) -> CKSequence:
        return self.sequences[i]

    @property
    def subjects(self) -> list[str]:
        return sorted({s.subject for s in self.sequences})

    def table(self) -> "pandas.DataFrame":  # noqa: F821
        import pandas as pd

        return pd.DataFrame([{"name": s.name, "subject": s.subject, "emotion": s.emotion, "frames": len(s)}
                             for s in self.sequences])

    def leave_subjects_out(self, n_folds: int | None = None) -> list[tuple[list[int], list[int]]]:
        """Folds of (train indices, test indices) in which every subject is held out exactly once."""
        subjects = self.subjects
        n_folds = n_folds or len(subjects)
        groups = [subjects[i::n_folds] for i in range(n_folds)]
        folds = []
        for held in groups:
            test = [i for i, s in enumerate(self.sequences) if s.subject in held]
            train = [i for i, s in enumerate(self.sequences) if s.subject not in held]
            folds.append((train, test))
        return folds


@dataclass
class CKPlus48:
    """CK+48 apex crops with labels remapped to FER-2013 ids (contempt -> -1)."""

    images: np.ndarray  # (N, 48, 48) uint8
    labels: np.ndarray  # FER-2013 ids, -1 for contempt
    original_labels: np.ndarray
    original_classes: tuple[str, ...]
    subjects: np.ndarray
    names: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    def counts(self) -> "pandas.Series":  # noqa: F821
        import pandas as pd

        names = ["contempt" if k < 0 else EMOTIONS[k] for k in self.labels]
        return pd.Series(names).value_counts().rename("faces")


def load_ckplus_sequences(path: str | os.PathLike | None = None) -> CKPlusSequences:
    path = Path(path) if path else dataset_path("ckplus_sequences")
    with np.load(path) as z:
        need = {"frames", "seq_index", "frame_index", "seq_names", "seq_subject", "seq_emotion"}
        if not need <= set(z.files):
            raise FaceanimError(f"{path} lacks arrays {sorted(need - set(z.files))}")
        frames, seq_index, frame_index = z["frames"], z["seq_index"], z["frame_index"]
        names, subjects, emotions = z["seq_names"].astype(str), z["seq_subject"].astype(str), z["seq_emotion"]
        emotion_names = z["emotion_names"].astype(str) if "emotion_names" in z.files else None
    seqs = []
    for s in range(len(names)):
        rows = np.flatnonzero(seq_index == s)
        rows = rows[np.argsort(frame_index[rows])]
        emo = emotions[s]
        named = emotion_names is not None and np.issubdtype(np.asarray(emo).dtype, np.integer)
        emo = str(emotion_names[int(emo)]) if named else str(emo)
        seqs.append(CKSequence(name=str(names[s]), subject=str(subjects[s]), emotion=emo, frames=frames[rows]))
    return CKPlusSequences(seqs, source=str(path))


def load_ckplus48(path: str | os.PathLike | None = None) -> CKPlus48:
    path = Path(path) if path else dataset_path("ckplus48")
    with np.load(path) as z:
        images, labels = z["images"].astype(np.uint8), z["labels"].astype(np.int64)
        classes = tuple(z["class_names"].astype(str))
        names = z["names"].astype(str)
    mapping = np.array([label_id(c) if c.lower() in ALIASES and to_emotion(c) != NEUTRAL else -1 for c in classes])
    return CKPlus48(images=images, labels=mapping[labels], original_labels=labels, original_classes=classes,
                    subjects=np.array([n[:4] for n in names]), names=names)
