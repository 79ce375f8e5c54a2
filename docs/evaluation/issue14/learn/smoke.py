"""smoke_detector_s of each CFAST fire group of the pickle, from the cached CFAST runs.

    python smoke.py /path/to/ds480.pkl   (writes smoke.json beside this file)
"""
import json
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the repository root

from edge.sim.cfast.make import make_cfast_scene
from edge.sim.variation import draw_variation

with open(sys.argv[1], "rb") as fh:
    ds = pickle.load(fh)  # noqa: S301  (our own experiment pickle)
out = {}
for g in ds.groups:
    if not g.name.startswith("sim:cfast:") or g.fire_start_s is None:
        continue
    _, _, fam, seed = g.name.split(":")
    dur = 1200.0 if g.duration_s > 700 else 600.0  # the corpus: 600 s, slow families 1200 s
    var = draw_variation(int(seed), dur, None)
    truth = make_cfast_scene(fam, int(seed), dur, **var.overrides("cfast")).truth
    assert abs(truth["fire_start_s"] - g.fire_start_s) < 1e-6, g.name  # the same draw
    out[g.name] = {"smoke_detector_s": truth["smoke_detector_s"], "end_s": g.duration_s}
(Path(__file__).parent / "smoke.json").write_text(json.dumps(out, indent=0))
print(len(out))
