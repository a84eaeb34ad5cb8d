"""Datasets: FER-2013 (+FER+), CK+ sequences and CK+48, face videos (training's augmentations are
``faceanim.emotion.train.augment_batch``).

Everything is found under one folder, ``$FACEANIM_DATA`` (see :mod:`faceanim.config`).
"""

from .ckplus import CKPlus48, CKPlusSequences, CKSequence, load_ckplus48, load_ckplus_sequences
from .fer import EMOTIONS, FER2013, FERPLUS_COLUMNS, SPLITS, load_fer2013, read_ferplus_csv
from .mead import list_mead_clips
from .videos import default_face_video, list_face_videos, list_stills, video_table

__all__ = [
    "EMOTIONS", "SPLITS", "FERPLUS_COLUMNS", "FER2013", "load_fer2013", "read_ferplus_csv",
    "CKSequence", "CKPlusSequences", "CKPlus48", "load_ckplus_sequences", "load_ckplus48",
    "list_face_videos", "list_stills", "video_table", "default_face_video", "list_mead_clips",
]
