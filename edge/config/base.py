"""The base of every config model: unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section: frozen, no unknown keys, no coercion surprises."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())
