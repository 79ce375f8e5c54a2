"""The ``firedetect`` command: parse → validate → configure logging → run."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import select
import sys
from collections.abc import Sequence

from edge import __version__
from edge.commands import COMMANDS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="firedetect",
        description="Fire detector: FLIR Lepton + SCD41, on-device ensemble, MQTT alarms.",
    )
    parser.add_argument("--version", action="version", version=f"firedetect {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def configure_logging(verbosity: int) -> None:
    """Logs go to stderr; stdout belongs to each command's own output."""
    level = logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def limit_blas_threads() -> bool:
    """One BLAS thread in this process (``edge.featuresets.blas``); False when threadpoolctl
    is missing. On a device the cores belong to the sensor loops (as onnxruntime's session is
    held to one thread)."""
    from edge.featuresets.blas import one_blas_thread

    return one_blas_thread()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    configure_logging(args.verbose)
    limit_blas_threads()  # after build_parser: numpy (and its BLAS) is loaded by then
    try:
        status: int = args.func(args)
        sys.stdout.flush()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # a pipe other than our stdout: a real error
        # The reader went away (`firedetect sensors | head`): stop quietly, as the `signal`
        # docs advise (Note on SIGPIPE): stdout to devnull so the exit flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reading end has been closed."""
    try:
        poll = select.poll()
        poll.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poll.poll(0))
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured)
        return False


if __name__ == "__main__":
    sys.exit(main())
