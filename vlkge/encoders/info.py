"""Which encoder made a run's features, read once from the run's ``encoder_used`` record.

The record is what ``Encoder.info()`` returned at training time (or ``{"name": "imported:NAME"}``
for imported features, ``{"name": None}`` for a structure-only run); its name's prefix says the
kind, and this is the only place that reads it.
"""
from __future__ import annotations

from dataclasses import dataclass

IMPORTED = "imported:"


def imported_name(spec: str) -> str | None:
    """NAME for an ``imported:NAME`` encoder spec, else None."""
    return spec[len(IMPORTED):] if spec.startswith(IMPORTED) else None


@dataclass(frozen=True)
class EncoderInfo:
    kind: str  # "none" (structure only) | "offline" | "clip" | "imported"
    name: str | None
    #: image and text rows share one space (CLIP-like): text→image search works
    vision_language: bool
    #: what the encoder says it is, for display
    description: str

    @classmethod
    def from_record(cls, record: dict | None) -> "EncoderInfo":
        record = record or {}
        name = record.get("name") or None
        if name is None:
            kind = "none"
        elif imported_name(name) is not None:
            kind = "imported"
        elif name.startswith("offline"):
            kind = "offline"
        else:
            kind = "clip"
        return cls(kind, name, bool(record.get("joint_space")), record.get("description") or name or "")

    @property
    def spec(self) -> str | None:
        """What ``load_encoder`` takes to build this encoder again; None where it cannot (no
        encoder, or imported features whose encoder is not here)."""
        if self.kind in ("none", "imported"):
            return None
        return self.name  # "offline:VARIANT" builds the variant the run was trained with
