"""Live video: emotions per face over time, with stable ids, smoothing, emoji, and a SQLite log."""

from ..viz import annotate_readings as annotate
from .log import READING_COLUMNS, ReadingLog, export_log, read_log, read_runs, summarize
from .stream import EmotionStream, FaceReading, StreamFrame, StreamResult, StreamSettings

__all__ = ["EmotionStream", "StreamSettings", "StreamFrame", "FaceReading", "StreamResult", "annotate", "ReadingLog", "read_log",
           "read_runs", "export_log", "summarize", "READING_COLUMNS"]
