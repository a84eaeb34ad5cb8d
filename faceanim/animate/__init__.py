"""Animate a still face: toward an emotion, or with the motion of a driving video.

Layout follows the data: :mod:`.clips` (real videos cropped, with landmarks) -> :mod:`.keypoints` ->
:mod:`.motion` (emotion or driving; :mod:`.calibration` scales each emotion's intensity) -> :mod:`.smooth`
(One-Euro, keypoint GRU) -> :mod:`.warp` (thin-plate spline) -> :mod:`.refine` (GAN) -> :mod:`.texture`
(expression ratio images) -> :mod:`.animator` (the pipeline, paste-back, export);
:mod:`.train` and :mod:`.evaluate` drive the CLI's ``train animator`` and ``evaluate animation``;
:mod:`.truth` compares animations with MEAD's real expressions, each actor held out in turn.
"""

from .animator import AnimatedFrame, Animation, AnimationSettings, Animator, SavedAnimation, SourceFace, gaussian_post_filter
from .calibration import IntensityCalibration
from .clips import HELDOUT_SUBJECTS, HELDOUT_VIDEOS, Clip, load_clips, load_mead_clips, prepare_clips, prepare_mead_clips
from .keypoints import KEYPOINT_ORDER, border_anchors, select_keypoints
from .motion import (
                     EmotionMotion,
                     SourceExpression,
                     driving_keypoints,
                     ease,
                     emotion_keypoints,
                     expression_shape,
                     learn_emotion_motion,
)
from .texture import ExpressionTexture, learn_expression_texture

__all__ = ["Animator", "Animation", "AnimatedFrame", "SavedAnimation", "AnimationSettings", "SourceFace",
           "gaussian_post_filter",
           "Clip", "load_clips", "prepare_clips", "load_mead_clips", "prepare_mead_clips", "expression_shape",
           "HELDOUT_VIDEOS", "HELDOUT_SUBJECTS", "KEYPOINT_ORDER",
           "border_anchors", "select_keypoints", "EmotionMotion", "learn_emotion_motion", "emotion_keypoints",
           "driving_keypoints", "ease", "SourceExpression", "IntensityCalibration", "ExpressionTexture",
           "learn_expression_texture"]
