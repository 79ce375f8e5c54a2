"""``firedetect status [--config FILE] [--state-dir DIR]``: the device's live state on one screen.

Without ``--state-dir`` it reads the device's retained ``availability``, ``state`` and
``health`` from the broker of the config's ``[mqtt]`` (for about a second): sensors, model
and version, alarm state, the last event in words, outbox depth, the device's broker link.
When the broker cannot be reached it falls back to the state directory
(``device.state_dir``). With ``--state-dir`` it reads only that folder: the outbox depth and
the newest events waiting in it, with their words. Exit 0 when it showed something, 1 when
neither the broker nor the state directory could be read (both reasons named), 2 on a bad
config.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edge.config import Config, load_config
from edge.errors import ConfigError, MqttError, OutboxError

_INDENT = "  "


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("status", help="the device's live state from the broker or state dir")
    p.add_argument("--config", type=Path, help="the TOML config file ([mqtt], [device])")
    p.add_argument("--state-dir", type=Path,
                   help="read this state directory instead of the broker")
    p.add_argument("--wait", type=float, default=1.0, metavar="S",
                   help="how long to wait for retained messages (default 1 s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config) if args.config else Config()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    from edge.mqtt.peek import read_outbox, read_retained

    base = config.mqtt.base_topic or f"firedetect/{config.device.id}"
    broker_error = None
    if args.state_dir is None:
        try:
            got = read_retained(config.mqtt, base, args.wait)
        except MqttError as exc:
            broker_error = str(exc)
        else:
            if got:
                print(render_retained(base, got))
                return 0
            broker_error = (f"the broker holds nothing retained under {base}/ (is the device "
                            "running with this mqtt.base_topic / device.id?)")
    state_dir = args.state_dir or Path(config.device.state_dir)
    try:
        view = read_outbox(state_dir)
    except OutboxError as exc:
        why = f"broker: {broker_error}; " if broker_error else ""
        print(f"firedetect status: nothing to show: {why}state directory: {exc}",
              file=sys.stderr)
        return 1
    if broker_error:
        print(f"(broker not read: {broker_error})")
    print(render_outbox(view.path, view.depth, view.newest))
    return 0


def render_retained(base: str, got: dict[str, Any]) -> str:
    """The screen for the retained topics (``got``: name → payload)."""
    lines = [f"firedetect status: {base}"]
    lines.append(f"device:   {got.get('availability', 'unknown (no availability retained)')}")
    state, state_problem = _retained(got, "state")
    health, health_problem = _retained(got, "health")
    if state:
        cause = f" ({state['reason']})" if state.get("reason") else ""
        lines.append(f"alarm:    {state.get('state', '?')}{cause} since "
                     f"{state.get('since', '?')}, score {_score(state.get('score'))}")
        if state.get("why"):
            lines.append(f"{_INDENT}{state['why']}")
    else:
        lines.append(f"alarm:    {state_problem}")
    sensors = _obj(health.get("sensors"))
    if sensors:
        shown = []
        for name, s in sorted(sensors.items()):
            s = _obj(s)
            reason = s.get("reason")
            shown.append(f"{name} {s.get('status', '?')}" + (f" ({reason})" if reason else ""))
        lines.append(f"sensors:  {' · '.join(shown)}")
    model = _obj(health.get("model"))
    if model:
        lines.append(f"model:    {model.get('version', '?')}"
                     + (" (degraded: rule fallback)" if model.get("degraded") else ""))
    if health:
        lines.append(f"outbox:   {health.get('outbox_depth', '?')} event(s) waiting to be sent")
        mqtt = _obj(health.get("mqtt"))
        err = mqtt.get("last_error")
        lines.append(f"broker:   device link {mqtt.get('state', '?')}"
                     + (f" ({err})" if err else ""))
        lines.append(f"health:   {health.get('status', '?')} at {health.get('ts', '?')}, up "
                     f"{health.get('uptime_s', '?')} s")
    else:
        lines.append(f"health:   {health_problem}")
    last = _obj(state.get("last_event"))
    if last:
        lines.append("last event:")
        lines.append(_event_line(last))
    else:
        lines.append("last event: none since the device started")
    return "\n".join(lines)


def render_outbox(path: Path, depth: int, newest: list[dict[str, Any]]) -> str:
    """The screen for a state directory's outbox."""
    lines = [f"firedetect status: state directory {path.parent}",
             f"outbox:   {depth} event(s) waiting to be sent ({path})"]
    if newest:
        lines.append("newest waiting:")
        lines += [_event_line(ev) for ev in newest]
    else:
        lines.append("newest waiting: none (every event was delivered)")
    return "\n".join(lines)


def _event_line(ev: dict[str, Any]) -> str:
    why = ev.get("why") or ev.get("reason") or ""
    return (f"{_INDENT}#{ev.get('seq', '?')} {ev.get('event', '?')} at {ev.get('ts', '?')}"
            + (f": {why}" if why else ""))


def _retained(got: dict[str, Any], name: str) -> tuple[dict[str, Any], str]:
    """A retained JSON object and, when it is missing or unreadable, what to say instead."""
    raw = got.get(name)
    if raw is None:
        return {}, f"unknown (no {name} retained)"
    if isinstance(raw, dict) and "unreadable" not in raw:
        return raw, ""
    text = raw["unreadable"] if isinstance(raw, dict) else json.dumps(raw)
    return {}, f"unreadable retained {name} (not a JSON object): {str(text)[:60]!r}"


def _obj(x: object) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _score(x: object) -> str:
    return f"{x:.2f}" if isinstance(x, (int, float)) else "none yet"
