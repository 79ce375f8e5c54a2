"""The CLI's subcommands, one module each.

Every module here has ``register(subparsers)``, which adds its parser and sets
``func=handler`` where ``handler(args) -> int`` is the exit status. Add a new command by
writing its module and naming it in ``COMMANDS``.
"""

from __future__ import annotations

COMMANDS: tuple[str, ...] = (
    "edge.commands.validate_config",
    "edge.commands.features",
    "edge.commands.replay",
    "edge.commands.run",
    "edge.commands.sensors",
    "edge.commands.record",
    "edge.commands.simulate",
    "edge.commands.plot",
    "edge.commands.status",
)
