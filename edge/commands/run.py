"""``firedetect run``: the device daemon, on real sensors or a simulated scenario.

    firedetect run [--config FILE] [--model PATH] [--broker mqtt://host:port]
    firedetect run --simulate SCENARIO [--seed N] [--speed X] [--duration S]

Order: parse → validate the config (file, then the command-line overrides, which win) →
configure logging → read secrets → run. A bad config exits 2 naming the key, no traceback.
SIGTERM/SIGINT stop cleanly (``offline`` published, unsent events kept on disk, sd_notify
``STOPPING=1``); SIGHUP reloads the config file (validated first; a bad file is logged and
the running config kept).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from edge.clock import Clock
from edge.config import Config, load_config, parse_config
from edge.errors import ConfigError, FiredetectError, MqttError

if TYPE_CHECKING:
    from edge.daemon import Daemon

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the detector daemon (real sensors, or --simulate)")
    p.add_argument("--config", type=Path, help="the TOML config file")
    p.add_argument("--model", type=Path, help="a model folder or .tar.gz (overrides config)")
    p.add_argument("--broker", help="mqtt://host:port (overrides config)")
    p.add_argument("--state-dir", type=Path, help="outbox and model cache (overrides config)")
    p.add_argument("--device-id", help="device id for the MQTT topics (overrides config)")
    p.add_argument("--simulate", metavar="SCENARIO",
                   help="simulated sensors seeing SCENARIO (a scenario family, or 'static')")
    p.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    p.add_argument("--speed", type=float, default=1.0,
                   help="simulation speed: 10 = ten simulated seconds per second (default 1)")
    p.add_argument("--duration", type=float,
                   help="stop after this many (simulated) seconds; default: run until stopped")
    p.add_argument("--start", type=float, default=0.0,
                   help="begin at this scene time, s (skip a scenario's quiet start)")
    p.set_defaults(func=run)


def overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The command-line options as config sections (they beat the file)."""
    out: dict[str, dict[str, Any]] = {}
    if args.model is not None:
        out.setdefault("model", {})["path"] = str(args.model)
    if args.broker is not None:
        out.setdefault("mqtt", {})["url"] = args.broker
    if args.state_dir is not None:
        out.setdefault("device", {})["state_dir"] = str(args.state_dir)
    if args.device_id is not None:
        out.setdefault("device", {})["id"] = args.device_id
    return out


def build_config(path: Path | None, extra: dict[str, dict[str, Any]]) -> Config:
    """Load ``path`` (defaults when None), apply ``extra`` and validate the result.

    :raises ConfigError: naming the bad key (``--broker`` shows as ``mqtt.url``).
    """
    base = load_config(path)
    data = base.model_dump(mode="json", exclude_unset=True)
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    if not extra:
        return base
    where = f"{path or '<defaults>'} + command line"
    return parse_config(data, where)


def run(args: argparse.Namespace) -> int:
    try:
        config = build_config(args.config, overrides(args))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.speed <= 0:
        print(f"--speed must be > 0, got {args.speed}", file=sys.stderr)
        return 2
    if args.verbose == 0:
        logging.getLogger().setLevel(config.device.log_level)
    from edge.service.malloc import pin_mmap_threshold

    pin_mmap_threshold()  # before the model and the sensors allocate: 16 MiB less RSS
    clock: Clock | None = None
    if args.simulate:
        from edge.sim.clock import ScaledClock

        clock = ScaledClock(args.speed, start=args.start)
    try:
        from edge.app import build_daemon

        rt = build_daemon(config, simulate=args.simulate, seed=args.seed, clock=clock,
                              duration_s=args.duration, scene_duration_s=(
                                  None if args.duration is None else args.start + args.duration))
    except ValueError as exc:  # an unknown scenario
        print(exc, file=sys.stderr)
        return 2
    except (FiredetectError, MqttError) as exc:
        print(f"firedetect: cannot start: {exc}", file=sys.stderr)
        return 1
    daemon = rt.daemon
    stop_signals = (signal.SIGTERM, signal.SIGINT)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: stopping", signal.Signals(signum).name)
        daemon.request_stop()

    def on_hup(signum: int, frame: FrameType | None) -> None:
        threading.Thread(target=_reload, args=(daemon, args), daemon=True).start()

    if threading.current_thread() is threading.main_thread():
        for sig in stop_signals:
            signal.signal(sig, on_stop)
        signal.signal(signal.SIGHUP, on_hup)
    if rt.updater is not None:
        rt.updater.start()
    live = None
    if sys.stderr.isatty():
        from edge.commands.live import LiveStatus

        clock = daemon.clock
        live = LiveStatus(lambda: f"t={clock.monotonic():.0f} s {daemon.status_line()}",
                          sys.stderr)
        live.start()
    try:
        daemon.run()
    finally:
        if live is not None:
            live.stop()
        rt.close()
    return 0


def _reload(daemon: Daemon, args: argparse.Namespace) -> None:
    """SIGHUP: validate the file again; keep the running config if it is bad."""
    daemon.notifier.reloading()
    try:
        config = build_config(args.config, overrides(args))
    except ConfigError as exc:
        log.error("reload refused, keeping the running config:\n%s", exc)
        daemon.notifier.ready(daemon.status_line())
        return
    log.info("reload: %s validated", args.config or "<defaults>")
    daemon.request_reload(config)
