"""How well an expression communicates (seed 004), built on the audience signal that exists.

- :mod:`.audience`: FER+'s 10 viewers per face, predicted from the recognizer's embedding
  (:class:`AudienceModel`: the vote distribution, agreement, majority, ambiguity).
- :mod:`.clip`: a clip read frame by frame (:func:`read_clip`) and summarised (:func:`summarize`): the emotion
  meant, clarity over time, the intensity arc, mixed-signal moments, temporal consistency.
- :mod:`.sequence`: seed 004's per-frame features -> BiLSTM -> transformer (:class:`SequencePredictor`), its
  ablations and scikit-learn baselines under cross-validation (:func:`cross_validate`), and :func:`fit` for
  labels a user brings (``labels.csv``).
- :mod:`.style`: faces in other styles (cartoon renderings, drawn emoji) for the style table.
- :mod:`.readable`: the animator's loop: the smallest intensity the predicted audience reads as meant.

Seed 004's engagement figures (87.3% on its unpublished 15,000-sequence set) are not reproduced here.
"""

from .animated import AMOUNTS, EmotionClip, Readable, choose_readable, emotion_clip, readability, smallest_readable
from .audience import (
                       AUDIENCE,
                       AudienceModel,
                       AudienceReading,
                       agreement,
                       ambiguity,
                       audience_metrics,
                       kl_divergence,
                       softmax_as_votes,
                       vote_distribution,
)
from .clip import (
                       FRAME_FEATURES,
                       MIN_FRAMES,
                       Arc,
                       ClipReading,
                       ClipSummary,
                       clip_from_frames,
                       intensity_arc,
                       mixed_moments,
                       read_clip,
                       smooth,
                       summarize,
)
from .figures import readability_plot, report_card
from .sequence import (
                       BASELINES,
                       MODELS,
                       VARIANTS,
                       CVResult,
                       FitResult,
                       LabelError,
                       SequencePredictor,
                       clip_statistics,
                       cross_validate,
                       fit,
                       load_labels,
)

__all__ = ["AUDIENCE", "AudienceModel", "AudienceReading", "agreement", "ambiguity", "audience_metrics",
           "kl_divergence", "softmax_as_votes", "vote_distribution",
           "FRAME_FEATURES", "MIN_FRAMES", "Arc", "ClipReading", "ClipSummary", "clip_from_frames", "intensity_arc",
           "mixed_moments", "read_clip", "smooth", "summarize",
           "BASELINES", "MODELS", "VARIANTS", "CVResult", "FitResult", "LabelError", "SequencePredictor",
           "clip_statistics", "cross_validate", "fit", "load_labels",
           "AMOUNTS", "EmotionClip", "Readable", "choose_readable", "emotion_clip", "readability", "smallest_readable",
           "readability_plot", "report_card"]
