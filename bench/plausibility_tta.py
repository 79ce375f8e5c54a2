"""Time to alarm with and without the SCD41 plausibility filter on fast fire runs.

    python bench/plausibility_tta.py [--seeds 2] [--duration 600]

Replays rendered fast flaming / grease / upholstery runs through the shared pipeline (the
demo model, and CO2-only with the rule fallback), once as shipped and once with the filter
replaced by a pass-through, and prints the first alarm time of each and the filter's counts.
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path
from typing import Any

from cloud.heldout.suite import model_holder, replay_mode
from edge.config import load_config
from edge.detect.pipeline import Pipeline
from edge.sim.scenarios import render_recording
from edge.types import GasReading

ROOT = Path(__file__).resolve().parent.parent
FAMILIES = ("fast_flaming", "kitchen_grease_fire", "flaming_upholstery")


class PassThrough:
    """The filter switched off: every reading fed as it comes."""

    rejected = 0
    held_count = 0
    fault = None

    def check(self, r: GasReading) -> list[GasReading]:
        return [r]


def first_alarm(result: dict[str, Any]) -> float:
    return next((e["t"] for e in result["events"] if e["kind"] == "alarm"), math.nan)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=600.0)
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)
    demo = load_config(ROOT / "demo" / "config.toml").model
    assert demo.path is not None and demo.public_key is not None
    holders = {"demo/fused": model_holder(ROOT / demo.path, ROOT / demo.public_key, False),
               "rules/co2_only": model_holder(None, None, False)}
    original = Pipeline.__init__
    for family in FAMILIES:
        for seed in range(args.seeds):
            rec = render_recording(family, seed, args.duration, lepton="2.5")
            for label, holder in holders.items():
                mode = label.split("/")[1]
                with_filter = replay_mode(rec, holder, mode)

                def patched(self: Pipeline, *a: Any, **k: Any) -> None:
                    original(self, *a, **k)
                    self.plausibility = PassThrough()  # type: ignore[assignment]

                Pipeline.__init__ = patched  # type: ignore[method-assign]
                try:
                    without = replay_mode(rec, holder, mode)
                finally:
                    Pipeline.__init__ = original  # type: ignore[method-assign]
                print(f"{family} seed {seed} {label}: fire at {rec.fire_start_s:.1f} s; first "
                      f"alarm {first_alarm(without):.1f} s without the filter, "
                      f"{first_alarm(with_filter):.1f} s with it")


if __name__ == "__main__":
    main()
