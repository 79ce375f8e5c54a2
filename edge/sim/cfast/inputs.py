"""Write a CFAST input file for one room with one fire (CFAST User's Guide, NIST TN 1889v2).

The file is a sequence of Fortran namelists: ``&HEAD`` (format version), ``&TIME``
(simulated and output interval), ``&INIT`` (ambient), ``&MATL`` (the lining), ``&COMP``
(the room, with leakage as area ratios of walls and floor), ``&VENT`` (a door, open or a
closed door's gaps; mechanical ventilation for the air changes), ``&FIRE``/``&CHEM``/
``&TABL`` (where it burns, what, and the HRR table with its yields), ``&DEVC`` (a ceiling
smoke detector, a ceiling heat detector and a target at the SCD41), ``&TAIL``.

Devices are named ``SD`` (smoke), ``HD`` (heat) and ``SCD41`` (the target); ``run.py``
reads them back by those names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge.sim.cfast.hrr import Fuel, HrrCurve

CFAST_INPUT_VERSION = 7700
ROOM_ID = "ROOM"
FIRE_ID = "FIRE"
SMOKE_ID = "SD"
HEAT_ID = "HD"
SENSOR_ID = "SCD41"
# The defaults of CFAST's user interface: a photoelectric-like smoke detector alarms at
# 23.93 %/m obscuration (UL 217 ionisation threshold); a 57 °C fixed-temperature heat
# detector with RTI 5 (m·s)^½.
SMOKE_OBSCURATION_PCT_M = 23.93
HEAT_SETPOINT_C = 57.22
HEAT_RTI = 5.0


@dataclass(frozen=True)
class Room:
    """A rectangular room: ``width`` (x) × ``depth`` (y) × ``height`` (z), metres.

    ``door_open``: a doorway ``door_width`` × ``door_height`` to outside in the front wall;
    when closed, only a closed door's gaps (``door_gap_m`` under it). ``leak_wall``/
    ``leak_floor``: leakage area as a fraction of wall and floor area. ``ach``: mechanical
    air changes per hour (0 for none).
    """

    width: float
    depth: float
    height: float
    door_open: bool
    door_width: float = 0.9
    door_height: float = 2.0
    door_gap_m: float = 0.01
    leak_wall: float = 3.5e-4
    leak_floor: float = 5.2e-5
    ach: float = 0.0
    temperature_c: float = 20.0
    rh_pct: float = 50.0

    @property
    def volume_m3(self) -> float:
        return self.width * self.depth * self.height


@dataclass(frozen=True)
class ExtraFire:
    """A further fire object in the room (a nuisance running beside the fire): its own
    curve (CFAST's time 0 is the run's), fuel, floor position and burning height. CFAST
    names it ``fire_id``; the case's own fire comes first in the input and in the output."""

    fire_id: str
    curve: HrrCurve
    fuel: Fuel
    xy: tuple[float, float]
    z: float


@dataclass(frozen=True)
class CfastCase:
    """One CFAST run: the room, one fire, and where the devices are.

    ``fire_xy``: the fire's position on the floor; ``fire_z``: the burning surface's height
    (a chair seat, a hob). The curve's time 0 is the ignition, which is CFAST's time 0.
    ``sensor_xyz``: the SCD41; detectors sit on the ceiling at ``detector_xy``.
    """

    room: Room
    curve: HrrCurve
    fuel: Fuel
    fire_xy: tuple[float, float]
    fire_z: float
    sensor_xyz: tuple[float, float, float]
    detector_xy: tuple[float, float]
    simulation_s: int
    output_s: int = 1
    title: str = "firedetect"
    extra_fires: tuple[ExtraFire, ...] = ()


def _num(x: float) -> str:
    """A number as CFAST reads it (plain decimal or E notation, no trailing noise)."""
    if x == 0:
        return "0"
    return f"{x:.6g}"


def _check(case: CfastCase) -> None:
    r = case.room
    bad = [(name, v) for name, v in (("room width", r.width), ("room depth", r.depth),
                                     ("room height", r.height), ("door width", r.door_width),
                                     ("door height", r.door_height))
           if not (math.isfinite(v) and v > 0)]
    if bad:
        raise ValueError(f"CFAST room: {bad[0][0]} must be a positive number of metres, got "
                         f"{bad[0][1]}")
    if r.door_height > r.height or r.door_width > r.width:
        raise ValueError(f"CFAST room: the door ({r.door_width} × {r.door_height} m) must fit "
                         f"in the front wall ({r.width} × {r.height} m)")
    places = [("fire", case.fire_xy), ("detector", case.detector_xy),
              ("sensor", case.sensor_xyz[:2])]
    places += [(f"fire {x.fire_id!r}", x.xy) for x in case.extra_fires]
    ids = [FIRE_ID] + [x.fire_id for x in case.extra_fires]
    if len(set(ids)) != len(ids):
        raise ValueError(f"CFAST case: fire ids must differ, got {ids}")
    for name, (x, y) in places:
        if not (0 <= x <= r.width and 0 <= y <= r.depth):
            raise ValueError(f"CFAST room: the {name} position ({x}, {y}) is outside the "
                             f"{r.width} × {r.depth} m floor")
    if not 0 <= case.sensor_xyz[2] <= r.height:
        raise ValueError(f"CFAST room: sensor height {case.sensor_xyz[2]} m is outside the "
                         f"room (0–{r.height} m)")
    if case.simulation_s <= 0 or case.output_s <= 0:
        raise ValueError(f"CFAST case: simulation and output times must be positive, got "
                         f"{case.simulation_s} and {case.output_s}")


def write_input(case: CfastCase) -> str:
    """The CFAST input file for ``case``, as text.

    :raises ValueError: a dimension or position that does not fit the room.
    """
    _check(case)
    r, f = case.room, case.fuel
    lines = [
        f"&HEAD VERSION = {CFAST_INPUT_VERSION}, TITLE = '{case.title}' /",
        f"&TIME SIMULATION = {case.simulation_s} PRINT = 0 SMOKEVIEW = 0 "
        f"SPREADSHEET = {case.output_s} /",
        f"&INIT PRESSURE = 101325 RELATIVE_HUMIDITY = {_num(r.rh_pct)} "
        f"INTERIOR_TEMPERATURE = {_num(r.temperature_c)} "
        f"EXTERIOR_TEMPERATURE = {_num(r.temperature_c)} /",
        "&MATL ID = 'GYPSUM' MATERIAL = 'Gypsum board (1/2 in)', CONDUCTIVITY = 0.48 "
        "DENSITY = 1440 SPECIFIC_HEAT = 0.84, THICKNESS = 0.0127 EMISSIVITY = 0.9 /",
        "&MATL ID = 'CONCRETE' MATERIAL = 'Concrete', CONDUCTIVITY = 1.75 DENSITY = 2200 "
        "SPECIFIC_HEAT = 1, THICKNESS = 0.15 EMISSIVITY = 0.94 /",
        f"&COMP ID = '{ROOM_ID}' WIDTH = {_num(r.width)} DEPTH = {_num(r.depth)} "
        f"HEIGHT = {_num(r.height)} CEILING_MATL_ID = 'GYPSUM' WALL_MATL_ID = 'GYPSUM' "
        f"FLOOR_MATL_ID = 'CONCRETE' ORIGIN = 0, 0, 0 GRID = 50, 50, 50 "
        f"LEAK_AREA_RATIO = {_num(r.leak_wall)}, {_num(r.leak_floor)} /",
    ]
    door_top = r.door_height if r.door_open else r.door_gap_m
    offset = max(0.0, (r.width - r.door_width) / 2.0)
    lines.append(f"&VENT TYPE = 'WALL' ID = 'DOOR' COMP_IDS = '{ROOM_ID}' 'OUTSIDE' "
                 f"TOP = {_num(door_top)}, BOTTOM = 0, WIDTH = {_num(r.door_width)} "
                 f"FACE = 'FRONT' OFFSET = {_num(offset)} /")
    if r.ach > 0:
        flow = r.ach * r.volume_m3 / 3600.0
        z = _num(r.height - 0.2)
        lines.append(f"&VENT TYPE = 'MECHANICAL' ID = 'HVAC' COMP_IDS = '{ROOM_ID}' "
                     f"'OUTSIDE' AREAS = 0.04, 0.04 HEIGHTS = {z}, {z} FLOW = {_num(flow)} "
                     f"CUTOFFS = 200, 300 OFFSETS = {_num(r.width / 2)}, 0 "
                     f"ORIENTATIONS = 'VERTICAL' 'VERTICAL' /")
    lines += _fire_lines(FIRE_ID, case.curve, f, case.fire_xy, case.fire_z)
    for extra in case.extra_fires:
        lines += _fire_lines(extra.fire_id, extra.curve, extra.fuel, extra.xy, extra.z)
    dx, dy = case.detector_xy
    ceiling = _num(r.height - 0.02)
    sx, sy, sz = case.sensor_xyz
    lines += [
        f"&DEVC ID = '{SMOKE_ID}' COMP_ID = '{ROOM_ID}' LOCATION = {_num(dx)}, {_num(dy)}, "
        f"{ceiling} TYPE = 'SMOKE_DETECTOR' SETPOINT = {SMOKE_OBSCURATION_PCT_M} /",
        f"&DEVC ID = '{HEAT_ID}' COMP_ID = '{ROOM_ID}' LOCATION = {_num(dx)}, {_num(dy)}, "
        f"{ceiling} TYPE = 'HEAT_DETECTOR' SETPOINT = {HEAT_SETPOINT_C} RTI = {HEAT_RTI} /",
        f"&DEVC ID = '{SENSOR_ID}' COMP_ID = '{ROOM_ID}' LOCATION = {_num(sx)}, {_num(sy)}, "
        f"{_num(sz)} TYPE = 'PLATE' MATL_ID = 'GYPSUM' NORMAL = 0, 0, -1 "
        f"TEMPERATURE_DEPTH = 0.5 /",
        "&TAIL /",
    ]
    return "\n".join(lines) + "\n"


def _fire_lines(fire_id: str, curve: HrrCurve, f: Fuel, xy: tuple[float, float],
                z: float) -> list[str]:
    """The ``&FIRE``, ``&CHEM`` and ``&TABL`` namelists of one fire object."""
    lines = [f"&FIRE ID = '{fire_id}' COMP_ID = '{ROOM_ID}', FIRE_ID = '{fire_id}_F' "
             f"LOCATION = {_num(xy[0])}, {_num(xy[1])} /",
             f"&CHEM ID = '{fire_id}_F' CARBON = {_num(f.carbon)} CHLORINE = 0 "
             f"HYDROGEN = {_num(f.hydrogen)} NITROGEN = {_num(f.nitrogen)} "
             f"OXYGEN = {_num(f.oxygen)} HEAT_OF_COMBUSTION = "
             f"{_num(f.heat_of_combustion_kj_kg)} RADIATIVE_FRACTION = "
             f"{_num(f.radiative_fraction)} /",
             f"&TABL ID = '{fire_id}_F' LABELS = 'TIME', 'HRR', 'HEIGHT', 'AREA', "
             f"'CO_YIELD', 'SOOT_YIELD', 'HCN_YIELD', 'HCL_YIELD', 'TRACE_YIELD' /"]
    for t, q in zip(curve.t_s, curve.hrr_kw, strict=True):
        area = min(max(q / f.hrr_per_area_kw_m2, 1e-4), f.max_area_m2)
        lines.append(f"&TABL ID = '{fire_id}_F', DATA = {_num(t)}, {_num(q)}, "
                     f"{_num(z)}, {_num(area)}, {_num(f.co_yield)}, "
                     f"{_num(f.soot_yield)}, 0, 0, 0 /")
    return lines
