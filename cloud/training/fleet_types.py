"""What the training loader knows of one fleet clip (docs/fleet.md, "Training from the fleet").

Kept apart from :mod:`cloud.training.fleet` so :mod:`cloud.training.data` can name the type
without importing the loader.
"""

from __future__ import annotations

from dataclasses import dataclass

REASONS = ("alarm", "near_miss", "fault", "verdict")
VERDICTS = ("false_alarm", "fire", "test")
#: The weight of a row of an unlabelled near-miss or fault clip (label 0).
UNLABELLED_WEIGHT = 0.3
#: A ``fire`` verdict labels rows from the event's trigger minus this as fire.
FIRE_LEAD_S = 30.0


@dataclass(frozen=True)
class FleetClip:
    """One clip: where it came from, its reason and verdict, and what training made of it."""

    name: str  # the clip's file or s3:// key (the group name when it is used)
    device_id: str
    reason: str  # one of REASONS
    seq: int | None
    t0: float  # the device's clock (unix s) at the clip's first second
    verdict: str | None  # one of VERDICTS, None without a (usable) label
    use: str  # "fire", "false_alarm", "unlabelled" (weighted), or "left_out"
    rows: int  # feature rows it gave before de-duplication (0 when left out)
    span: tuple[float, float]  # first and last reading, the device's clock (unix s)
    label_problem: str | None = None  # why its .label.json could not be used

    @property
    def priority(self) -> int:
        """Whose label wins where two clips of a device overlap: verdict > alarm > fault >
        near-miss (an unjudged ``verdict`` clip ranks as an alarm)."""
        if self.verdict is not None:
            return 3
        return {"alarm": 2, "verdict": 2, "fault": 1}.get(self.reason, 0)
