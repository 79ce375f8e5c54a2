"""What a model's onnxruntime session costs in RSS, and what ``malloc_trim`` gives back.

    .venv/bin/python bench/bench_model_rss.py [ARTIFACT.tar.gz]   (default: the demo model)

In a fresh child process: RSS after importing onnxruntime, after building the fused
``ensemble.onnx`` session (the daemon's options: one thread), after 200 one-row runs, and after
``edge.service.malloc.release_free_heap`` (what the daemon does once start-up is over).
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = sorted((ROOT / "demo" / "model").glob("*.tar.gz"))

PROBE = """
import sys
sys.path.insert(0, {root!r})
import numpy as np
from edge.service.malloc import release_free_heap
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
r0 = rss()
import onnxruntime as ort
r1 = rss()
opts = ort.SessionOptions()
opts.intra_op_num_threads = opts.inter_op_num_threads = 1
sess = ort.InferenceSession(open({onnx!r}, 'rb').read(), opts,
                            providers=['CPUExecutionProvider'])
r2 = rss()
n = sess.get_inputs()[0].shape[1]
x = np.zeros((1, n), np.float32)
for _ in range(200):
    sess.run(None, {{sess.get_inputs()[0].name: x}})
r3 = rss()
release_free_heap()
r4 = rss()
print(f"import onnxruntime +{{r1 - r0:.1f}} MiB, session +{{r2 - r1:.1f}} MiB, "
      f"200 runs +{{r3 - r2:.1f}} MiB, heap trimmed {{r4 - r3:+.1f}} MiB; RSS {{r4:.1f}} MiB")
"""


def main() -> int:
    artifact = Path(sys.argv[1]) if len(sys.argv) > 1 else DEMO[-1]
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(artifact) as tar:
            tar.extractall(tmp, filter="data")
        onnx = next(Path(tmp).glob("*/ensemble.onnx"))
        out = subprocess.run([sys.executable, "-c", PROBE.format(root=str(ROOT), onnx=str(onnx))],
                             capture_output=True, text=True, check=True).stdout
    print(f"{artifact.name}: {out.strip()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
