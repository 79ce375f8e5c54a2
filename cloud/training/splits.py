"""Leak-free splits: whole recordings (groups) go to train, validation or test — never rows.

Groups are stratified by engine and family, so every family with enough recordings appears on
every side (fire-science.md §7), and the validation side (where the threshold is chosen)
holds runs of every engine in the corpus: the scene engine's and CFAST's (``engine_of``).
The held-out-families report trains without one family and tests on it
(``family_holdouts``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cloud.training.data import Dataset

log = logging.getLogger(__name__)

#: CFAST scenario names start with this (edge.sim.cfast.families).
CFAST_PREFIX = "cfast_"


@dataclass(frozen=True)
class GroupSplit:
    """Group indices on each side of a split."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]
    #: Runs that only choose the alarm threshold and the flame bar (``--select-runs``).
    select: tuple[int, ...] = ()


def split_groups(strata: Sequence[str], *, val_fraction: float = 0.15,
                 test_fraction: float = 0.15, seed: int = 42) -> GroupSplit:
    """Split group indices ``0..len(strata)-1`` within each stratum.

    A stratum of n ≥ 3 groups gives at least one group to validation and to test; with
    n = 2, one to train and one to test; a single group trains.

    :raises ValueError: for fractions outside (0, 1) or summing to 1 or more.
    """
    if not (0 < val_fraction < 1 and 0 < test_fraction < 1 and val_fraction + test_fraction < 1):
        raise ValueError(f"validation {val_fraction}, test {test_fraction}; allowed: each in "
                         f"(0, 1), together below 1")
    rng = np.random.default_rng(seed)
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for stratum in sorted(set(strata)):
        ids = [i for i, s in enumerate(strata) if s == stratum]
        ids = [ids[j] for j in rng.permutation(len(ids))]
        n = len(ids)
        if n >= 3:
            n_test = max(1, round(n * test_fraction))
            n_val = max(1, round(n * val_fraction))
            if n_test + n_val >= n:
                n_test, n_val = 1, 1
        else:
            n_test, n_val = (1 if n == 2 else 0), 0
        test += ids[:n_test]
        val += ids[n_test:n_test + n_val]
        train += ids[n_test + n_val:]
    return GroupSplit(tuple(sorted(train)), tuple(sorted(val)), tuple(sorted(test)))


def recording_split(ds: Dataset, seed: int) -> GroupSplit:
    """The training split of ``ds`` by recording: stratified by engine and family
    (``strata``), with fire and no-fire validation runs of every engine
    (``ensure_engines_validated``). ``cloud/train.py`` and the cross-engine models use it."""
    has_fire = ds.has_fire()
    engines = [engine_of(g.name, g.family, g.kind) for g in ds.groups]
    split = split_groups(strata(ds.families, has_fire, engines=engines), seed=seed)
    return ensure_engines_validated(split, engines, has_fire, seed=seed)


def engine_of(name: str, family: str, kind: str = "recording") -> str:
    """The physics engine of a group: ``cfast`` for a CFAST run (``sim:cfast:<family>:<seed>``
    as the training corpus names it, ``sim:cfast_*:<seed>``, or a recording of family
    ``cfast_*``), ``json`` for the seed's sample files, ``fleet`` for a device's clip
    (cloud.training.fleet), else ``scene`` (the scene engine, and recordings of other
    families)."""
    if kind in ("json", "fleet"):
        return kind
    scenario = name.split(":")[1] if name.startswith("sim:") and name.count(":") >= 2 else ""
    if (scenario == "cfast" or scenario.startswith(CFAST_PREFIX)
            or family.startswith(CFAST_PREFIX)):
        return "cfast"
    return "scene"


def ensure_engines_validated(split: GroupSplit, engines: Sequence[str],
                             has_fire: Sequence[bool], *, seed: int = 42) -> GroupSplit:
    """Move training groups to validation until, for every engine, validation holds a no-fire
    and a fire run of it where the engine has them to spare — never taking an engine's last
    training group. An engine that cannot be validated is logged."""
    rng = np.random.default_rng(seed + 1)
    train, val = list(split.train), list(split.val)
    for engine in sorted(set(engines) - {"json", "fleet"}):  # JSON: no runs; fleet: by device
        for fire in (False, True):  # no-fire first: the threshold is chosen on those
            if any(engines[g] == engine and has_fire[g] == fire for g in val):
                continue
            cands = [g for g in train if engines[g] == engine and has_fire[g] == fire]
            left = sum(engines[g] == engine for g in train)
            if cands and left >= 2:
                g = cands[int(rng.integers(len(cands)))]
                train.remove(g)
                val.append(g)
        if not any(engines[g] == engine for g in val):
            log.warning("no %s run in validation: too few %s runs (the threshold is not "
                        "checked on that engine)", engine, engine)
    return GroupSplit(tuple(sorted(train)), tuple(sorted(val)), split.test)


def family_holdouts(families: Sequence[str], split: GroupSplit
                    ) -> Iterator[tuple[str, GroupSplit]]:
    """For each family: train and validate on the other families' train/val groups, test on
    every group of the family (train, val and test alike)."""
    for fam in sorted(set(families)):
        others_train = tuple(g for g in split.train if families[g] != fam)
        others_val = tuple(g for g in split.val if families[g] != fam)
        held = tuple(g for g, f in enumerate(families) if f == fam)
        yield fam, GroupSplit(others_train, others_val, held)


def strata(families: Sequence[str], has_fire: Sequence[bool], min_per_family: int = 3,
           engines: Sequence[str] | None = None) -> list[str]:
    """Stratum per group: its family when the family has at least ``min_per_family`` groups,
    else just fire / no-fire (so small data still splits); prefixed ``<engine>/`` when the
    groups come from more than one engine (``engines``, as ``engine_of``; JSON sample files
    are no engine)."""
    counts = {f: families.count(f) for f in set(families)}
    out = [f if counts[f] >= min_per_family else ("fire" if fire else "no-fire")
           for f, fire in zip(families, has_fire, strict=True)]
    if engines is not None and len(set(engines) - {"json", "fleet"}) > 1:
        out = [f"{e}/{s}" for e, s in zip(engines, out, strict=True)]
    return out


def split_devices(split: GroupSplit, devices: Sequence[str | None], has_fire: Sequence[bool],
                  *, seed: int = 42) -> GroupSplit:
    """The same split with the groups that have a device (fleet clips) placed by device: all
    clips of one device go to one side, devices stratified by whether any clip holds fire;
    groups without a device stay where they are."""
    fleet = [g for g, d in enumerate(devices) if d is not None]
    if not fleet:
        return split
    names = sorted({d for d in devices if d is not None})
    fire = [any(has_fire[g] for g in fleet if devices[g] == d) for d in names]
    by_device = split_groups(["fire" if f else "no-fire" for f in fire], seed=seed + 2)
    side = {names[i]: k for k, ids in (("train", by_device.train), ("val", by_device.val),
                                       ("test", by_device.test)) for i in ids}
    out: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for k, ids in (("train", split.train), ("val", split.val), ("test", split.test)):
        out[k] += [g for g in ids if devices[g] is None]
    for g in fleet:
        out[side[str(devices[g])]].append(g)
    return GroupSplit(*(tuple(sorted(out[k])) for k in ("train", "val", "test")))
