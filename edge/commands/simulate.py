"""``firedetect simulate --scenario NAME --seed N --duration S --out REC.npz``: a scenario run.

Renders one seeded run of a scenario family (``edge.sim.scenarios``) straight to a recording
whose ``meta`` is its truth (family, label, ``fire_start_s``, every drawn parameter). Refuses
to overwrite a file unless ``--force``; an unknown scenario lists the known ones (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.recording import save_recording


class _HelpWithScenarios(argparse.Action):
    """``-h``: the usual help, ending with the scenario names (imported only when asked)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        from edge.sim.scenarios import FIRE_FAMILIES, NUISANCE_FAMILIES

        parser.epilog = (f"Fire scenarios: {', '.join(FIRE_FAMILIES)}. "
                         f"Nuisance scenarios: {', '.join(NUISANCE_FAMILIES)}.")
        parser.print_help()
        parser.exit()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("simulate", help="render a fire or nuisance scenario to a recording",
                       add_help=False)
    p.add_argument("-h", "--help", action=_HelpWithScenarios,
                   help="show this help message and exit")
    p.add_argument("--scenario", required=True,
                   help="scenario family, e.g. flaming_upholstery (all listed below)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same run)")
    p.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    p.add_argument("--out", type=Path, required=True, help="the .npz recording to write")
    p.add_argument("--rate", type=float, default=8.7, help="frames per second (default 8.7)")
    p.add_argument("--lepton", default="3.5", help="camera model: 3.5 (160×120) or 2.5 (80×60)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="pin a parameter by its truth name, e.g. background=none or "
                        "camera_distance_m=3 (repeatable; VALUE is JSON, else a string)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.sim.scenarios import SCENARIOS, render_recording

    if args.scenario not in SCENARIOS:
        print(f"unknown scenario {args.scenario!r}; choose one of: {', '.join(SCENARIOS)}",
              file=sys.stderr)
        return 2
    if args.out.exists() and not args.force:
        print(f"{args.out}: exists; refusing to overwrite (use --force)", file=sys.stderr)
        return 2
    try:
        overrides = _overrides(args.set)
        rec = render_recording(args.scenario, args.seed, args.duration,
                               frame_rate_hz=args.rate, lepton=args.lepton, **overrides)
        save_recording(rec, args.out, overwrite=args.force)
    except (ValueError, FileExistsError) as exc:
        print(exc, file=sys.stderr)
        return 2
    fs = rec.fire_start_s
    onset = "no fire" if fs is None else f"fire from {fs:.1f} s"
    print(f"{args.out}: {args.scenario} seed {args.seed}, {len(rec.frame_t)} frames, "
          f"{len(rec.gas_t)} gas readings, {onset}")
    return 0


def _overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE")
        try:
            out[name] = json.loads(raw)
        except json.JSONDecodeError:
            out[name] = raw
    return out
