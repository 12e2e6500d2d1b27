"""Every limit of ``deepaccomp studio`` in one place.

A request over a limit is answered with a 4xx JSON error carrying the message
of the deepaccomp exception that describes it; nothing here is a hidden
default of the library itself.
"""

from __future__ import annotations

from ..config import SETTING_BOUNDS
from ..midi import MAX_MELODY_BARS

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
"""Largest request body (a MIDI upload or a JSON note list), in bytes."""

MAX_BARS = MAX_MELODY_BARS
"""Longest melody, in bars of its own meter: the library's own limit (docs/errors.md)."""

MAX_NOTES = 8192
"""Most melody notes in one request (a JSON note list or the melody track of an upload)."""

METERS = {"4/4": (4, 4), "3/4": (3, 4)}
"""Time signatures the studio accepts, for the editor and for uploaded files."""

TEMPO_RANGE = (20.0, 300.0)
"""Quarter notes per minute of a JSON note list and of every tempo of an uploaded file (inclusive)."""

PITCH_RANGE = (0, 127)
"""MIDI pitches of melody notes (inclusive)."""

VELOCITY_RANGE = (1, 127)
"""MIDI velocities of melody notes (inclusive)."""

MAX_TAKE_NOTES = 4 * 8192
"""Most accompaniment notes of an edited take sent back to ``POST /api/edit`` (all its tracks together)."""

MAX_NOTE_STEPS = 16 * 16
"""Longest single note of a JSON note list, in 16th-note steps (16 bars of 4/4)."""

MAX_PICKUP_BEATS = 4.0
"""Largest ``pickup`` (quarter-note beats) passed to ``Accompanist.generate`` for an uploaded file,
where the installed library takes that argument (a note list gives its pickup in steps, < one bar)."""

SEED_RANGE = (0, 2**32 - 1)
"""Seeds the page and the API accept (inclusive)."""

NOISE_SCALE = SETTING_BOUNDS["generation.noise_scale"]
"""Noise scales the studio accepts: the library's one bound (greater than ``NOISE_SCALE.low``, at most
``NOISE_SCALE.high``), checked by :meth:`deepaccomp.Accompanist.generate` as for every caller. The page's
input field offers the useful part of it, 0.05 to 4 (training uses 1, the shipped model 3); a value
outside that field's range but inside this bound is valid, only unusual."""

MAX_PENDING = 64
"""Generation requests waiting for or using the model at once; more are answered 503."""

STEPS_PER_BEAT = 4
"""The editor's grid: 16th notes of a quarter-note beat (the model's grid too)."""

PPQ = 480
"""Ticks per quarter note of the MIDI files the studio builds from a note list."""


def as_dict() -> dict:
    """The limits as JSON-ready values (served by ``GET /api/info``)."""
    return {
        "max_upload_bytes": MAX_UPLOAD_BYTES,
        "max_bars": MAX_BARS,
        "max_notes": MAX_NOTES,
        "meters": sorted(METERS),
        "tempo_range": list(TEMPO_RANGE),
        "pitch_range": list(PITCH_RANGE),
        "velocity_range": list(VELOCITY_RANGE),
        "max_note_steps": MAX_NOTE_STEPS,
        "max_take_notes": MAX_TAKE_NOTES,
        "max_pickup_beats": MAX_PICKUP_BEATS,
        "seed_range": list(SEED_RANGE),
        "noise_scale_range": [NOISE_SCALE.low, NOISE_SCALE.high],  # low excluded
        "max_pending": MAX_PENDING,
        "steps_per_beat": STEPS_PER_BEAT,
    }
