"""Measure where FER-2013's faces put their eyes, nose and mouth: the "fer" alignment template.

    FACEANIM_DATA=../shared/data python bench/calibrate_fer_template.py

Runs MTCNN on 600 random training faces (upscaled 4x, one confident face each) and prints the median
five points as fractions of the crop side. faceanim/face/align.py holds the result.
"""

import cv2
import numpy as np

from faceanim.data import load_fer2013
from faceanim.face import create_detector


def main(n: int = 600, seed: int = 0) -> None:
    fer = load_fer2013()
    idx = np.flatnonzero((fer.usage == "Training") & fer.exact)
    idx = np.random.default_rng(seed).choice(idx, n, replace=False)
    det = create_detector("mtcnn", min_score=0.95)
    pts = []
    for i in idx:
        faces = det.detect(cv2.resize(fer.images[i], (192, 192), interpolation=cv2.INTER_CUBIC))
        if len(faces) == 1:
            pts.append(faces[0].points5 / 192.0)
    pts = np.array(pts)
    print(f"{len(pts)} of {n} faces; median points (x, y as fractions of the side):")
    print(np.round(np.median(pts, 0), 4).tolist())


if __name__ == "__main__":
    main()
