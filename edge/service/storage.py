"""What the daemon says about its storage: the outbox, the model cache, the state-dir lock.

A detector that cannot write keeps detecting (events held in memory, the model without its
cache), and says so: the retained health gets an ``outbox`` section and ``status``
``"degraded"``, the sd_notify ``STATUS=`` line ``outbox=FAULT(...)``. A volatile outbox is
retried every ``retry_s`` wall seconds (:func:`edge.mqtt.outbox_open.try_recover`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from edge.model.holder import ModelHolder
from edge.mqtt.base import Link
from edge.mqtt.outbox import Outbox

log = logging.getLogger(__name__)


class StorageWatch:
    """The daemon's view of its storage faults.

    :param link: the MQTT link (its ``outbox`` and ``status()`` are read).
    :param holder: the model holder (its ``cache_fault``, if any, is read).
    :param lock_fault: why the state directory could not be locked (None when locked).
    :param retry_s: how often a volatile outbox tries its file again (wall seconds).
    """

    def __init__(self, link: Link, holder: ModelHolder, lock_fault: str | None = None,
                 retry_s: float = 30.0) -> None:
        self.link = link
        self.holder = holder
        self.lock_fault = lock_fault
        self.retry_s = retry_s
        self._next_retry = -math.inf

    @property
    def outbox(self) -> Outbox:
        return self.link.outbox

    def retry(self, wall: float) -> None:
        """A volatile outbox: try its file again, at most every ``retry_s``."""
        box = self.outbox
        if not box.in_memory or wall < self._next_retry:
            return
        self._next_retry = wall + self.retry_s
        from edge.mqtt.outbox_open import try_recover

        try_recover(box)

    def report(self) -> dict[str, Any]:
        """The health's ``outbox`` section: status, fault, volatile, events held in memory."""
        st = self.link.status()
        depth, memory = st.outbox_depth, st.memory_events
        box = self.outbox
        volatile = box.in_memory
        fault = box.fault or box.last_error
        if fault is None and (memory > 0 or depth < 0):
            fault = st.outbox_fault or "outbox unreadable"
        held = memory + (max(depth, 0) if volatile else 0)
        return {
            "status": "fault" if fault else "ok",
            "fault": fault,
            "volatile": volatile,
            "held_in_memory": held,
        }

    def faults(self) -> dict[str, str]:
        """Other storage faults for the health: model cache, state-dir lock."""
        out: dict[str, str] = {}
        if self.holder.cache_fault:
            out["model_cache"] = self.holder.cache_fault
        if self.lock_fault:
            out["state_lock"] = self.lock_fault
        return out

    def status_word(self, depth: object) -> str:
        """``outbox=`` of the STATUS line: the depth, or ``FAULT(volatile,held=3)``."""
        r = self.report()
        if r["status"] == "ok":
            return f"outbox={depth}"
        kind = "volatile" if r["volatile"] else "unwritable"
        return f"outbox=FAULT({kind},held={r['held_in_memory']})"
