"""``firedetect validate-config FILE``: check a config file and say what is wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.config import load_config
from edge.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate-config", help="check a config file and report every problem")
    p.add_argument("file", type=Path, help="the TOML config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"{args.file}: ok")
    return 0
