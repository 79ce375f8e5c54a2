"""Daemon memory with the demo model in simulation: RSS of ``firedetect run``, side by side.

    .venv/bin/python bench/bench_rss.py [--before REV] [--seconds 90]

Runs what ``./bootstrap.sh run`` runs (``firedetect -v run --config demo/config.toml
--simulate flaming_upholstery --seed 2 --speed 2``) as a child process from this tree and,
with ``--before REV``, from that git revision (exported to a temporary folder) at the same
time, so both see the same machine load. Each gets its own state directory. Samples VmRSS
from ``/proc/PID/status`` every 3 s and reports the RSS after 60 s, at the end and the
peak (VmHWM), with the load average.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def status_mib(pid: int, key: str) -> float | None:
    """``key`` (VmRSS, VmHWM) of process ``pid`` in MiB, or None once it has gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def export(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev`` of this repository, extracted under ``into``."""
    archive = into / "tree.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", rev], cwd=ROOT, stdout=out, check=True)
    tree = into / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", metavar="REV", help="also run this git revision, side by side")
    p.add_argument("--seconds", type=float, default=90.0, help="wall seconds per run")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": ROOT}
        if args.before:
            trees[f"before ({args.before})"] = export(args.before, Path(tmp))
        procs = {}
        for i, (label, tree) in enumerate(trees.items()):
            cmd = [sys.executable, "-m", "edge.cli", "-v", "run", "--config",
                   str(tree / "demo" / "config.toml"), "--simulate", "flaming_upholstery",
                   "--seed", "2", "--speed", "2", "--duration", str(2 * args.seconds),
                   "--state-dir", str(Path(tmp) / f"state{i}")]
            procs[label] = subprocess.Popen(cmd, cwd=tree, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL,
                                            env={**os.environ, "PYTHONPATH": str(tree)})
        at60: dict[str, float] = {}
        last: dict[str, float] = {}
        peak: dict[str, float] = {}
        loads = []
        t0 = time.monotonic()
        while any(pr.poll() is None for pr in procs.values()):
            for label, pr in procs.items():
                rss, hwm = status_mib(pr.pid, "VmRSS"), status_mib(pr.pid, "VmHWM")
                if rss is not None and hwm is not None:
                    last[label], peak[label] = rss, hwm
                    if time.monotonic() - t0 <= 60.0:
                        at60[label] = rss
            loads.append(os.getloadavg()[0])
            time.sleep(3.0)
        print(f"firedetect run, demo model, simulated flaming_upholstery, {args.seconds:g} s "
              f"(load average {min(loads):.1f}-{max(loads):.1f}):")
        for label, pr in procs.items():
            print(f"  {label:24s} exit {pr.returncode}: RSS {at60.get(label, 0):.0f} MiB after "
                  f"60 s, {last.get(label, 0):.0f} MiB at the end, peak {peak.get(label, 0):.0f}"
                  " MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
