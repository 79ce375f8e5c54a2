"""How fast one frame is scored on the device, against the original serving path.

1. **firedetect**: ``FeatureExtractor.add_frame`` on a 160×120 frame, then
   ``ModelHolder.score`` of the vector with a signed artifact loaded through ``load_model``
   (ONNX members, onnxruntime with 1 thread). Target: median ≤ 1 ms per frame.
2. **seed path** (the original serve script): scikit-learn ``predict_proba`` on ONE sample per
   member, RF with ``n_jobs=-1``, summed with the weights. Target: firedetect ≥ 30× faster.
3. For information: ONNX scoring alone (the fused ``ensemble.onnx`` and one session per
   member) and the joblib fallback (scikit-learn, ``n_jobs=1``).

All models have the seed's hyper-parameters (RF 200 trees max_depth 10, GB 200 stages
max_depth 6, LR) and are trained here on the same synthetic rows; the firedetect members are
the same estimators inside Pipelines with a ``SimpleImputer`` (and a scaler for LR). Memory:
the RSS growth of loading the artifact in a fresh process (onnxruntime allocates outside
Python's heap, so tracemalloc alone would under-count), plus tracemalloc's Python-side peak.

Run: .venv/bin/python bench/bench_inference.py [--rows N] [--frames N] [--seed-frames N]

``--compare ROWS`` instead trains the firedetect ensemble with its previous defaults (exact
``GradientBoostingClassifier``, RF 20 % bootstrap) and its current ones (HistGB, RF 5 %
bootstrap) on the same ROWS rows of bench/bench_train.py, writes both artifacts and measures,
side by side: the fused score alone per frame (the two models alternating on the same
vectors), load time, artifact size and the RSS growth of loading each in a fresh process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's cloud/, edge/

from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cloud.artifact.signing import public_key_pem
from cloud.artifact.write import write_artifact
from edge.features import FEATURE_NAMES, FeatureExtractor, FeatureParams
from edge.model.holder import load_model
from edge.types import GasReading, ThermalFrame

ROOT = Path(__file__).resolve().parents[1]
N = len(FEATURE_NAMES)
WEIGHTS = {"rf": 0.4902, "gb": 0.4854, "lr": 0.0244}  # the seed's reported weights
H, W = 120, 160


_MEASURE_RSS = """
import gc, sys
from pathlib import Path
import onnxruntime  # imported before the first reading: libraries are not the model
from cryptography.hazmat.primitives import serialization
from edge.model.holder import load_model

def rss():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

key = serialization.load_pem_public_key(Path(sys.argv[2]).read_bytes())
gc.collect()
before = rss()
model = load_model(Path(sys.argv[1]), public_key=key)
gc.collect()
print(rss() - before, model.backend)
"""


def model_rss_kib(tarball: Path, public_pem: Path) -> str:
    """RSS growth of loading the model in a fresh process (no recycled heap), KiB."""
    out = subprocess.run([sys.executable, "-c", _MEASURE_RSS, str(tarball), str(public_pem)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.strip()


def training_rows(n: int, seed: int = 0) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int_]]:
    """Synthetic rows: fires have a hot spot, hot area and a CO2 rise; 10 % labels flipped."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    X = rng.normal(0.0, 1.0, (n, N)) * (1 + y[:, None])
    X[:, 0] += 22 + 5 * y
    X[:, 2] = X[:, 0] + rng.gamma(2, 5, n) + y * rng.uniform(50, 500, n)
    X[:, 4] = y * rng.gamma(1.5, 0.5, n)
    X[:, 15] = rng.normal(700, 200, n) + y * rng.uniform(0, 3000, n)
    X[:, 17] = rng.normal(5, 15, n) + y * rng.uniform(0, 900, n)
    flip = rng.random(n) < 0.1  # label noise, so the trees grow to full size as in the seed
    y[flip] = 1 - y[flip]
    return X.astype(np.float32).astype(np.float64), y


def fit(X: npt.NDArray[np.float64], y: npt.NDArray[np.int_]) -> tuple[dict[str, Any], ...]:
    rf = RandomForestClassifier(200, max_depth=10, random_state=42, n_jobs=-1).fit(X, y)
    gb = GradientBoostingClassifier(n_estimators=200, max_depth=6, learning_rate=0.1,
                                    random_state=42).fit(X, y)
    lr = LogisticRegression(max_iter=1000, random_state=42).fit(X, y)
    seed = {"rf": rf, "gb": gb, "lr": lr}
    ours = {
        "rf": Pipeline([("impute", SimpleImputer(strategy="median")), ("clf", rf)]),
        "gb": Pipeline([("impute", SimpleImputer(strategy="median")), ("clf", gb)]),
        "lr": Pipeline([("impute", SimpleImputer(strategy="median")),
                        ("scale", StandardScaler()), ("clf", lr)]),
    }
    # The pipelines wrap the already-fitted estimators; fit only the imputer/scaler steps.
    for p in ours.values():
        for _, step in p.steps[:-1]:
            step.fit(X)
    ours["lr"].steps[-1] = ("clf", LogisticRegression(max_iter=1000, random_state=42).fit(
        ours["lr"][:-1].transform(X), y))
    return seed, ours


def frames(n: int, seed: int = 1) -> list[ThermalFrame]:
    """A 22 °C room with a growing hot spot, 8.7 Hz."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    out = []
    for i in range(n):
        t = i / 8.7
        temp = 22.0 + rng.normal(0.0, 0.08, (H, W)).astype(np.float32)
        temp += (80.0 + 0.5 * i % 300) * np.exp(-((xx - 80) ** 2 + (yy - 60) ** 2) / 20.0)
        px = np.rint((temp + 273.15) / 0.01).astype(np.uint16)
        out.append(ThermalFrame(t=t, pixels=px, frame_id=i))
    return out


def stats_ms(samples: list[float]) -> str:
    ms = sorted(s * 1000.0 for s in samples)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))]
    return f"median {statistics.median(ms):.3f} ms, p99 {p99:.3f} ms (n={len(ms)})"


def feature_vectors(n: int) -> list[npt.NDArray[np.float64]]:
    """The feature vectors of ``n`` frames of the growing hot spot (after 50 warm-up)."""
    ex = FeatureExtractor()
    ex.add_gas(GasReading(t=0.0, co2_ppm=450.0, temperature_c=22.0, humidity_pct=40.0))
    out = []
    for i, f in enumerate(frames(n + 50)):
        if i % 43 == 0:
            ex.add_gas(GasReading(t=f.t, co2_ppm=450.0 + f.t, temperature_c=22.0,
                                  humidity_pct=40.0))
        v = ex.add_frame(f)
        if i >= 50:
            out.append(v)
    return out


def compare(rows: int, n_frames: int) -> None:
    """Previous (exact GB) vs current (HistGB) defaults: per-frame score, load, size, RSS."""
    from bench.bench_train import feature_rows, fit_firedetect

    X, y = feature_rows(rows, 42)
    Xv, yv = feature_rows(20_000, 43)
    vectors = feature_vectors(n_frames)
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        key = Ed25519PrivateKey.generate()
        pub = Path(tmp) / "pub.pem"
        pub.write_bytes(public_key_pem(key))
        for config in ("previous", "current"):
            t0 = time.perf_counter()
            ens = fit_firedetect(config, X, y, Xv, yv, 42)
            fit_s = time.perf_counter() - t0
            info = write_artifact(
                Path(tmp) / config, pipelines=ens.pipelines, weights=ens.weights,
                threshold=ens.threshold, feature_params=FeatureParams().as_dict(), metrics={},
                training_data={"id": "bench"}, golden_inputs=Xv[:16], X_check=Xv[:500],
                private_key=key, version=config,
            )
            size = sum(p.stat().st_size for p in info.path.rglob("*") if p.is_file())
            kib, backend = model_rss_kib(info.tarball, pub).split()
            t0 = time.perf_counter()
            models[config] = load_model(info.tarball, public_key=key.public_key(),
                                        backend="onnx")
            load_s = time.perf_counter() - t0
            est = {n: e.get("estimator") for n, e in info.manifest["members"].items()}
            print(f"{config}: fit {fit_s:.1f} s; {est}; ROC-AUC "
                  f"{ {n: round(v, 4) for n, v in ens.validation_scores.items()} }; artifact "
                  f"{size / 1e6:.1f} MB unpacked, {info.tarball.stat().st_size / 1e6:.1f} MB "
                  f"tar.gz; load_model {load_s * 1000:.0f} ms; RSS +{int(kib) / 1024:.1f} MiB "
                  f"in a fresh process ({backend})", flush=True)
    times: dict[str, list[float]] = {c: [] for c in models}
    for v in vectors:  # alternating on the same vectors
        for config, model in models.items():
            t0 = time.perf_counter()
            model.score(v)
            times[config].append(time.perf_counter() - t0)
    for config, samples in times.items():
        print(f"score alone, fused graph, {config:8s}: {stats_ms(samples)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=10000, help="training rows")
    ap.add_argument("--frames", type=int, default=1000, help="frames for firedetect")
    ap.add_argument("--seed-frames", type=int, default=200, help="frames for the seed path")
    ap.add_argument("--compare", type=int, metavar="ROWS", default=0,
                    help="previous vs current defaults trained on ROWS rows (see above)")
    args = ap.parse_args()
    if args.compare:
        compare(args.compare, args.frames)
        return

    X, y = training_rows(args.rows)
    t0 = time.perf_counter()
    seed_models, pipelines = fit(X, y)
    print(f"trained RF200/d10 + GB200/d6 + LR on {args.rows} rows in "
          f"{time.perf_counter() - t0:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        key = Ed25519PrivateKey.generate()
        info = write_artifact(
            Path(tmp), pipelines=pipelines, weights=WEIGHTS, threshold=0.5,
            feature_params=FeatureParams().as_dict(), metrics={}, training_data={"id": "bench"},
            golden_inputs=X[:16], X_check=X[:500], private_key=key, version="bench",
        )
        size = sum(p.stat().st_size for p in info.path.rglob("*") if p.is_file())
        print(f"artifact: {size / 1e6:.1f} MB unpacked, {info.tarball.stat().st_size / 1e6:.1f} "
              "MB tar.gz")
        pub = Path(tmp) / "pub.pem"
        pub.write_bytes(public_key_pem(key))
        child = model_rss_kib(info.tarball, pub)
        tracemalloc.start()
        t0 = time.perf_counter()
        model = load_model(info.tarball, public_key=key.public_key(), backend="onnx")
        assert model.backend == "onnx-fused"
        load_s = time.perf_counter() - t0
        _, py_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        fallback = load_model(info.path, public_key=key.public_key(), backend="joblib")
        per_member = load_model(info.path, public_key=key.public_key(), backend="onnx-members")
    kib, backend = child.split()
    print(f"load_model (verify + ONNX session + self-test): {load_s * 1000:.0f} ms; "
          f"RSS +{int(kib) / 1024:.1f} MiB in a fresh process ({backend}), Python heap peak "
          f"{py_peak / 2**20:.1f} MiB")

    fr = frames(args.frames + 50)
    ex = FeatureExtractor()
    ex.add_gas(GasReading(t=0.0, co2_ppm=450.0, temperature_c=22.0, humidity_pct=40.0))
    vectors = []
    feat_t, score_t, total_t = [], [], []
    for i, f in enumerate(fr):
        if i % 43 == 0:
            ex.add_gas(GasReading(t=f.t, co2_ppm=450.0 + f.t, temperature_c=22.0,
                                  humidity_pct=40.0))
        t0 = time.perf_counter()
        v = ex.add_frame(f)
        t1 = time.perf_counter()
        model.score(v)
        t2 = time.perf_counter()
        if i >= 50:
            feat_t.append(t1 - t0)
            score_t.append(t2 - t1)
            total_t.append(t2 - t0)
            vectors.append(v)
    print(f"features (add_frame):        {stats_ms(feat_t)}")
    print(f"score after each frame:      {stats_ms(score_t)}")
    print(f"firedetect features + score: {stats_ms(total_t)}")

    fused_t, pm_t = [], []
    for v in vectors:  # score alone, back to back, the two ONNX layouts alternating
        t0 = time.perf_counter()
        model.score(v)
        t1 = time.perf_counter()
        per_member.score(v)
        t2 = time.perf_counter()
        fused_t.append(t1 - t0)
        pm_t.append(t2 - t1)
    print(f"score alone, fused graph:    {stats_ms(fused_t)}")
    print(f"score alone, per-member:     {stats_ms(pm_t)}")

    jl_t = []
    for v in vectors[:args.seed_frames]:
        t0 = time.perf_counter()
        fallback.score(v)
        jl_t.append(time.perf_counter() - t0)
    print(f"joblib fallback score:       {stats_ms(jl_t)}")

    seed_t = []
    for v in vectors[:args.seed_frames]:
        row = np.nan_to_num(v).reshape(1, -1)
        t0 = time.perf_counter()
        sum(WEIGHTS[n] * m.predict_proba(row)[0, 1] for n, m in seed_models.items())
        seed_t.append(time.perf_counter() - t0)
    print(f"seed path score (n_jobs=-1): {stats_ms(seed_t)}")
    ratio = statistics.median(seed_t) / statistics.median(total_t)
    print(f"speed-up, seed score vs firedetect features + score (medians): {ratio:.0f}×")


if __name__ == "__main__":
    main()
