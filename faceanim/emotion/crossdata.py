"""Faces unlike FER-2013's, for measuring how a recognizer generalizes: CK+48 (lab, posed), MEAD's talking
actors (colour video, every frame carrying its clip's emotion), and the portraits whose file name states
their expression.

Every set is a :class:`FaceSet` of gray crops aligned to the ``fer`` template, the way a user's photo reaches
the recognizer through ``faceanim recognize`` (detector -> ``fer`` alignment), so two judges read the very
same pixels. :func:`cross_dataset` scores any number of judges on them: per face, and per clip by majority
vote where a set has clips. Each face also carries a ``level`` where the truth has one (0 = the person's
neutral, 1 = their full expression), which :func:`~faceanim.emotion.intensity.between_person` uses to ask
whether an intensity score reads the same strength alike across people.

The face videos in ``face_videos/videos`` are talking heads whose emotion no source states, so no set is
made of them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import SettingError
from ..labels import EMOTIONS, NEUTRAL, label_id
from .recognizer import to_gray48

logger = logging.getLogger(__name__)

__all__ = ["FaceSet", "ckplus48_faces", "mead_faces", "stills_faces", "cross_sets", "HELDOUT_ACTORS", "heldout_mask",
           "training_faces", "CrossResult", "cross_dataset",
           "plot_cross_dataset", "CROSS_SIZE"]

#: side of the aligned crops kept (the ``fer`` peer reads 64 px, ours 48: each recognizer resizes)
CROSS_SIZE = 64


@dataclass
class FaceSet:
    """Aligned faces with what is known of them.

    Attributes:
        images: ``(N, S, S)`` uint8 gray, ``fer`` template.
        labels: ``(N,)`` emotion ids in :data:`~faceanim.labels.EMOTIONS` order, ``-1`` where the emotion has
            no class of ours (MEAD's contempt).
        people: ``(N,)`` who it is (CK+ subject, MEAD actor).
        groups: ``(N,)`` the clip or sequence it comes from (majority votes are taken per group).
        levels: ``(N,)`` the true intensity level where known (0 neutral, 1 full expression), else NaN.
    """

    name: str
    images: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    people: np.ndarray = field(repr=False)
    groups: np.ndarray = field(repr=False)
    levels: np.ndarray = field(repr=False)
    missed: int = 0  # frames where no face was found (left out)

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return (f"FaceSet({self.name!r}, {len(self)} faces, {len(set(self.people.tolist()))} people, "
                f"{len(set(self.groups.tolist()))} clips/sequences)")

    def subset(self, mask: np.ndarray) -> "FaceSet":
        return FaceSet(self.name, self.images[mask], self.labels[mask], self.people[mask], self.groups[mask],
                       self.levels[mask], self.missed)


def ckplus48_faces() -> FaceSet:
    """CK+48: the last 3 frames of 327 CK+ sequences (118 subjects), contempt dropped; all are apexes (level 1)."""
    from ..data import load_ckplus48

    ck = load_ckplus48()
    keep = ck.labels >= 0
    names = np.asarray(ck.names)[keep]
    return FaceSet("ckplus48", ck.images[keep], ck.labels[keep], np.asarray(ck.subjects)[keep],
                   np.array([n[:8] for n in names]), np.ones(int(keep.sum()), np.float32))


def _faces_cache(every: int) -> Path:
    from ..config import cache_dir

    return cache_dir() / f"mead_fer_faces_{CROSS_SIZE}_every{every}.npz"


def mead_faces(cache: str | Path | None = None, every: int = 1, progress: bool = True) -> FaceSet:
    """Every ``every``-th frame of every MEAD clip, detected (MTCNN) and aligned as ``faceanim recognize``
    does; frames without a face are left out. The 1080p duplicate of M030's sad clip is skipped. Levels: 0 for
    an actor's neutral clip, 1 for MEAD's strongest level (3), NaN where the level is not stated (EAMM).
    Kept in ``cache`` (``runs/cache/``) after the first run (about a minute on 2 cores)."""
    import pandas as pd
    from tqdm.auto import tqdm

    from .._atomic import atomic_path
    from ..data import list_mead_clips
    from ..face import FacePipeline
    from ..face.align import align_face
    from ..io import VideoReader

    cache = Path(cache) if cache else _faces_cache(every)
    table = list_mead_clips()
    table = table[~table.name.str.endswith("_1080p")].reset_index(drop=True)
    key = np.array(sorted(table.name.tolist()) + [f"every={every}"])
    if cache.exists():
        with np.load(cache) as z:
            if np.array_equal(z["key"], key):
                return FaceSet("mead", z["images"], z["labels"], z["people"], z["groups"], z["levels"],
                               int(z["missed"]))
    pipe = FacePipeline("mtcnn", landmarker=None, template=None, max_faces=1)
    images, labels, people, groups, levels, missed = [], [], [], [], [], 0
    for row in tqdm(list(table.itertuples()), desc="MEAD faces", disable=not progress):
        emotion = row.emotion if row.emotion in EMOTIONS else None
        level = 0.0 if row.emotion == NEUTRAL else (1.0 if not pd.isna(row.level) and int(row.level) == 3 else np.nan)
        with VideoReader(row.path, step=every) as reader:
            for frame in reader:
                faces = pipe(frame.image).faces
                if not faces:
                    missed += 1
                    continue
                crop = align_face(frame.image, faces[0], "fer", size=CROSS_SIZE).image
                images.append(to_gray48(crop, CROSS_SIZE))
                labels.append(label_id(emotion) if emotion else -1)
                people.append(row.actor)
                groups.append(row.name)
                levels.append(level)
    out = FaceSet("mead", np.stack(images).astype(np.uint8), np.array(labels, np.int64), np.array(people),
                  np.array(groups), np.array(levels, np.float32), missed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(cache) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, key=key, images=out.images, labels=out.labels, people=out.people,
                                groups=out.groups, levels=out.levels, missed=missed)
    if missed:
        logger.info(f"MEAD: no face found on {missed} frames (left out)")
    return out


def stills_faces() -> FaceSet:
    """The portraits in ``face_videos/stills`` whose file name names an emotion (SadTalker's happy/sad pairs:
    one person, possibly edited images); level 1."""
    from ..config import dataset_path
    from ..face import FacePipeline
    from ..face.align import align_face
    from ..io import read_image
    from ..labels import ALIASES

    folder = Path(dataset_path("face_videos")).parent / "stills"
    pipe = FacePipeline("mtcnn", landmarker=None, template=None, max_faces=1)
    images, labels, names = [], [], []
    for path in sorted(folder.glob("*")):
        word = path.stem.split("_")[-1].rstrip("0123456789").lower()
        if word not in ALIASES or ALIASES[word] not in EMOTIONS:
            continue
        rgb = read_image(path)
        faces = pipe(rgb).faces
        if not faces:
            continue
        images.append(to_gray48(align_face(rgb, faces[0], "fer", size=CROSS_SIZE).image, CROSS_SIZE))
        labels.append(label_id(ALIASES[word]))
        names.append(path.stem)
    n = len(images)
    return FaceSet("stills", np.stack(images) if n else np.zeros((0, CROSS_SIZE, CROSS_SIZE), np.uint8),
                   np.array(labels, np.int64), np.array(["sadtalker"] * n), np.array(names), np.ones(n, np.float32))


#: who of each set a recognizer may train on (``TrainConfig.extra``), the rest held out of training so the
#: cross-dataset figures on them stay honest: CK+48's subjects alternate (sorted; even places train) and the
#: subjects of the CK+ sequences (the intensity figures' people) are always held out; of MEAD's actors W009
#: is held out (M030 and EAMM's actors train)
HELDOUT_ACTORS = ("W009",)


def _sequence_subjects() -> list[str]:
    from ..config import dataset_path, has_dataset

    if not has_dataset("ckplus_sequences"):
        return []
    with np.load(dataset_path("ckplus_sequences")) as z:
        return sorted(set(z["seq_subject"].astype(str).tolist()))


def heldout_mask(fs: FaceSet) -> np.ndarray:
    """True for the faces of ``fs`` no recognizer trains on (see :data:`HELDOUT_ACTORS`)."""
    if fs.name == "mead":
        return np.isin(fs.people, HELDOUT_ACTORS)
    subjects = sorted(set(fs.people.tolist()))
    return np.isin(fs.people, subjects[1::2] + _sequence_subjects())


def training_faces(names: str | list[str], every: int = 3, progress: bool = True) -> FaceSet:
    """The faces of the sets ``names`` (``"ckplus48"``, ``"mead"``; a comma-separated string or a list) a
    recognizer may train on, at 48 px: the people :func:`heldout_mask` leaves out are removed, so are faces with
    no class of ours; of MEAD every ``every``-th frame (neighbouring frames are nearly the same face)."""
    names = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    parts = []
    for name in names:
        if name == "ckplus48":
            fs = ckplus48_faces()
        elif name == "mead":
            fs = mead_faces(progress=progress)
            fs = fs.subset(np.arange(len(fs)) % every == 0)
        else:
            from .train import EXTRA_SETS

            raise SettingError(f"unknown training set {name!r}; choose from {', '.join(EXTRA_SETS)}")
        fs = fs.subset(~heldout_mask(fs) & (fs.labels >= 0))
        parts.append(FaceSet(name, np.stack([to_gray48(im) for im in fs.images]) if len(fs) else
                             np.zeros((0, 48, 48), np.uint8), fs.labels, fs.people, fs.groups, fs.levels))
    if not parts:
        return FaceSet("none", np.zeros((0, 48, 48), np.uint8), np.zeros(0, np.int64), np.zeros(0, str),
                       np.zeros(0, str), np.zeros(0, np.float32))
    cat = lambda k: np.concatenate([getattr(p, k) for p in parts])  # noqa: E731
    return FaceSet("+".join(names), cat("images"), cat("labels"), cat("people"), cat("groups"), cat("levels"))


def cross_sets(quick: bool = False, progress: bool = True) -> dict[str, FaceSet]:
    """Every set whose data is present (``quick``: every third CK+48 face, every 8th MEAD frame)."""
    from ..config import has_dataset

    sets: dict[str, FaceSet] = {}
    if has_dataset("ckplus48"):
        ck = ckplus48_faces()
        sets["ckplus48"] = ck.subset(np.arange(len(ck)) % 3 == 0) if quick else ck
    if has_dataset("mead"):
        sets["mead"] = mead_faces(every=8 if quick else 1, progress=progress)
    if has_dataset("face_videos"):
        st = stills_faces()
        if len(st):
            sets["stills"] = st
    return sets


@dataclass
class CrossResult:
    """``faces``: one row per (set, judge, face) with the label, the prediction, ``p_not_neutral`` and the
    judge's intensity; ``table``: accuracy and macro-F1 per set and judge, per face and per clip (majority)."""

    faces: "pandas.DataFrame" = field(repr=False)  # noqa: F821
    table: "pandas.DataFrame"  # noqa: F821

    def per_emotion(self, unit: str = "face") -> "pandas.DataFrame":  # noqa: F821
        """Recall per set, judge and true emotion (``unit="clip"``: of the clip majorities)."""
        f = self._units(unit)
        return (f.assign(correct=f["pred"] == f["label"]).groupby(["set", "judge", "emotion"])["correct"]
                .mean().unstack("emotion"))

    def plot_per_emotion(self, set_name: str = "mead", unit: str = "face"):
        """Recall per true emotion of each judge on one set, as a heat map."""
        import matplotlib.pyplot as plt
        import seaborn as sns

        per = self.per_emotion(unit)
        per = per.loc[set_name] if set_name in per.index.get_level_values(0) else per.iloc[:0]
        fig, ax = plt.subplots(figsize=(7, 0.6 + 0.5 * max(len(per), 1)))
        sns.heatmap(per, annot=True, fmt=".2f", vmin=0, vmax=1, cmap="Blues", ax=ax, cbar=False)
        ax.set_title(f"{set_name}: recall per emotion ({unit}s)")
        ax.set_ylabel("")
        fig.tight_layout()
        return fig

    def _units(self, unit: str) -> "pandas.DataFrame":  # noqa: F821
        f = self.faces[self.faces["label"] >= 0]
        if unit == "face":
            return f.assign(emotion=[EMOTIONS[i] for i in f["label"]])
        g = f.groupby(["set", "judge", "group"]).agg(label=("label", "first"),
                                                      pred=("pred", lambda s: int(np.bincount(s).argmax())))
        g = g.reset_index()
        return g.assign(emotion=[EMOTIONS[i] for i in g["label"]])

    def metrics(self) -> dict:
        """Flat figures for ``emotion_metrics.json``: ``cross_<set>[_clip]_{accuracy,macro_f1,n}`` and
        ``cross_<set>_recall_<emotion>`` for ours, ``peer_<judge>_cross_...`` for each peer."""
        out = {}
        ours = self.faces.attrs.get("ours")
        for r in self.table.itertuples():
            tag = "" if r.judge == ours else f"peer_{r.judge}_"
            unit = "" if r.unit == "face" else "_clip"
            for k in ("accuracy", "macro_f1", "n"):
                out[f"{tag}cross_{r.set}{unit}_{k}"] = getattr(r, k)
        for (set_name, judge), row in self.per_emotion().iterrows():  # recall per emotion, per face
            tag = "" if judge == ours else f"peer_{judge}_"
            out.update({f"{tag}cross_{set_name}_recall_{e}": float(v) for e, v in row.items() if v == v})
        return out


def cross_dataset(judges: dict, sets: dict[str, FaceSet], ours: str | None = None) -> CrossResult:
    """Score each judge (``name -> recognizer`` with ``predict(crops) -> (probs, intensity)``) on each set.
    ``ours`` names the judge whose figures go in unprefixed (default: the first)."""
    import pandas as pd
    from sklearn.metrics import f1_score

    rows = []
    for set_name, fs in sets.items():
        for judge_name, judge in judges.items():
            probs, inten = judge.predict(fs.images) if len(fs) else (np.zeros((0, 7)), np.zeros(0))
            rows.append(pd.DataFrame({
                "set": set_name, "judge": judge_name, "index": np.arange(len(fs)), "label": fs.labels,
                "pred": probs.argmax(1) if len(fs) else np.zeros(0, int), "person": fs.people, "group": fs.groups,
                "level": fs.levels, "p_not_neutral": 1 - probs[:, EMOTIONS.index(NEUTRAL)],
                "intensity": inten}))
    faces = pd.concat(rows, ignore_index=True)
    faces.attrs["ours"] = ours or next(iter(judges))
    result = CrossResult(faces=faces, table=pd.DataFrame())
    table = []
    for unit in ("face", "clip"):
        u = result._units(unit)
        for (set_name, judge_name), part in u.groupby(["set", "judge"], sort=False):
            if unit == "clip" and len(part) == int((faces[(faces.set == set_name) & (faces.judge == judge_name)
                                                          & (faces.label >= 0)]).shape[0]):
                continue  # one face per group (the stills): the clip figure would repeat the face figure
            present = np.unique(part["label"])
            table.append({"set": set_name, "judge": judge_name, "unit": unit, "n": int(len(part)),
                          "accuracy": float((part["pred"] == part["label"]).mean()),
                          "macro_f1": float(f1_score(part["label"], part["pred"], labels=present, average="macro",
                                                     zero_division=0))})
    result.table = pd.DataFrame(table)
    return result


def plot_cross_dataset(result: CrossResult, title: str = "faces unlike FER-2013's"):
    """Accuracy per set and judge, per face and per clip (majority), bars side by side."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    t = result.table.assign(where=lambda d: d["set"] + np.where(d["unit"] == "clip", " (clips)", ""))
    fig, ax = plt.subplots(figsize=(max(7.5, 1.2 * t["where"].nunique()), 3.6))
    sns.barplot(t, x="where", y="accuracy", hue="judge", ax=ax)
    ax.tick_params(axis="x", rotation=25)
    for cont in ax.containers:
        ax.bar_label(cont, fmt="%.2f", fontsize=8)
    ax.set_ylim(0, 1.12)
    ax.legend(loc="lower right", fontsize=8, title="judge", title_fontsize=8, framealpha=0.9)
    ax.set_xlabel("")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig
