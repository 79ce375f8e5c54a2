"""Time signals the scenarios are built from: each maps an array of times (s) to values.

All of them are deterministic functions of time, so a scene answers the same at the same
``t`` however often (and in whatever order) it is asked.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from edge.types import FloatArray

Signal = Callable[[FloatArray], FloatArray]


def _t(t: FloatArray) -> FloatArray:
    return np.asarray(t, dtype=np.float64)


def const(value: float) -> Signal:
    """A constant."""
    return lambda t: np.full(np.shape(t), float(value))


def ramp(t0: float, t1: float, v0: float, v1: float) -> Signal:
    """``v0`` before ``t0``, linear to ``v1`` at ``t1``, ``v1`` after."""
    span = max(t1 - t0, 1e-9)
    return lambda t: v0 + (v1 - v0) * np.clip((_t(t) - t0) / span, 0.0, 1.0)


def step(t0: float, before: float, after: float) -> Signal:
    """``before`` until ``t0``, ``after`` from then on."""
    return lambda t: np.where(_t(t) >= t0, after, before)


def approach(t0: float, v0: float, v1: float, tau_s: float) -> Signal:
    """``v0`` until ``t0``, then a first-order approach to ``v1`` with time constant ``tau_s``."""
    return lambda t: v0 + (v1 - v0) * -np.expm1(-np.maximum(_t(t) - t0, 0.0) / tau_s)


def window(t0: float, t1: float, rise_s: float = 1.0) -> Signal:
    """1 inside [t0, t1], 0 outside, with linear edges of ``rise_s``."""
    def f(t: FloatArray) -> FloatArray:
        tt = _t(t)
        up = np.clip((tt - t0) / rise_s + 1.0, 0.0, 1.0)
        down = np.clip((t1 - tt) / rise_s + 1.0, 0.0, 1.0)
        return np.minimum(up, down)
    return f


def pulses(starts: Sequence[float], lengths: Sequence[float], amplitudes: Sequence[float],
           rise_s: float = 1.0) -> Signal:
    """A sum of flat-topped pulses (breaths, door openings, glints)."""
    wins = [(window(s, s + n, rise_s), a) for s, n, a in zip(starts, lengths, amplitudes,
                                                             strict=True)]

    def f(t: FloatArray) -> FloatArray:
        out = np.zeros(np.shape(t))
        for w, a in wins:
            out += a * w(t)
        return out
    return f


def total(signals: Sequence[Signal]) -> Signal:
    """The sum of ``signals`` (0 for none)."""
    sigs = list(signals)
    def f(t: FloatArray) -> FloatArray:
        out = np.zeros(np.shape(t))
        for s in sigs:
            out = out + s(t)
        return out
    return f


def scaled(signal: Signal, factor: float, offset: float = 0.0) -> Signal:
    """``offset + factor·signal``."""
    return lambda t: offset + factor * signal(t)


class GridSignal:
    """A signal tabulated on a regular grid and interpolated linearly (held at the ends)."""

    def __init__(self, t0: float, dt: float, values: FloatArray) -> None:
        if values.ndim != 1 or values.size < 2:
            raise ValueError("a grid signal needs at least two values")
        self.t0 = float(t0)
        self.dt = float(dt)
        self.values = np.asarray(values, dtype=np.float64)

    @property
    def times(self) -> FloatArray:
        return self.t0 + self.dt * np.arange(self.values.size, dtype=np.float64)

    def __call__(self, t: FloatArray) -> FloatArray:
        pos = np.clip((_t(t) - self.t0) / self.dt, 0.0, self.values.size - 1.000001)
        i = pos.astype(np.int64)
        frac = pos - i
        out: FloatArray = self.values[i] * (1.0 - frac) + self.values[i + 1] * frac
        return out


def random_walk(rng: np.random.Generator, t0: float, t1: float, sigma: float, tau_s: float,
                dt: float = 1.0) -> GridSignal:
    """An Ornstein–Uhlenbeck process (stationary s.d. ``sigma``, correlation time ``tau_s``)."""
    n = math.ceil((t1 - t0) / dt) + 2
    a = math.exp(-dt / tau_s)
    kicks = rng.normal(0.0, sigma * math.sqrt(1.0 - a * a), n)
    x0 = rng.normal(0.0, sigma)
    return GridSignal(t0, dt, iir1(1.0, a, kicks, a * x0))


def first_order(signal_values: FloatArray, dt: float, tau_s: float) -> FloatArray:
    """A first-order lag ``τ·dy/dt = x − y`` over samples at ``dt`` (starts settled at x[0])."""
    a = math.exp(-dt / tau_s)
    return iir1(1.0 - a, a, signal_values, a * float(signal_values[0]))


def iir1(b: float, a: float, x: FloatArray, z: float) -> FloatArray:
    """``y[n] = b·x[n] + a·y[n−1]`` with ``a·y[−1] = z``: ``scipy.signal.lfilter([b], [1, −a],
    x, zi=[z])``, written out because importing ``scipy.signal`` (it pulls in scipy.stats and
    scipy.optimize) costs the daemon ~50 MiB of RSS when it runs the simulator in-process.
    """
    out = np.empty(len(x), dtype=np.float64)
    for i, v in enumerate(np.asarray(x, dtype=np.float64).tolist()):
        y = b * v + z
        out[i] = y
        z = a * y
    return out


def thermostat(t0: float, t1: float, period_s: float, duty: float, tau_s: float,
               phase: float, dt: float = 1.0) -> GridSignal:
    """A heater's on/off cycle seen through its thermal lag: 0 (off, cold) … 1 (on, hot)."""
    times = np.arange(t0, t1 + 2 * dt, dt)
    on = ((times / period_s + phase) % 1.0) < duty
    return GridSignal(t0, dt, first_order(on.astype(np.float64), dt, tau_s))
