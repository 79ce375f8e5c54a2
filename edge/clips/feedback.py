"""User verdicts: ``<base>/cmd/feedback`` → a label object beside the event's clip.

Payload ``{"seq": N, "verdict": "false_alarm" | "fire" | "test"}``; Home Assistant's buttons
publish ``false_alarm`` or ``fire`` on ``<base>/cmd/feedback_last``, which the device resolves
to the seq of its last alarm. The answer goes to ``<base>/cmd/result`` as
``{"command": "feedback", "seq": N, "ok": bool, "error": "..."}``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.clips.queue import ClipQueue
from edge.clips.recorder import ClipRecorder

log = logging.getLogger(__name__)

VERDICTS = ("false_alarm", "fire", "test")


class FeedbackError(ValueError):
    """A verdict that cannot be taken; its text is the reply's ``error``."""


def parse_feedback(payload: bytes) -> tuple[int, str]:
    """``(seq, verdict)`` of a ``cmd/feedback`` payload.

    :raises FeedbackError: not JSON, no integer seq, or a verdict not in :data:`VERDICTS`.
    """
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise FeedbackError(
            'payload is not JSON; expected {"seq": N, "verdict": "false_alarm"|"fire"|"test"}'
        ) from None
    if not isinstance(body, dict):
        raise FeedbackError(f"payload must be a JSON object, got {type(body).__name__}")
    seq, verdict = body.get("seq"), body.get("verdict")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise FeedbackError(f"seq: given {seq!r}; allowed: the integer seq of an event")
    if verdict not in VERDICTS:
        raise FeedbackError(f"verdict: given {verdict!r}; allowed: one of {list(VERDICTS)}")
    return seq, str(verdict)


class Feedback:
    """Takes verdicts (MQTT thread) and answers each on ``cmd/result`` via ``reply``."""

    def __init__(self, recorder: ClipRecorder, queue: ClipQueue,
                 reply: Callable[[dict[str, Any]], None],
                 wake: Callable[[], None] = lambda: None) -> None:
        self.recorder = recorder
        self.queue = queue
        self.reply = reply
        self.wake = wake

    def on_feedback(self, payload: bytes) -> None:
        """A ``cmd/feedback`` message."""
        seq: int | None = None
        try:
            seq, verdict = parse_feedback(payload)
            self.take(seq, verdict)
        except FeedbackError as exc:
            log.warning("clips: feedback refused: %s", exc)
            self.reply({"command": "feedback", "seq": seq, "ok": False, "error": str(exc)})
            return
        self.reply({"command": "feedback", "seq": seq, "ok": True, "error": None})

    def on_feedback_last(self, payload: bytes) -> None:
        """A ``cmd/feedback_last`` message: the verdict (bare word) on the last alarm."""
        verdict = payload.decode("utf-8", "replace").strip().strip('"')
        seq = self.recorder.last_alarm_seq
        if seq is None:
            self.reply({"command": "feedback", "seq": None, "ok": False,
                        "error": "no alarm known to this device to give a verdict on"})
            return
        self.on_feedback(json.dumps({"seq": seq, "verdict": verdict}).encode())

    def take(self, seq: int, verdict: str) -> str:
        """Queue the label for ``seq`` (making a verdict clip if it has none); its key.

        :raises FeedbackError: ``seq`` is not an event this device published (or too old).
        """
        known, key = self.recorder.clip_for(seq)
        if not known:
            raise FeedbackError(
                f"seq {seq}: unknown; allowed: the seq of one of the last events this device "
                "published (alarm, clear, fault)"
            )
        if key is None:
            key = self.recorder.request_verdict_clip(seq)
        label_key = key[: -len(".npz")] + ".label.json"
        body = {"seq": seq, "verdict": verdict, "device_id": self.recorder.device_id,
                "received_at": round(time.time(), 3)}
        self.queue.add_bytes(label_key.rsplit("/", 1)[-1], json.dumps(body).encode(),
                             label_key, "label")
        log.info("clips: verdict %s for seq %d → %s", verdict, seq, label_key)
        self.wake()
        return label_key
