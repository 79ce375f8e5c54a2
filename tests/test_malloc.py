"""The daemon pins glibc's mmap threshold so that freed frame-sized buffers leave its RSS."""

from __future__ import annotations

import subprocess
import sys

import pytest

from edge.service.malloc import pin_mmap_threshold

# In a fresh interpreter: free one 9 MiB block (glibc then raises its mmap threshold to 9 MiB
# unless it is pinned), allocate 40 blocks of 256 KiB, pin the heap's top with a small
# object, free the blocks, and print how much of the 10 MiB the RSS gave back.
PROBE = """
import sys
sys.path.insert(0, {root!r})
if {pin}:
    from edge.service.malloc import pin_mmap_threshold
    assert pin_mmap_threshold()
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
big = bytearray(9 * 2**20)
del big
blocks = [bytearray(256 * 1024) for _ in range(40)]
top = [bytearray(64) for _ in range(100)]
before = rss()
del blocks
print(before - rss())
"""


def freed_mib(pin: bool) -> float:
    """MiB of RSS given back when 10 MiB of 256 KiB blocks are freed, with or without pinning."""
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", PROBE.format(root=root, pin=pin)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
class TestPinMmapThreshold:
    def test_freed_blocks_leave_the_rss(self) -> None:
        """With the threshold pinned, freeing 10 MiB of 256 KiB blocks gives back ≥ 9 MiB."""
        assert freed_mib(pin=True) >= 9.0

    def test_unpinned_glibc_keeps_them(self) -> None:
        """Without it (glibc's default), the same blocks stay in the heap: the bug it fixes."""
        assert freed_mib(pin=False) < 1.0

    def test_run_command_pins_it(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``firedetect run`` pins the threshold before it builds the daemon."""
        import edge.commands.run as run_cmd
        import edge.service.malloc as malloc

        calls: list[int] = []
        monkeypatch.setattr(malloc, "pin_mmap_threshold", lambda: calls.append(1) or True)

        def stop(*_: object, **__: object) -> None:
            raise SystemExit(7)

        monkeypatch.setattr("edge.app.build_daemon", stop)
        args = run_cmd_args(run_cmd)
        with pytest.raises(SystemExit):
            run_cmd.run(args)
        assert calls == [1]


def run_cmd_args(run_cmd: object) -> object:
    """``firedetect run --simulate static`` parsed by the command's own parser."""
    import argparse

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    run_cmd.register(sub)  # type: ignore[attr-defined]
    args = parser.parse_args(["run", "--simulate", "static", "--state-dir", "/tmp/fd-malloc"])
    args.verbose = 1  # the top-level parser's option
    return args


def test_bad_threshold_is_refused() -> None:
    """A threshold of 0 bytes is refused, naming what was given."""
    with pytest.raises(ValueError, match="got 0"):
        pin_mmap_threshold(0)


# In a fresh interpreter: 10 MiB of 4 KiB blocks from the heap (under the mmap threshold),
# a small object allocated after them pins the heap's top, the blocks are freed, then the
# heap is trimmed or not; prints how much of the 10 MiB the RSS gave back.
TRIM_PROBE = """
import sys
sys.path.insert(0, {root!r})
from edge.service.malloc import pin_mmap_threshold, release_free_heap
assert pin_mmap_threshold()
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS'):
            return int(line.split()[1]) / 1024
blocks = [bytearray(4096) for _ in range(2560)]
top = [bytearray(2048) for _ in range(50)]
before = rss()
del blocks
if {trim}:
    assert release_free_heap()
print(before - rss())
"""


def trimmed_mib(trim: bool) -> float:
    """MiB of RSS given back when 10 MiB of small heap blocks are freed, trimmed or not."""
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    out = subprocess.run([sys.executable, "-c", TRIM_PROBE.format(root=root, trim=trim)],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
class TestReleaseFreeHeap:
    def test_trim_gives_freed_heap_back(self) -> None:
        """Freed small blocks under a live one go back to the OS once the heap is trimmed."""
        assert trimmed_mib(trim=True) >= 9.0

    def test_free_alone_keeps_them(self) -> None:
        """Without the trim the same freed blocks stay in the RSS: what the daemon's trim fixes."""
        assert trimmed_mib(trim=False) < 1.0
