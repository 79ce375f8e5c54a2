"""Evidence sources: what, besides the model's score, the alarm logic hears about a frame.

The model contributes the fire probability of the 18 features (and its ``top_features`` say
why). What one frame's features cannot say is the history of the scene, kept once in
:class:`edge.detect.scene.SceneMemory`. Each source reads that memory and the frame and may
add one :class:`Evidence`:

- ``flame_growth`` (:class:`FlameSource`): a new hot region keeps growing; it *triggers* an
  alarm when the model corroborates it (``[flame] min_score``, else the model's own bar) or the
  growth is sure, and
  *holds* a raised alarm while the new region lasts;
- ``smoulder`` (:class:`SmoulderSource`): a new spot keeps heating or spreading for minutes;
  triggers when the model corroborates it (``[smoulder] min_score``, else the model's own
  bar, else 0), holds while it goes on and, once found, while its
  spot stays in view (a smoulder does not put itself out in minutes); sooner, after fewer
  steps, when the model firmly says fire (``[smoulder] early_steps`` and ``early_min_score``,
  else the model's own, else not at all); a spot wholly in the
  cooking zone (``[lepton] cooking_zone``: a pan heating on the hob) only *warns*, as
  ``cooking_zone``: the alarm logic enters ``pre_alarm`` with that reason;
- ``gas`` (:class:`GasSource`): the gas alone says fire: the model's score with the camera's
  features blanked has stayed at or above a bar (``[gas] min_score``, else the model's own
  bar, else off) for ``[gas] hold_s``; it triggers, and holds while it stays there. A fire
  out of view reaches the device through the SCD41 only, and the whole score, which has
  learned that most fires are in view, then says less than the gas does
  (``cloud.training.gas_bar``);
- ``known_scene`` (:class:`KnownSceneRule`): everything hot in view is the known scene (a
  fireplace, a heater), so a score under the scene bar counts only as far as the gas alone
  agrees: it *caps* the evidence at the score with the thermal features blanked.

The pipeline (``edge.detect.pipeline``) holds the list the config switches on
(:func:`build_sources`); adding, removing or learning a source is one class here and one
line there. Sources are asked only about real camera frames (not FFC repeats, not gas
readings), in list order, except the gas watch, which is also asked on the SCD41 readings
scored while the camera is stale; the first that triggers names the alarm's reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.config import Config
from edge.config.flame import FlameConfig
from edge.config.gas import GasConfig
from edge.config.smoulder import SmoulderConfig
from edge.detect.flame import FlameWatch, frame_px
from edge.detect.mask import FrameMask
from edge.detect.scene import SceneMemory
from edge.detect.smoulder import SmoulderWatch

__all__ = [
    "Evidence",
    "EvidenceSource",
    "FlameSource",
    "GasSource",
    "KnownSceneRule",
    "Look",
    "ModelBars",
    "SmoulderSource",
    "Verdict",
    "build_sources",
    "combine",
    "early_rule",
    "flame_bar",
    "gas_bar",
    "scene_bar",
    "smoulder_bar",
]


#: The flame corroboration bar when neither the config nor the model sets one (the rule
#: fallback, a model trained before models carried their own).
DEFAULT_FLAME_BAR = 0.2


@dataclass(frozen=True, slots=True)
class Evidence:
    """What one source says about one frame.

    ``source`` names it (the alarm's reason when it triggers); ``why`` says it in words.
    ``triggers``: alarm now. ``warns``: a warning, not an alarm (``pre_alarm``, this source
    its reason). ``holds``: keep a raised alarm from clearing. ``cap``: the score the alarm
    logic hears is at most this (NaN caps nothing).
    """

    source: str
    why: str
    triggers: bool = False
    holds: bool = False
    cap: float | None = None
    warns: bool = False


@dataclass(frozen=True, slots=True)
class ModelBars:
    """The scores the model in use says corroborate its watches, chosen on its validation
    runs (manifest ``detection``): ``flame`` a growing flame, ``smoulder`` a smouldering
    spot, ``smoulder_early`` ``(steps, score)`` a spot seen heating or spreading for that many
    steps, fewer than the watch's own; ``gas`` the gas alone; ``flame_ladder``
    ``((seconds, score), …)`` a flame that has grown for that long; None: it does not say."""

    flame: float | None = None
    smoulder: float | None = None
    smoulder_early: tuple[int, float] | None = None
    gas: float | None = None
    flame_ladder: tuple[tuple[float, float], ...] = ()


NO_BARS = ModelBars()


@dataclass(frozen=True, slots=True)
class Look:
    """One camera frame as the sources see it.

    ``score``: the model's fire probability. ``evidence``: what the alarm logic would hear
    (the score; NaN while the start-up guard holds it back). ``threshold`` and
    ``scene_threshold``: the alarm logic's in use. ``gas_only``: the model's score with the
    thermal features blanked (computed when called). ``model_bars``: the scores the model in
    use says corroborate its watches (:class:`ModelBars`; asked only when a watch would
    trigger). ``gas_fresh``: whether the vector holds a gas feature (False while the SCD41's
    readings are stale: then the gas says nothing; computed when called).
    """

    t: float
    celsius: npt.NDArray[np.float32]
    score: float
    evidence: float
    threshold: float
    scene_threshold: float | None
    gas_only: Callable[[], float]
    model_bars: Callable[[], ModelBars] = lambda: NO_BARS
    gas_fresh: Callable[[], bool] = lambda: True


class EvidenceSource(Protocol):
    """One source of evidence besides the model (see the module docstring)."""

    name: str

    def update(self, look: Look, memory: SceneMemory) -> Evidence | None:
        """Judge one frame; the memory has already taken it. None: nothing to say."""
        ...


class FlameSource:
    """The growing-flame watch (``edge.detect.flame``) as an evidence source."""

    name = "flame_growth"

    def __init__(self, config: FlameConfig, memory: SceneMemory) -> None:
        self.cfg = config
        self.watch = FlameWatch(config, memory)

    def update(self, look: Look, memory: SceneMemory) -> Evidence | None:
        seen = self.watch.observe(look.celsius)
        holds = seen.growing or seen.new_px >= frame_px(self.cfg.min_px, look.celsius.size)
        if not holds:
            return None
        triggers = seen.growing and (
            seen.sure or look.score >= flame_bar(self.cfg, look, seen.growing_s))
        share = 100.0 * seen.new_px / max(look.celsius.size, 1)
        line = self.cfg.hot_c if math.isnan(seen.hot_c) else seen.hot_c
        at = f"{line:g} °C" + ("" if line >= self.cfg.hot_c else ", the camera's ceiling")
        why = (f"a new hot region grew by {seen.growth_px} px to {share:.2g} % of the view "
               f"({seen.new_px} px ≥ {at}, hottest "
               f"{float(look.celsius.max()):.0f} °C), crossing it at {seen.rise_k_s:.1f} K/s"
               + (", step after step" if seen.sure else "")
               + (f", growing for {seen.growing_s:.0f} s" if seen.growing_s > 0 else "")
               if seen.growing else f"{seen.new_px} px newly ≥ {at}")
        return Evidence(self.name, why, triggers=triggers, holds=True)


class SmoulderSource:
    """The smoulder watch (``edge.detect.smoulder``) as an evidence source."""

    name = "smoulder"
    zone_name = "cooking_zone"

    def __init__(self, config: SmoulderConfig, flame: FlameConfig,
                 zone: FrameMask | None = None) -> None:
        self.cfg = config
        self.watch = SmoulderWatch(config, flame)
        self.zone = zone if zone else None

    def update(self, look: Look, memory: SceneMemory) -> Evidence | None:
        zone = None if self.zone is None else self.zone.masked(look.celsius.shape)
        seen = self.watch.update(look.t, look.celsius, memory.onset, zone)
        if not (seen.holds or seen.steady_steps):
            return None
        doing = ("heating" if seen.heating else "spreading" if seen.spreading
                 else "smouldering (found before; still in view)" if seen.persists
                 else f"heating or spreading, {seen.steady_steps} steps in a row")
        where = "in the cooking zone" if seen.in_zone else "new to the scene"
        why = (f"a hot spot {where} keeps {doing}: {seen.new_px} px, hottest "
               f"{seen.hottest_c:.0f} °C")
        if seen.in_zone:  # a pan on the hob warns, however sure the model is
            return (Evidence(self.zone_name, why, warns=seen.smouldering, holds=True)
                    if seen.holds else None)
        triggers = seen.smouldering and look.score >= smoulder_bar(self.cfg, look)
        if not triggers and seen.steady_steps:
            early = early_rule(self.cfg, look)
            triggers = (early is not None and seen.steady_steps >= early[0]
                        and look.score >= early[1])
            if triggers and early is not None:
                self.watch.confirm()
                why += f"; the model firmly says fire ({look.score:.2f} ≥ {early[1]:.2f})"
        if not (triggers or seen.holds):  # seen for a few steps, not firmly fire: nothing
            return None
        return Evidence(self.name, why, triggers=triggers, holds=True)


class GasSource:
    """The gas alone says fire (see the module docstring): the gas-only score at or above
    :func:`gas_bar` on every frame for ``[gas] hold_s``. Not while the start-up guard holds
    the score back (``look.evidence`` NaN), nor while the SCD41's readings are stale."""

    name = "gas"
    #: Also asked on SCD41 readings scored while the camera is stale (it reads no frame).
    frameless = True

    def __init__(self, config: GasConfig) -> None:
        self.cfg = config
        self.since: float | None = None  # when the gas-only score last rose to the bar

    def update(self, look: Look, memory: SceneMemory) -> Evidence | None:
        bar = gas_bar(self.cfg, look)
        g = look.gas_only() if bar is not None and look.gas_fresh() else math.nan
        if bar is None or math.isnan(look.evidence) or not g >= bar:
            self.since = None
            return None
        if self.since is None:
            self.since = look.t
        held = look.t - self.since
        triggers = held >= self.cfg.hold_s
        why = f"the gas alone scores {g:.2f}, at or above {bar:.2f} for {held:.0f} s"
        return Evidence(self.name, why, triggers=triggers, holds=triggers)


class KnownSceneRule:
    """While every hot pixel in view is the known scene, a score under the scene bar counts
    only as far as the gas alone says fire too.

    The bar is ``[alarm] scene_threshold`` (never under the alarm threshold), or halfway from
    the alarm threshold to 1 when unset: it follows the alarm logic in use (a new model
    brings its own threshold; a reload its own settings).
    """

    name = "known_scene"

    def __init__(self, new_s: float) -> None:
        self.new_s = new_s

    def update(self, look: Look, memory: SceneMemory) -> Evidence | None:
        bar = scene_bar(look.scene_threshold, look.threshold)
        if not (memory.scene_only(self.new_s) and look.evidence < bar):
            return None
        cap = look.gas_only()
        return Evidence(self.name, f"only the known scene is hot; the gas alone scores "
                        f"{cap:.2f}", cap=cap)


def flame_bar(config: FlameConfig, look: Look, growing_s: float = 0.0) -> float:
    """The score that corroborates a flame growing for ``growing_s`` seconds: ``[flame]
    min_score`` when set, else the model's own (``look.model_bars``), else
    ``DEFAULT_FLAME_BAR``; lowered by the ladder's rungs it has grown long enough for
    (``[flame] ladder`` when set, else the model's own unless ``min_score`` is set).

    Nuisances that grow like a flame (a pan's film of oil, a gas ring lit, a log catching)
    do so for seconds; few keep spreading for ten. The model's ladder is chosen on its
    validation runs so that no no-fire stream growing that long reaches it
    (``cloud.training.corroborate``)."""
    ladder: Sequence[tuple[float, float]]
    if config.min_score is not None:
        bar, ladder = config.min_score, config.ladder or ()
    else:
        bars = look.model_bars()
        bar = bars.flame if bars.flame is not None else DEFAULT_FLAME_BAR
        ladder = bars.flame_ladder if config.ladder is None else config.ladder
    return min([bar, *(score for seconds, score in ladder if growing_s >= seconds)])


def smoulder_bar(config: SmoulderConfig, look: Look) -> float:
    """The score that corroborates a smouldering spot: ``[smoulder] min_score`` when set, else
    the model's own (``look.model_bars``), else 0 (the watch alone)."""
    if config.min_score is not None:
        return config.min_score
    bar = look.model_bars().smoulder
    return bar if bar is not None else 0.0


def gas_bar(config: GasConfig, look: Look) -> float | None:
    """The gas-only score that alarms when held: ``[gas] min_score`` when set, else the
    model's own (``look.model_bars``); None: the gas watch is off."""
    if not config.enabled:
        return None
    return config.min_score if config.min_score is not None else look.model_bars().gas


def early_rule(config: SmoulderConfig, look: Look) -> tuple[int, float] | None:
    """``(steps, score)``: a spot seen heating or spreading for that many steps in a row
    alarms at that score. ``[smoulder] early_steps`` / ``early_min_score`` when set, else the
    model's own (``look.model_bars``); None: off (``early_steps = 0``, or no rule)."""
    if config.early_steps == 0:
        return None
    if config.early_steps is not None and config.early_min_score is not None:
        return config.early_steps, config.early_min_score
    return look.model_bars().smoulder_early


def scene_bar(scene_threshold: float | None, threshold: float) -> float:
    """The known-scene rule's bar for ``[alarm] scene_threshold`` and the alarm threshold."""
    if scene_threshold is None:
        return (threshold + 1.0) / 2.0
    return max(scene_threshold, threshold)


def build_sources(config: Config, memory: SceneMemory) -> list[EvidenceSource]:
    """The sources ``config`` switches on, in the order they name an alarm's reason. The
    known-scene rule comes with either watch (it needs the scene memory they keep); the
    gas watch comes last (a camera's evidence names the alarm when both have it)."""
    sources: list[EvidenceSource] = []
    if config.flame.enabled:
        sources.append(FlameSource(config.flame, memory))
    if config.smoulder.enabled:
        sources.append(SmoulderSource(config.smoulder, config.flame,
                                      FrameMask(config.sensors.lepton.cooking_zone)))
    if sources:
        sources.insert(0, KnownSceneRule(config.flame.new_s))
    if config.gas.enabled:
        sources.append(GasSource(config.gas))
    return sources


@dataclass(frozen=True, slots=True)
class Verdict:
    """The alarm logic's input from the evidence: the capped ``score``, the ``trigger`` (the
    first source that triggers), the ``warning`` (the first that warns) and whether any
    source ``hold``-s the alarm."""

    score: float
    trigger: Evidence | None
    warning: Evidence | None
    hold: bool


def combine(score: float, found: list[Evidence]) -> Verdict:
    """The alarm's input from the evidence (:class:`Verdict`)."""
    for ev in found:
        if ev.cap is not None:
            score = min(score, ev.cap)
    return Verdict(score, next((ev for ev in found if ev.triggers), None),
                   next((ev for ev in found if ev.warns), None),
                   any(ev.holds for ev in found))
