"""Emotion and intensity: the network, its training, the recognizer, and its evaluation.

``create_recognizer()`` loads the committed weights; ``train_emotion`` / ``export_emotion_weights`` make
them; ``evaluate_emotion`` measures them.
"""

from .export import export_emotion_weights
from .model import EmotionNet, NetConfig
from .recognizer import (
    DEFAULT_RECOGNIZER,
    DEFAULT_THRESHOLD,
    EmotionReading,
    EmotionRecognizer,
    available_recognizers,
    create_recognizer,
    readings_to_frame,
)
from .train import TrainConfig, TrainResult, train_emotion

__all__ = ["EmotionNet", "NetConfig", "EmotionReading", "EmotionRecognizer", "create_recognizer",
           "available_recognizers", "readings_to_frame", "DEFAULT_RECOGNIZER", "DEFAULT_THRESHOLD",
           "TrainConfig", "TrainResult", "train_emotion", "export_emotion_weights", "evaluate_emotion"]


def __getattr__(name):  # evaluation pulls in sklearn/seaborn: import it on first use
    if name == "evaluate_emotion":
        from .evaluate import evaluate_emotion

        return evaluate_emotion
    raise AttributeError(name)
