"""The thermal features' sums (exact where integers allow), and BLAS held to one thread."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from edge.featuresets.thermal import _mean_std, frame_thermal_features

RES = 0.01  # K per raw count (TLinear high gain)


def exact_std_k(raw: np.ndarray) -> float:
    """Population standard deviation of the raw counts in K, from Python's exact integers."""
    vals = [int(v) for v in raw.flat]
    n = len(vals)
    s1, s2 = sum(vals), sum(v * v for v in vals)
    return math.sqrt(Fraction(n * s2 - s1 * s1, n * n)) * RES


def test_frame_std_is_the_exact_integer_one() -> None:
    """``t_std`` equals the standard deviation from exact integer sums, on frames up to the
    full 16-bit range (the sum of squares is exact in any order below 2⁵³)."""
    rng = np.random.default_rng(5)
    for lo, hi in ((0, 65536), (29000, 29050), (60000, 65536)):
        for _ in range(20):
            raw = rng.integers(lo, hi, (120, 160)).astype(np.uint16)
            out = frame_thermal_features(raw, raw.astype(np.float32), None, 0.0, RES,
                                         100.0, 0.5, 0.5)
            assert out[1] == exact_std_k(raw)


def test_mean_std_matches_an_exactly_rounded_reference() -> None:
    """The gradient and change statistics' mean and standard deviation agree with
    ``math.fsum`` (exactly rounded sums) to 1e-12."""
    rng = np.random.default_rng(6)
    for _ in range(50):
        x = (rng.random((120, 160)) * rng.uniform(1, 5000)).astype(np.float32)
        mean, std = _mean_std(x)
        flat = [float(v) for v in x.flat]
        ref_mean = math.fsum(flat) / len(flat)
        ref_std = math.sqrt(math.fsum((v - ref_mean) ** 2 for v in flat) / len(flat))
        assert math.isclose(mean, ref_mean, rel_tol=1e-12)
        assert math.isclose(std, ref_std, rel_tol=1e-12)


def test_cli_holds_blas_to_one_thread() -> None:
    """``firedetect`` limits BLAS to one thread before any command runs (a dot product over a
    frame would otherwise wake a second thread every frame)."""
    root = Path(__file__).resolve().parents[1]
    probe = (
        f"import sys; sys.path.insert(0, {str(root)!r})\n"
        "import edge.cli as cli\n"
        "cli.build_parser()\n"
        "from threadpoolctl import threadpool_info\n"
        "before = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "assert cli.limit_blas_threads()\n"
        "after = [i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas']\n"
        "print(before, after)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env={"OPENBLAS_NUM_THREADS": "2", "PATH": "/usr/bin"})
    before, after = out.stdout.strip().split("] [")
    assert after.rstrip("]") and set(after.rstrip("]").split(", ")) == {"1"}
    assert before.lstrip("[") != ""


def test_every_command_runs_with_blas_limited(monkeypatch: pytest.MonkeyPatch) -> None:
    """``main`` limits BLAS before it runs the command (here ``validate-config``)."""
    import edge.cli as cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "limit_blas_threads", lambda: calls.append("limit") or True)
    root = Path(__file__).resolve().parents[1]
    assert cli.main(["validate-config", str(root / "demo" / "config.toml")]) == 0
    assert calls == ["limit"]


def _blas_threads(_job: object) -> str:
    from threadpoolctl import threadpool_info

    return ",".join(str(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")


def _blas_threads_part(job: object) -> tuple[str]:
    return (_blas_threads(job),)  # not a str: simulate() takes a str for a failed run


def _blas_threads_result(job: object) -> dict[str, str]:
    return {"blas": _blas_threads(job)}


def test_training_workers_hold_blas_to_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The training corpus's worker processes (and the caller, while it simulates on its own)
    compute features with one BLAS thread: two workers each waking a second BLAS thread per
    frame on two cores made a corpus build 4× slower (3 ms instead of 0.1 ms a frame)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import cloud.training.simulated as simulated

    if not [i for i in threadpool_info() if i["user_api"] == "blas"]:
        pytest.skip("numpy has no BLAS library threadpoolctl can see")
    seen: list[str] = []
    monkeypatch.setattr(simulated, "_job_or_reason", _blas_threads_part)
    monkeypatch.setattr(simulated.Dataset, "concat", staticmethod(lambda parts: parts))
    with threadpool_limits(2, user_api="blas"):
        for workers in (2, 1):
            out = simulated.simulate([object(), object()], workers=workers,  # type: ignore[list-item]
                                     progress=False)
            seen += [o[0] for o in out]
        after = _blas_threads(None)
    assert seen and all(set(s.split(",")) == {"1"} for s in seen), seen
    assert set(after.split(",")) == {"2"}  # the caller's own limit is back afterwards


def test_heldout_workers_hold_blas_to_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """The held-out suite's replay workers (and the caller with one worker) run with one BLAS
    thread, as ``firedetect replay`` does."""
    from threadpoolctl import threadpool_info, threadpool_limits

    import cloud.heldout.suite as suite

    if not [i for i in threadpool_info() if i["user_api"] == "blas"]:
        pytest.skip("numpy has no BLAS library threadpoolctl can see")
    monkeypatch.setattr(suite, "evaluate_run", _blas_threads_result)
    seen: list[str] = []
    with threadpool_limits(2, user_api="blas"):
        for workers in (2, 1):
            seen += [r["blas"] for r in suite.run_all([object(), object()],  # type: ignore[list-item]
                                                       workers, progress=False)]
    assert seen and all(set(s.split(",")) == {"1"} for s in seen), seen
