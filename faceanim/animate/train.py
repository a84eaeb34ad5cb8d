"""Train the animator's learned parts from the prepared clips (``faceanim train animator``).

1. ``emotion_motion``: per-emotion landmark motion from the training CK+ subjects (seconds).
2. ``emotion_texture``: per-emotion expression ratio images from the same CK+ sequences (seconds).
3. ``keypoint_gru``: the next-keypoint predictor on the training clips' landmark tracks (about a minute).
4. ``animator_refiner``: the refinement GAN (resumable; 7,000 steps took 30 min on this CPU); the step
   with the lowest validation L1 after the discriminator joined is exported.
5. ``emotion_calibration``: one gain per emotion so that intensity 1 reads like real apex faces, measured
   with the default recognizer on the training faces through the parts above (a few minutes; run it
   after any of them changes).

Each is written to ``weights/`` with a checksum and the command that made it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from ..emotion import create_recognizer
from ..errors import SettingError
from ..runtime import hardware_string
from ..weights import save_weights
from .animator import Animator
from .calibration import calibrate_intensity
from .clips import HELDOUT_SUBJECTS, HELDOUT_VIDEOS, load_clips
from .motion import EmotionMotion, learn_emotion_motion
from .refine import Refiner
from .refine_train import RefinerConfig, export_refiner, train_refiner
from .smooth import train_keypoint_gru
from .texture import ExpressionTexture, learn_expression_texture

logger = logging.getLogger(__name__)

__all__ = ["train_animator", "PARTS"]

PARTS = ("motion", "texture", "gru", "refiner", "calibration")


def train_animator(steps: int | None = None, run_dir: str | os.PathLike = "runs/animator/refiner", parts=PARTS,
                   weights_root: str | os.PathLike | None = None, progress: bool = True,
                   clips=None, gru_steps: int = 1500, **refiner_kwargs) -> dict[str, Path]:
    """Train the parts named in ``parts`` and write their weights; returns name -> weights path.

    ``steps`` and ``refiner_kwargs`` go to :class:`~faceanim.animate.refine_train.RefinerConfig` (its defaults
    made the committed refiner)."""
    import torch

    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SettingError(f"unknown animator parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    command = "faceanim " + " ".join(sys.argv[1:]) if Path(sys.argv[0]).stem in ("faceanim", "__main__") else ""
    clips = clips if clips is not None else load_clips(progress=progress)
    out: dict[str, Path] = {}
    if "motion" in parts:
        motion = learn_emotion_motion(clips, exclude_subjects=HELDOUT_SUBJECTS)
        out["emotion_motion"] = save_weights(motion.to_state(), "emotion_motion", {
            "kind": "emotion_motion", "sequences": motion.sequences, "subjects": motion.subjects,
            "heldout_subjects": list(HELDOUT_SUBJECTS), "command": command}, root=weights_root)
        logger.info(f"emotion motion from {sum(motion.sequences.values())} CK+ sequences: {motion.sequences}")
    if "texture" in parts:
        texture = learn_expression_texture(clips, exclude_subjects=HELDOUT_SUBJECTS)
        out["emotion_texture"] = save_weights(texture.to_state(), "emotion_texture", {
            "kind": "emotion_texture", "sequences": texture.sequences, "subjects": texture.subjects,
            "size": texture.size, **texture.params, "heldout_subjects": list(HELDOUT_SUBJECTS), "command": command},
            root=weights_root)
        logger.info(f"expression texture from {sum(texture.sequences.values())} CK+ sequences: {texture.sequences}")
    if "gru" in parts:
        model, info = train_keypoint_gru(clips, steps=gru_steps, progress=progress)
        out["keypoint_gru"] = save_weights({"model": model.state_dict(), "hidden": model.gru.hidden_size},
                                           "keypoint_gru", {"kind": "keypoint_gru", **info, "command": command,
                                                            "heldout_videos": list(HELDOUT_VIDEOS),
                                                            "heldout_subjects": list(HELDOUT_SUBJECTS),
                                                            "torch": torch.__version__,
                                                            "hardware": hardware_string(torch.device("cpu"))},
                                           root=weights_root)
        logger.info(f"keypoint GRU: {info}")
    if "refiner" in parts:
        cfg = RefinerConfig(**({"steps": steps} if steps is not None else {}), **refiner_kwargs)
        state = train_refiner(clips, cfg, run_dir=run_dir, progress=progress)
        if state["step"] >= cfg.steps:
            best_path = Path(run_dir) / "best.pt"
            best = torch.load(best_path, map_location="cpu", weights_only=False) if best_path.exists() else None
            out["animator_refiner"] = export_refiner(state, command=command, root=weights_root, best=best)
            logger.info(f"refiner: {state['step']} steps, {state['seconds'] / 60:.1f} min")
    if "calibration" in parts:

        # the parts just trained (written under weights_root) are the ones calibrated
        animator = Animator(refiner=Refiner.load(root=weights_root), motion=EmotionMotion.load(root=weights_root),
                            texture=ExpressionTexture.load(root=weights_root), calibration=None)
        recognizer = create_recognizer()
        cal = calibrate_intensity(animator, recognizer, clips, progress=progress)
        out["emotion_calibration"] = save_weights(cal.to_state(), "emotion_calibration", {
            "kind": "emotion_calibration", "gain": cal.gain, "target": cal.target, "recognizer": cal.recognizer,
            "faces": len(cal.faces), "heldout_subjects": list(HELDOUT_SUBJECTS),
            "heldout_videos": list(HELDOUT_VIDEOS), "command": command}, root=weights_root)
        logger.info(f"intensity calibration on {len(cal.faces)} training faces: gains {cal.gain}")
    return out
