"""results.jsonl -> markdown table (one row per variant x margin)."""
import json
import sys
from pathlib import Path

rows = [json.loads(x) for x in (Path(__file__).parent / "results.jsonl").read_text().splitlines()]
margins = sys.argv[1].split(",") if len(sys.argv) > 1 else ["m0.05"]


def cell(r: dict, key: str) -> str:
    sd = r["before_sd"]
    sd_s = f"{sd[0]}/{sd[1]}" if sd else "n/a"
    med = "–" if r["tta_med"] != r["tta_med"] else f"{r['tta_med']:.0f}"
    return (f"{r['fires']}/{r['n_fire']} · {med} s · SD {sd_s} · FA {r['nofire_alarms']}/"
            f"{r['n_nofire']}+{r['prefire_alarms']} · AUC {r['auc']:.3f}")


print("| variant | margin | (a) mixed | (b) ours→CFAST | (c) CFAST→ours | thr a/b/c |")
print("|---|---|---|---|---|---|")
for r in rows:
    for m in margins:
        cells = []
        thr = []
        for k in "abc":
            s = r["scen"].get(k)
            cells.append(cell(s["at"][m], k) if s else "–")
            thr.append(f"{s['thr'][m]:.2f}" if s else "–")
        print(f"| {r['name']} | {m} | " + " | ".join(cells) + f" | {'/'.join(thr)} |")
