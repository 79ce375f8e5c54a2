"""The composition root: config → sensor sources, model, pipeline, MQTT link, daemon.

Every sensor kind the config can name is built here, from one registry per sensor: the real
buses (``i2c`` for the SCD41; ``spi`` and ``usb`` for the Lepton) and ``simulated`` (the real
drivers reading a byte-level simulator of a quiet room, :mod:`edge.sim.sources`). The
simulators are imported only when a simulated kind is asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge import __version__
from edge.clock import Clock, SystemClock
from edge.config import Config, LeptonConfig, Scd41Config
from edge.notify import Notifier
from edge.sensors.sources import LeptonSource, Scd41Source, Sources
from edge.service.statelock import StateLock

if TYPE_CHECKING:
    from edge.clips.wiring import ClipParts
    from edge.daemon import Daemon, DaemonOptions
    from edge.model.updater import ModelUpdater
    from edge.mqtt.outbox import Outbox
    from edge.sim.scene import Scene

log = logging.getLogger(__name__)

Scd41Kind = Callable[[Scd41Config, Clock], Scd41Source]
LeptonKind = Callable[[LeptonConfig, Clock], LeptonSource]


def _scd41_i2c(config: Scd41Config, clock: Clock) -> Scd41Source:
    return Scd41Source(config, clock)


def _scd41_simulated(config: Scd41Config, clock: Clock) -> Scd41Source:
    from edge.sim.scd41 import SimulatedSCD41
    from edge.sim.scene import StaticRoom
    from edge.sim.sources import scd41_on

    return scd41_on(SimulatedSCD41(StaticRoom(), clock), config, clock)


def _lepton_bus(config: LeptonConfig, clock: Clock) -> LeptonSource:
    from edge.sensors.flir_lepton import open_lepton

    return LeptonSource(lambda: open_lepton(config, clock))


def _lepton_simulated(config: LeptonConfig, clock: Clock) -> LeptonSource:
    from edge.sim.lepton import SimulatedLepton
    from edge.sim.scene import StaticRoom
    from edge.sim.sources import lepton_on

    return lepton_on(SimulatedLepton(StaticRoom(), clock, model=config.model), config, clock)


#: ``sensors.scd41.kind`` → how its source is built.
SCD41_KINDS: dict[str, Scd41Kind] = {"i2c": _scd41_i2c, "simulated": _scd41_simulated}
#: ``sensors.lepton.kind`` → how its source is built.
LEPTON_KINDS: dict[str, LeptonKind] = {
    "spi": _lepton_bus, "usb": _lepton_bus, "simulated": _lepton_simulated,
}


def configured_sources(config: Config, clock: Clock | None = None) -> Sources:
    """Both sensors of the kinds the config names, on ``clock`` (the system clock by default)."""
    clock = clock or SystemClock()
    scd, lep = config.sensors.scd41, config.sensors.lepton
    return Sources(clock=clock, scd41=SCD41_KINDS[scd.kind](scd, clock),
                   lepton=LEPTON_KINDS[lep.kind](lep, clock))


@dataclass
class Runtime:
    """A wired daemon and the parts its owner closes after it."""

    daemon: Daemon
    outbox: Outbox
    updater: ModelUpdater | None = None
    lock: StateLock | None = None
    clips: ClipParts | None = None

    def close(self) -> None:
        if self.clips is not None:
            self.clips.close()
        if self.updater is not None:
            self.updater.stop()
        self.outbox.close()
        if self.lock is not None:
            self.lock.release()


def build_daemon(
    config: Config,
    *,
    simulate: str | None = None,
    scene: Scene | None = None,
    seed: int = 0,
    clock: Clock | None = None,
    duration_s: float | None = None,
    scene_duration_s: float | None = None,
    notifier: Notifier | None = None,
    environ: dict[str, str] | None = None,
    options: DaemonOptions | None = None,
) -> Runtime:
    """Everything wired: sources, model holder, outbox, MQTT link, daemon (not started).

    Sensors: real hardware; or simulated chips seeing the scenario ``simulate`` (seeded) or
    the given ``scene``, on ``clock`` (a ``ScaledClock`` by default).

    The state directory is locked first (:mod:`edge.service.statelock`): a second daemon on it gets
    :class:`~edge.service.statelock.AlreadyRunning`. A state directory that cannot be created or
    written does not stop the detector: the model loads without its cache, events are held
    in memory (a volatile outbox) and the health reports it.

    :raises FiredetectError: another daemon holds the state directory, or the MQTT TLS files
        cannot be used.
    :raises ValueError: an unknown scenario.
    """
    state_dir = Path(config.device.state_dir)
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # detect all the same: volatile outbox, model without its cache
        log.error("%s: cannot create the state directory: %s; running without it", state_dir,
                  exc)
    lock = StateLock(state_dir).acquire()
    try:
        return _wire(config, state_dir, lock, simulate=simulate, scene=scene, seed=seed,
                     clock=clock, duration_s=duration_s, scene_duration_s=scene_duration_s,
                     notifier=notifier, environ=environ, options=options)
    except BaseException:
        lock.release()
        raise


def _wire(
    config: Config,
    state_dir: Path,
    lock: StateLock,
    *,
    simulate: str | None,
    scene: Scene | None,
    seed: int,
    clock: Clock | None,
    duration_s: float | None,
    scene_duration_s: float | None,
    notifier: Notifier | None,
    environ: dict[str, str] | None,
    options: DaemonOptions | None,
) -> Runtime:
    from edge.daemon import Daemon, DaemonOptions
    from edge.model.holder import ModelHolder
    from edge.mqtt.link import MqttLink
    from edge.mqtt.outbox import open_outbox

    sources: Sources
    if simulate is not None or scene is not None:
        from edge.sim.clock import ScaledClock
        from edge.sim.sources import make_scene, simulated_sources

        clock = clock or ScaledClock(1.0)
        truth: dict[str, Any] = {}
        if scene is None:
            scene, truth = make_scene(str(simulate), seed,
                                      scene_duration_s or duration_s or 3600.0)
            log.info("simulation: %s (seed %d): %s", simulate, seed,
                     {k: v for k, v in truth.items() if k != "params"})
        sources = simulated_sources(config, scene, clock, truth)
    else:
        sources = configured_sources(config, clock)
    holder = ModelHolder(config.model, state_dir)
    holder.load_initial()
    # A broken outbox file must not keep the detector from running: open_outbox falls back
    # to a volatile outbox and the daemon reports the fault in its health.
    outbox = open_outbox(state_dir / "outbox.sqlite")
    model = holder.model
    box: dict[str, Any] = {}
    clips = None
    if config.clips.enabled:
        from edge.clips.wiring import build_clips

        clips = build_clips(config, state_dir,
                            model_version=lambda: str(box["daemon"].report.model_version()),
                            reply=lambda body: box["link"].command_result(body))
    link = MqttLink(
        config.mqtt, config.device.id, outbox,
        on_test_command=lambda payload: box["daemon"].request_test(payload),
        sw_version=__version__, model_version=None if model is None else model.version,
        environ=environ,
        commands={"snapshot": lambda payload: box["daemon"].request_snapshot(payload),
                  **({} if clips is None else clips.commands)},
    )
    box["link"] = link
    opts = options or DaemonOptions(duration_s=duration_s)
    daemon = Daemon(config, sources, holder, link, notifier=notifier, options=opts,
                    lock_fault=lock.fault)
    box["daemon"] = daemon
    daemon.clips = None if clips is None else clips.recorder
    if clips is not None:  # an alarm's snapshot goes to S3 beside its clip
        daemon.snapshots.on_png = clips.keep_snapshot
    updater = None
    if config.model.s3_url:
        from edge.detect.shadow import ShadowScorer
        from edge.model.updater import ModelUpdater
        from edge.service.fleet import FleetReport

        shadow = ShadowScorer(config.alarm) if config.model.shadow else None
        if shadow is not None:
            daemon.pipeline.shadow = shadow.observe
        fleet = FleetReport(config.device.id, holder, daemon.report.uptime, shadow=shadow)
        updater = ModelUpdater(config.model, holder, state_dir, device_id=config.device.id,
                               shadow=shadow, after_poll=fleet.maybe_upload)
        fleet.updater = updater
        daemon.report.fleet = fleet
    return Runtime(daemon, outbox, updater, lock, clips)
