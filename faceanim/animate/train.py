"""Train the animator's learned parts from the prepared clips (``faceanim train animator``).

1. ``emotion_motion``: per-emotion landmark motion from the training CK+ subjects (the default), and
   ``emotion_motion_mead`` pooled with every MEAD actor (MEAD's frames turned frontal by their 3DMM pose;
   seconds, plus about two minutes the first time, to crop the MEAD clips into ``runs/cache``).
2. ``emotion_texture`` (and ``emotion_texture_mead``): per-emotion expression ratio images from the same
   CK+ sequences (and MEAD clips, in colour; seconds).
3. ``keypoint_gru``: the next-keypoint predictor on the training clips' landmark tracks (about a minute).
4. ``animator_refiner``: the refinement GAN (resumable; 7,000 steps took 30 min on this CPU); the step
   with the lowest validation L1 after the discriminator joined is exported.
4b. ``animator_generator``: the emotion-conditioned generator, started from the refiner and trained on
   MEAD, CK+ and the face videos (resumable; :data:`GENERATOR_CONFIG`), and with ``--leave-out ACTOR`` one
   without that MEAD actor, ``animator_generator_without_<ACTOR>``, for the leave-one-actor-out evaluation.
5. ``emotion_calibration`` (and ``emotion_calibration_mead``): one gain per emotion so that intensity 1
   reads like real apex faces, measured with the default recognizer on the training faces through the
   parts above (a few minutes each; run it after any of them changes).

Each is written to ``weights/`` with a checksum and the command that made it.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from ..config import has_dataset
from ..emotion import create_recognizer
from ..errors import SettingError
from ..runtime import hardware_string
from ..weights import available_weights, save_weights
from .animator import DEFAULT_GENERATOR, DEFAULT_REFINER, LEARNED_FROM, Animator
from .calibration import KEEP_PERSON, calibrate_intensity
from .clips import HELDOUT_SUBJECTS, HELDOUT_VIDEOS, load_clips, load_mead_clips
from .motion import EmotionMotion, learn_emotion_motion, mead_pose_data
from .networks import CONDITIONS
from .refine import Refiner
from .refine_train import RefinerConfig, export_refiner, train_refiner
from .smooth import train_keypoint_gru
from .texture import ExpressionTexture, learn_expression_texture

logger = logging.getLogger(__name__)

__all__ = ["train_animator", "PARTS", "GENERATOR_CONFIG", "generator_name"]

PARTS = ("motion", "texture", "gru", "refiner", "generator", "calibration")
#: how the emotion-conditioned generator is trained (on top of RefinerConfig's defaults)
GENERATOR_CONFIG = {"conditions": len(CONDITIONS), "mead_share": 0.4, "ckplus_share": 0.3,
                    "init_from": "animator_refiner", "steps": 2000, "warmup": 300}


def generator_name(leave_out: str | None = None) -> str:
    """Weights name of the emotion-conditioned generator (trained without MEAD actor ``leave_out``)."""
    return DEFAULT_GENERATOR if not leave_out else f"{DEFAULT_GENERATOR}_without_{leave_out}"


def train_animator(steps: int | None = None, run_dir: str | os.PathLike = "runs/animator/refiner", parts=PARTS,
                   weights_root: str | os.PathLike | None = None, progress: bool = True,
                   clips=None, gru_steps: int = 1500, mead=None, leave_out: str | None = None,
                   generator_steps: int | None = None, **refiner_kwargs) -> dict[str, Path]:
    """Train the parts named in ``parts`` and write their weights; returns name -> weights path.

    ``steps`` and ``refiner_kwargs`` go to :class:`~faceanim.animate.refine_train.RefinerConfig` (its defaults
    made the committed refiner). ``mead``: the MEAD clips for the motion and texture (default: the cached
    ones, :func:`~faceanim.animate.clips.load_mead_clips`, where ``$FACEANIM_DATA`` has MEAD; an empty list
    learns from CK+ alone)."""
    import torch

    unknown = set(parts) - set(PARTS)
    if unknown:
        raise SettingError(f"unknown animator parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    command = "faceanim " + " ".join(sys.argv[1:]) if Path(sys.argv[0]).stem in ("faceanim", "__main__") else ""
    clips = clips if clips is not None else load_clips(progress=progress)
    out: dict[str, Path] = {}
    if ("motion" in parts or "texture" in parts or "generator" in parts) and mead is None and has_dataset("mead"):
        mead = load_mead_clips(progress=progress)
    mead = list(mead or [])
    pose = mead_pose_data(mead) if mead else None
    # two sets: CK+ alone (the default names) and, where MEAD is there, pooled with it (LEARNED_FROM["mead"])
    sets = {"ckplus": clips, **({"mead": clips + mead} if mead else {})}
    if "motion" in parts:
        for key, data in sets.items():
            name = LEARNED_FROM[key]["motion"]
            motion = learn_emotion_motion(data, exclude_subjects=HELDOUT_SUBJECTS, pose=pose)
            out[name] = save_weights(motion.to_state(), name, {
                "kind": "emotion_motion", "sequences": motion.sequences, "sources": motion.sources,
                "subjects": motion.subjects, "frontal": motion.frontal, "skipped": motion.skipped,
                "heldout_subjects": list(HELDOUT_SUBJECTS), "command": command}, root=weights_root)
            logger.info(f"{name} from {motion.sources}")
    if "texture" in parts:
        for key, data in sets.items():
            name = LEARNED_FROM[key]["texture"]
            texture = learn_expression_texture(data, exclude_subjects=HELDOUT_SUBJECTS)
            out[name] = save_weights(texture.to_state(), name, {
                "kind": "emotion_texture", "sequences": texture.sequences, "subjects": texture.subjects,
                "size": texture.size, **texture.params, "heldout_subjects": list(HELDOUT_SUBJECTS),
                "command": command}, root=weights_root)
            logger.info(f"{name} from {texture.params.get('sources')}")
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
    if "generator" in parts:
        if not mead:
            raise SettingError("the emotion-conditioned generator learns from MEAD: $FACEANIM_DATA/mead is missing")
        actors = sorted({c.person for c in mead})
        if leave_out and leave_out not in actors:
            raise SettingError(f"--leave-out {leave_out!r} is not a MEAD actor; choose one of {', '.join(actors)}")
        name = generator_name(leave_out)
        shared = {k: v for k, v in refiner_kwargs.items() if k in ("precision", "threads", "batch_size")}
        cfg = RefinerConfig(**{**GENERATOR_CONFIG, **shared,
                               **({"steps": generator_steps} if generator_steps is not None else {}),
                               "exclude": (leave_out,) if leave_out else ()})
        gen_dir = Path(run_dir).parent / name
        state = train_refiner(clips + mead, cfg, run_dir=gen_dir, progress=progress)
        if state["step"] >= cfg.steps:
            # the last step: the validation L1 is measured on the face videos, which ask for no emotion, so it
            # cannot tell which step renders emotions best (it chose step 400-600, before the condition planes
            # had learned much); the full schedule is exported
            with_neutral = sorted({c.person for c in mead if c.emotion == "neutral"} - set(cfg.exclude))
            out[name] = export_refiner(state, name=name, command=command, root=weights_root, best=None,
                                       extra={"kind": "animator_refiner", "conditions": list(CONDITIONS),
                                              "mead_actors": with_neutral, "left_out": list(cfg.exclude),
                                              "selection": "last step (the validation videos ask for no emotion)"})
            logger.info(f"generator {name}: {state['step']} steps, {state['seconds'] / 60:.1f} min")
    if "calibration" in parts:

        # the parts just trained (written under weights_root) are the ones calibrated, each set on its own
        recognizer = create_recognizer()
        for names in LEARNED_FROM.values():
            if names["motion"] not in available_weights(kind="emotion_motion", root=weights_root):
                continue
            animator = Animator(refiner=Refiner.load(DEFAULT_REFINER, root=weights_root), generator=None,
                                motion=EmotionMotion.load(names["motion"], root=weights_root),
                                texture=ExpressionTexture.load(names["texture"], root=weights_root), calibration=None)
            cal = calibrate_intensity(animator, recognizer, clips, progress=progress)
            out[names["calibration"]] = save_weights(cal.to_state(), names["calibration"], {
                "kind": "emotion_calibration", "gain": cal.gain, "target": cal.target, "recognizer": cal.recognizer,
                "capped_by_identity": cal.capped, "keep_person": KEEP_PERSON,
                "faces": len(cal.faces), "heldout_subjects": list(HELDOUT_SUBJECTS),
                "heldout_videos": list(HELDOUT_VIDEOS), "command": command}, root=weights_root)
            logger.info(f"{names['calibration']} on {len(cal.faces)} training faces: gains {cal.gain}")
    return out
