"""Fit the MediaPipe mesh -> iBUG-68 map (``faceanim.face.mesh.MESH_TO_68``) against dlib-68 on the face videos.

For every iBUG point, the blend ``w * mesh[a] + (1 - w) * mesh[b]`` of two of the 12 mesh vertices nearest
on average (``w`` in steps of 0.1) that lies closest to dlib's point, in inter-ocular distances, on half of
the sampled frames; the error is then measured on the other half. Writes ``reports/mesh68.json`` and prints
the map to paste into ``faceanim/face/mesh.py`` if it changed.

    python bench/fit_mesh68.py
"""

from __future__ import annotations

import json

import numpy as np

from faceanim._atomic import write_json
from faceanim._system import cpu_name
from faceanim.config import REPO_ROOT
from faceanim.data import list_face_videos
from faceanim.face import FacePipeline
from faceanim.face.landmarks import LANDMARK_GROUPS
from faceanim.face.mesh import MESH_TO_68, _Mesh
from faceanim.io import VideoReader


def pairs(max_frames: int = 60, step: int = 6):
    dlib = FacePipeline("mtcnn", "dlib68", template=None, max_faces=1)
    mesh = _Mesh(static=True)
    D, M = [], []
    for path in list_face_videos():
        with VideoReader(path, max_frames=max_frames, step=step) as reader:
            for frame in reader:
                faces = dlib(frame.image).faces
                m = mesh(frame.image)
                if faces and m is not None:
                    D.append(faces[0].landmarks)
                    M.append(m)
    return np.array(D, np.float64), np.array(M, np.float64)


def fit(D, M, fit_rows):
    iod = np.linalg.norm(D[:, 36:42].mean(1) - D[:, 42:48].mean(1), axis=1)
    d_, m_, i_ = D[fit_rows], M[fit_rows], iod[fit_rows]
    out = []
    for i in range(68):
        dist = (np.linalg.norm(m_ - d_[:, i:i + 1], axis=-1) / i_[:, None]).mean(0)
        cand = np.argsort(dist)[:12]
        best = (dist[cand[0]], int(cand[0]), int(cand[0]), 1.0)
        for a in cand:
            for b in cand[cand > a]:
                for w in np.linspace(0, 1, 11):
                    e = (np.linalg.norm(w * m_[:, a] + (1 - w) * m_[:, b] - d_[:, i], axis=-1) / i_).mean()
                    if e < best[0]:
                        best = (e, int(a), int(b), round(float(w), 1))
        e, a, b, w = best
        out.append((a, a if w == 1.0 else b, w))  # w = 1: b plays no part
    return out


def errors(D, M, mapping, rows):
    iod = np.linalg.norm(D[rows, 36:42].mean(1) - D[rows, 42:48].mean(1), axis=1)
    a, b = np.array([m[0] for m in mapping]), np.array([m[1] for m in mapping])
    w = np.array([m[2] for m in mapping])[:, None]
    pred = w * M[rows][:, a] + (1 - w) * M[rows][:, b]
    return (np.linalg.norm(pred - D[rows], axis=-1) / iod[:, None]).mean(0)


def main() -> None:
    D, M = pairs()
    rows = np.arange(len(D))
    fitted = fit(D, M, rows % 2 == 0)
    held = errors(D, M, fitted, rows % 2 == 1)
    shipped = errors(D, M, MESH_TO_68, rows % 2 == 1)
    groups = {"jaw": LANDMARK_GROUPS["jaw"], "brows": range(17, 27), "nose": LANDMARK_GROUPS["nose"],
              "eyes": range(36, 48), "mouth": LANDMARK_GROUPS["mouth"]}
    report = {
        "cpu": cpu_name(), "frames": int(len(D)), "videos": len(list_face_videos()),
        "unit": "inter-ocular distances, on the frames not used to fit",
        "heldout_error_mean": round(float(held.mean()), 4),
        "heldout_error_by_group": {g: round(float(held[list(r)].mean()), 4) for g, r in groups.items()},
        "shipped_map_error_mean": round(float(shipped.mean()), 4),
        "map": [list(m) for m in fitted],
        "same_as_shipped": [tuple(m) for m in fitted] == [tuple(m) for m in MESH_TO_68],
    }
    write_json(REPO_ROOT / "reports" / "mesh68.json", report)
    print(json.dumps({k: v for k, v in report.items() if k != "map"}, indent=1))
    if not report["same_as_shipped"]:
        print("the fitted map differs from faceanim.face.mesh.MESH_TO_68:", [tuple(m) for m in fitted])


if __name__ == "__main__":
    main()
