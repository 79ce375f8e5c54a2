"""Build the clip parts from ``[clips]`` (called by the composition root, :mod:`edge.app`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.clips.feedback import Feedback
from edge.clips.queue import ClipQueue
from edge.clips.recorder import ClipRecorder
from edge.clips.uploader import Uploader, split_s3_url
from edge.config import Config

if TYPE_CHECKING:
    from edge.snapshot.render import Shot

log = logging.getLogger(__name__)


@dataclass
class ClipParts:
    """The recorder (the daemon's hook), its queue, uploader and verdict handler."""

    recorder: ClipRecorder
    queue: ClipQueue
    uploader: Uploader
    feedback: Feedback

    @property
    def commands(self) -> dict[str, Callable[[bytes], None]]:
        """The MQTT commands they answer (``<base>/cmd/<name>``)."""
        return {"feedback": self.feedback.on_feedback,
                "feedback_last": self.feedback.on_feedback_last}

    def keep_snapshot(self, shot: Shot, png: bytes) -> None:
        """Queue an event's snapshot beside its clip: the clip's key with ``.png``."""
        if shot.after_seq is None:
            return
        _, key = self.recorder.clip_for(shot.after_seq)
        if key is None or not key.endswith(".npz"):
            return
        png_key = key[:-4] + ".png"
        self.queue.add_bytes(png_key.rsplit("/", 1)[-1], png, png_key, "alarm")
        self.uploader.wake()

    def close(self) -> None:
        """Write pending clips (shorter than post_s) and stop the uploader."""
        try:
            self.recorder.flush()
        finally:
            self.uploader.stop()


def build_clips(config: Config, state_dir: Path, *, model_version: Callable[[], str],
                reply: Callable[[dict[str, Any]], None],
                backoff_min_s: float = 2.0) -> ClipParts:
    """Queue in ``<state_dir>/clips``, uploader started, recorder and verdicts wired.

    :raises ValueError: ``clips.s3_url`` is unset or malformed.
    """
    cfg = config.clips
    if cfg.s3_url is None:
        raise ValueError("clips.s3_url is not set: nowhere to upload clips")
    _, prefix = split_s3_url(cfg.s3_url)
    qdir = state_dir / "clips"
    queue = ClipQueue(qdir, int(cfg.max_queue_mb * 1_000_000))
    uploader = Uploader(queue, cfg.s3_url, endpoint_url=cfg.s3_endpoint_url,
                        max_upload_kbps=cfg.max_upload_kbps, backoff_min_s=backoff_min_s)
    recorder = ClipRecorder(cfg, config.device.id, queue, prefix, model_version=model_version,
                            wake=uploader.wake, seqs_file=qdir / "seqs.json")
    feedback = Feedback(recorder, queue, reply, wake=uploader.wake)
    uploader.start()
    log.info("clips: on (%s; ring ≤ %.1f MB; queue cap %.0f MB; upload cap %.0f kbit/s)",
             cfg.s3_url, cfg.ring_bytes / 1e6, cfg.max_queue_mb, cfg.max_upload_kbps)
    return ClipParts(recorder, queue, uploader, feedback)
