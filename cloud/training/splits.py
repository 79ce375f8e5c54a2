"""Leak-free splits: whole recordings (groups) go to train, validation or test — never rows.

Groups are stratified by family, so every family with enough recordings appears on every
side (fire-science.md §7). The held-out-families report trains without one family and tests
on it (``family_holdouts``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupSplit:
    """Group indices on each side of a split."""

    train: tuple[int, ...]
    val: tuple[int, ...]
    test: tuple[int, ...]


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


def family_holdouts(families: Sequence[str], split: GroupSplit
                    ) -> Iterator[tuple[str, GroupSplit]]:
    """For each family: train and validate on the other families' train/val groups, test on
    every group of the family (train, val and test alike)."""
    for fam in sorted(set(families)):
        others_train = tuple(g for g in split.train if families[g] != fam)
        others_val = tuple(g for g in split.val if families[g] != fam)
        held = tuple(g for g, f in enumerate(families) if f == fam)
        yield fam, GroupSplit(others_train, others_val, held)


def strata(families: Sequence[str], has_fire: Sequence[bool], min_per_family: int = 3
           ) -> list[str]:
    """Stratum per group: its family when the family has at least ``min_per_family`` groups,
    else just fire / no-fire (so small data still splits)."""
    counts = {f: families.count(f) for f in set(families)}
    return [f if counts[f] >= min_per_family else ("fire" if fire else "no-fire")
            for f, fire in zip(families, has_fire, strict=True)]
