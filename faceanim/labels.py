"""The one home of every emotion label list: FER-2013's order, the expressions, and other datasets'
names for them. Every model, table, CLI choice and notebook dropdown takes its names from here.

>>> from faceanim.labels import EMOTIONS, EXPRESSIONS, Emotion, to_emotion
>>> EMOTIONS.index("happy"), EXPRESSIONS[-1], Emotion.SAD.value
(3, 'surprise', 'sad')
>>> to_emotion("happiness"), to_emotion("Anger")
('happy', 'angry')
"""

from __future__ import annotations

from enum import Enum

from .errors import SettingError

__all__ = ["EMOTIONS", "EXPRESSIONS", "NEUTRAL", "CONTEMPT", "Emotion", "ALIASES", "to_emotion", "label_id"]

#: FER-2013's class order (label ids 0..6). Every model and table in faceanim uses it.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NEUTRAL = "neutral"
#: the six expressions (every emotion but neutral): what the animator moves toward and CK+ labels
EXPRESSIONS = tuple(e for e in EMOTIONS if e != NEUTRAL)
#: an expression CK+ and MEAD film but FER-2013 has no class for: the animator can show it, no recognizer names it
CONTEMPT = "contempt"


class Emotion(str, Enum):
    """The seven emotions as an enum whose values are the names in :data:`EMOTIONS`."""

    ANGRY = "angry"
    DISGUST = "disgust"
    FEAR = "fear"
    HAPPY = "happy"
    SAD = "sad"
    SURPRISE = "surprise"
    NEUTRAL = "neutral"

    @property
    def id(self) -> int:
        return EMOTIONS.index(self.value)


#: other datasets' words for our names: CK+ and FER+ use nouns ("anger", "happiness", "sadness")
ALIASES = {"anger": "angry", "happiness": "happy", "sadness": "sad", "disgusted": "disgust", "surprised": "surprise",
           "fearful": "fear", **{e: e for e in EMOTIONS}}


def to_emotion(name: str) -> str:
    """Our name for a dataset's emotion word (case-insensitive); a :class:`SettingError` if unknown."""
    key = str(name).strip().lower()
    if key not in ALIASES:
        raise SettingError(f"unknown emotion {name!r}; use one of {', '.join(EMOTIONS)}")
    return ALIASES[key]


def label_id(name: str) -> int:
    """The FER-2013 label id of an emotion word."""
    return EMOTIONS.index(to_emotion(name))
