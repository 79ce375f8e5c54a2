"""Clips: the last minutes of raw data around alarms, near-misses, faults and user verdicts,
written as recordings to a disk queue in the state directory and uploaded to S3 (docs/clips.md).

- :mod:`edge.clips.ring`: the RAM ring of recent frames (decimated), gas readings and scores;
- :mod:`edge.clips.recorder`: triggers → pending clips → recordings with the contract's meta;
- :mod:`edge.clips.queue`: the capped disk queue (alarm and verdict clips are never dropped);
- :mod:`edge.clips.uploader`: its upload thread (backoff with jitter, bandwidth cap);
- :mod:`edge.clips.feedback`: ``<base>/cmd/feedback`` verdicts → label objects.
"""
