"""The upload thread: queue → S3, oldest first, with backoff and a bandwidth cap.

It never touches the detection path: the processing thread only writes to the disk queue and
sets :meth:`Uploader.wake`. A failed upload (store down, no credentials, network) is retried
after an exponential backoff with jitter (``backoff_min_s`` doubling to ``backoff_max_s``);
the item stays in the queue meanwhile, also across restarts. The bandwidth cap is a token
bucket without burst: after an upload of N bytes the next one starts no sooner than
N / rate later, so the average stays under ``max_upload_kbps``.

Credentials: boto3's standard chain (environment, ``~/.aws``, instance role; under systemd,
``AWS_SHARED_CREDENTIALS_FILE`` may point into ``$CREDENTIALS_DIRECTORY``); never logged.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.clips.queue import ClipQueue, Item

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

_URL_RE = re.compile(r"^s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?$")


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix/`` → ``("bucket", "prefix/")`` (prefix empty or ending in /).

    :raises ValueError: not an s3:// URL.
    """
    m = _URL_RE.match(url)
    if not m:
        raise ValueError(f"clips.s3_url {url!r}; allowed: s3://bucket/prefix/")
    prefix = (m.group(2) or "").strip("/")
    return m.group(1), f"{prefix}/" if prefix else ""


class TokenBucket:
    """An average rate cap: :meth:`delay` says how long to wait before sending ``n`` bytes."""

    def __init__(self, bytes_per_s: float, now: Callable[[], float] = time.monotonic) -> None:
        if not bytes_per_s > 0:
            raise ValueError(f"bytes_per_s must be > 0, got {bytes_per_s}")
        self.rate = bytes_per_s
        self.now = now
        self._free_at = -float("inf")

    def delay(self) -> float:
        """Seconds until the bucket has room again (0 if now)."""
        return max(0.0, self._free_at - self.now())

    def spend(self, n: int) -> None:
        """``n`` bytes were sent now."""
        self._free_at = max(self._free_at, self.now()) + n / self.rate


def backoff(attempt: int, lo: float, hi: float, rng: random.Random) -> float:
    """Exponential backoff with jitter: in [d/2, d] for d = min(hi, lo × 2^attempt)."""
    d = min(hi, lo * (2.0 ** min(attempt, 30)))
    return d * (0.5 + 0.5 * rng.random())


class Uploader:
    """Uploads ``queue``'s items to ``bucket`` in its own thread until :meth:`stop`."""

    def __init__(
        self,
        queue: ClipQueue,
        s3_url: str,
        *,
        endpoint_url: str | None = None,
        max_upload_kbps: float = 256.0,
        backoff_min_s: float = 2.0,
        backoff_max_s: float = 600.0,
        client: S3Client | None = None,
        seed: int | None = None,
    ) -> None:
        self.queue = queue
        self.bucket, self.prefix = split_s3_url(s3_url)
        self.endpoint_url = endpoint_url
        self.bucket_rate = TokenBucket(max_upload_kbps * 1000.0 / 8.0)
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._client = client
        self._rng = random.Random(seed)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0
        self.uploaded = 0
        self.last_error: str | None = None

    def _s3(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            cfg = Config(connect_timeout=5, read_timeout=60,
                         retries={"max_attempts": 1, "mode": "standard"})
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=cfg)
        return self._client

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="clip-uploader", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Something was queued."""
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def upload_one(self, item: Item) -> None:
        """PUT one item (raises what boto3 raises)."""
        ctype = "application/json" if item.key.endswith(".json") else "application/octet-stream"
        with open(item.body, "rb") as fh:
            self._s3().put_object(Bucket=self.bucket, Key=item.key, Body=fh, ContentType=ctype)

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            items = self.queue.items()
            if not items:
                self._wake.wait(5.0)
                self._wake.clear()
                continue
            wait = self.bucket_rate.delay()
            if wait > 0:
                self._stop.wait(wait)
                continue
            item = items[0]
            try:
                self.upload_one(item)
            except Exception as exc:  # any failure (network, store, credentials, a file
                # removed under us) is retried later; the item stays queued.
                self.failures += 1
                delay = backoff(attempt, self.backoff_min_s, self.backoff_max_s, self._rng)
                attempt += 1
                self.last_error = _describe(exc)
                log.warning("clips: upload of %s failed (%s); retrying in %.0f s", item.key,
                            self.last_error, delay)
                self._stop.wait(delay)
                continue
            attempt = 0
            self.last_error = None
            self.uploaded += 1
            self.bucket_rate.spend(item.size)
            self.queue.done(item)
            log.info("clips: uploaded s3://%s/%s (%d bytes)", self.bucket, item.key, item.size)


def _describe(exc: Exception) -> str:
    """The error's class and code, never request details (which may carry signed headers)."""
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code", "")
        return f"{type(exc).__name__} {code}".strip()
    return f"{type(exc).__name__}: {exc}"[:200]
