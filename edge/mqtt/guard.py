"""Guards of the MQTT link: reconnect backoff with jitter, rate limits, owned retained topics.

- :func:`backoff_delay`: the wait before the next reconnect attempt. It doubles from
  ``mqtt.reconnect_min_s`` up to ``mqtt.reconnect_max_s`` (a few seconds: a queued alarm must
  not wait a minute for paho's default backoff), and each wait is a random 50–100 % of that,
  so devices that lost the same broker do not all knock at once when it returns.
- :class:`Coalescer`: runs an action at most once per interval; a burst of requests is one
  run now and one run at the end of the window (``homeassistant/status`` floods, overwrites).
- :class:`RetainedTopics`: the device's own retained topics (state, health, availability,
  discovery). Re-published on every connect, and re-asserted when a message with another
  body arrives on one of them — someone else overwrote it. The device's own echoes (also the
  late echo of an older value of its own, overtaken by a newer one) are recognised by the
  bodies it published and has not yet seen come back, so it never answers itself.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)


def backoff_delay(attempt: int, min_s: float, max_s: float,
                  rng: random.Random | None = None) -> float:
    """The wait, s, before reconnect attempt ``attempt`` (0 for the first after a loss).

    ``min(max_s, min_s * 2**attempt)`` times a random factor in [0.5, 1]: never above
    ``max_s``, never below ``min_s / 2``.
    """
    if not 0 < min_s <= max_s:
        raise ValueError(f"reconnect delays must satisfy 0 < min ≤ max, got {min_s}, {max_s}")
    base = min(max_s, min_s * 2.0 ** min(max(attempt, 0), 32))
    return base * (rng or random).uniform(0.5, 1.0)  # jitter, not crypto


class Coalescer:
    """Run ``action`` at most once per ``interval_s``: now if the last run is old enough,
    else once when the window ends, however many requests came in between."""

    def __init__(self, interval_s: float, action: Callable[[], None], name: str) -> None:
        if interval_s < 0:
            raise ValueError(f"interval must be ≥ 0, got {interval_s}")
        self.interval_s = interval_s
        self.name = name
        self.runs = 0
        self._action = action
        self._lock = threading.Lock()
        self._last: float | None = None
        self._timer: threading.Timer | None = None
        self._closed = False

    def request(self) -> bool:
        """Ask for a run; returns at once. False if it joined a run already pending."""
        with self._lock:
            if self._closed or self._timer is not None:
                return False
            now = time.monotonic()
            wait = 0.0 if self._last is None else self._last + self.interval_s - now
            if wait > 0:
                self._timer = threading.Timer(wait, self._fire)
                self._timer.name = f"coalesce-{self.name}"
                self._timer.daemon = True
                self._timer.start()
                return True
            self._last = now
            self.runs += 1
        self._run()
        return True

    def close(self) -> None:
        """Cancel a pending run; later requests do nothing."""
        with self._lock:
            self._closed = True
            timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
            self._last = time.monotonic()
            self.runs += 1
        self._run()

    def _run(self) -> None:
        try:
            self._action()
        except Exception:  # runs on paho's or a timer thread: log, never kill it
            log.exception("mqtt: %s failed", self.name)


class RetainedTopics:
    """The retained topics this device owns, their current bodies, and their defence.

    ``publish(topic, body)`` sends one retained QoS 1 message if the link is connected; it is
    called with this object's lock held, so a re-assertion can never overtake a newer value.
    """

    def __init__(self, publish: Callable[[str, bytes], None], topics: list[str],
                 reassert_interval_s: float = 1.0) -> None:
        self.topics = list(topics)
        self._publish = publish
        self._lock = threading.Lock()
        self._values: dict[str, bytes] = {}
        # Bodies published and not yet echoed back, per topic, oldest first.
        self._unechoed: dict[str, deque[bytes]] = {t: deque(maxlen=32) for t in self.topics}
        self._overwrites = 0
        self._limits = {
            t: Coalescer(reassert_interval_s, functools.partial(self._reassert, t),
                         f"re-assert {t}")
            for t in self.topics
        }

    def _send(self, topic: str, body: bytes) -> None:
        # With the lock held. Recorded even if not connected: harmless, bounded, cleared on
        # connect by publish_all.
        self._unechoed[topic].append(body)
        self._publish(topic, body)

    @property
    def overwrites(self) -> int:
        """How many foreign bodies arrived on the device's retained topics."""
        with self._lock:
            return self._overwrites

    def set(self, topic: str, body: bytes, *, publish: bool = True) -> None:
        """Remember ``body`` as the device's value of ``topic`` and (by default) publish it."""
        if topic not in self._limits:
            raise ValueError(f"{topic!r} is not one of the device's retained topics")
        with self._lock:
            self._values[topic] = body
            if publish:
                self._send(topic, body)

    def get(self, topic: str) -> bytes | None:
        with self._lock:
            return self._values.get(topic)

    def publish_all(self, first: str | None = None) -> None:
        """Publish every known value (``first`` before the others), e.g. after a connect."""
        with self._lock:
            for pending in self._unechoed.values():
                pending.clear()
            order = sorted(self._values, key=lambda t: t != first)
            for topic in order:
                self._send(topic, self._values[topic])

    def received(self, topic: str, body: bytes) -> bool:
        """A message arrived on ``topic``; re-assert the device's value if it differs.

        True if ``topic`` is one of the device's retained topics (handled here).
        """
        if topic not in self._limits:
            return False
        with self._lock:
            pending = self._unechoed[topic]
            if body in pending:  # our own echo: forget it and every older one
                while pending.popleft() != body:
                    pass
                return True
            ours = self._values.get(topic)
            if ours is None or body == ours:
                return True
            self._overwrites += 1
            count = self._overwrites
        level = logging.WARNING if self._limits[topic].request() else logging.DEBUG
        log.log(level, "mqtt: %s was overwritten by another client (%d bytes, %d overwrites "
                "so far); re-asserting the device's value (restrict writes with the broker "
                "ACL: docs/mqtt-security.md)", topic, len(body), count)
        return True

    def close(self) -> None:
        """Stop re-asserting (the link is stopping)."""
        for limit in self._limits.values():
            limit.close()

    def _reassert(self, topic: str) -> None:
        with self._lock:
            body = self._values.get(topic)
            if body is not None:
                self._send(topic, body)
