"""``firedetect validate-config FILE``: check a config file and say what is wrong.

Beyond loading (every key, its type and range), the files the config names are checked on
this machine (:mod:`edge.commands.config_files`). Exit 0 when all is well, 2 otherwise, each problem
on its own line naming the key, what was given and what is allowed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edge.commands.config_files import file_problems
from edge.config import load_config
from edge.errors import ConfigError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("validate-config", help="check a config file and report every problem")
    p.add_argument("file", type=Path, help="the TOML config file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = file_problems(config)
    if problems:
        for line in problems:
            print(f"{args.file}: {line}", file=sys.stderr)
        return 2
    print(f"{args.file}: ok")
    return 0
