"""Corpus throughput: simulated training runs per minute per worker, for each engine.

    .venv/bin/python bench/bench_corpus.py [--runs 12] [--duration 600] [--seed 42]

Renders and featurises ``--runs`` jobs per engine, one worker (this process), exactly as
``cloud/train.py --simulate`` does (``run_sim_job``: installation variation on, the frame
rate drawn per run, log-uniform 1–8.7 Hz), cycling through each engine's families. CFAST
runs into an empty cache (a temporary ``$FIREDETECT_CFAST_CACHE``) unless ``--warm``, so
the figure includes CFAST itself. Prints seconds per run, the mean drawn rate, runs per
minute per worker, the runs left out (CFAST could not compute them) and the load average
before and after (the machine's other work).
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cloud.training.simulated import _job_or_reason, sim_jobs


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=12, help="jobs per engine")
    p.add_argument("--duration", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--engines", default="ours,cfast")
    p.add_argument("--warm", action="store_true", help="keep the usual CFAST cache")
    args = p.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if not args.warm:
        os.environ["FIREDETECT_CFAST_CACHE"] = tempfile.mkdtemp(prefix="bench-cfast-")
    print(f"load average before: {os.getloadavg()}")
    for engine in args.engines.split(","):
        jobs = sim_jobs(args.runs, args.seed, args.duration, None, engines=(engine,),
                        vary=True)
        times, rates = [], []
        failed = 0
        for job in jobs:
            t = time.perf_counter()
            ds = _job_or_reason(job)
            times.append(time.perf_counter() - t)
            if isinstance(ds, str):
                failed += 1
                print(f"  {engine:5} {job.scenario:24} {times[-1]:6.2f} s  FAILED: {ds}")
                continue
            rates.append(len(ds) / job.duration_s)
            print(f"  {engine:5} {job.scenario:24} {times[-1]:6.2f} s  "
                  f"{len(ds) / job.duration_s:4.2f} rows/s", flush=True)
        total = sum(times)
        print(f"{engine}: {len(jobs)} runs of {args.duration:g} s in {total:.1f} s — "
              f"{60.0 * len(jobs) / total:.1f} runs/min/worker (median "
              f"{statistics.median(times):.2f} s, max {max(times):.2f} s; mean rows/s "
              f"{statistics.mean(rates):.2f}; {failed} left out)")
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
