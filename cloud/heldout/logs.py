"""Logging for the evaluation commands (``cloud.heldout.suite``, ``cloud.heldout.cross``)."""

from __future__ import annotations

import logging
import sys


def configure_logging(verbose: int) -> None:
    """Warnings (more with ``-v``); quiet about the replays' expected faults and alarms."""
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    if verbose == 0:  # the ablations' sensor faults and every alarm are expected here
        for name in ("edge.detect.pipeline", "edge.detect.alarm"):
            logging.getLogger(name).setLevel(logging.ERROR)
