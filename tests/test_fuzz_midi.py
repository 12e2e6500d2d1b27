"""Property tests: random and mutated MIDI bytes fed to ``read_midi`` and ``midi_to_roll``.

Whatever the bytes, the only exceptions that may come out are
:class:`InvalidMidiError` and :class:`NoMelodyError` (both ``DeepAccompError``),
and a roll that comes out is well formed. Bounded: a fixed seed, at most 150
examples per property, no per-example deadline (the machine may be busy), and
a generous per-example time limit that catches hangs.
"""

import io
import time

import mido
import numpy as np
import pretty_midi
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import make_midi
from deepaccomp.errors import DeepAccompError, InvalidMidiError, NoMelodyError
from deepaccomp.midi import MAX_ROLL_STEPS, midi_to_roll, read_midi

ALLOWED = (InvalidMidiError, NoMelodyError)
PER_EXAMPLE_SECONDS = 10.0

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _to_bytes(pm):
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def _seed_files():
    """A few valid files to mutate: meta events, several tracks, drums, a pickup, chords."""
    simple = make_midi([("melody", 0, [(60 + i % 5, i, i + 1) for i in range(8)])])
    rich = make_midi(
        [("Soprano", 52, [(72, 3, 4), (74, 4, 6), (76, 6, 8)]),
         ("bass", 33, [(40, 4, 8)]),
         ("kit", 0, [(36, 0, 1)])],
        tempo=90, time_signatures=((3, 4, 0.0), (4, 4, 2.0)),
    )
    for inst in rich.instruments:
        inst.is_drum = inst.name == "kit"
    chords = make_midi([("piano", 0, [(60, 0, 2), (64, 0, 2), (67, 0, 1), (72, 1, 2)])], tempo=400)
    return [_to_bytes(simple), _to_bytes(rich), _to_bytes(chords)]


SEEDS = _seed_files()


def check(data: bytes) -> None:
    """Feed ``data`` to both functions; only the allowed errors may come out."""
    t0 = time.perf_counter()
    try:
        pm = read_midi(data)
    except ALLOWED as exc:
        event(f"read_midi: {type(exc).__name__}")
        pm = None
    except DeepAccompError as exc:  # pragma: no cover - a failure report
        raise AssertionError(f"read_midi raised {type(exc).__name__}: {exc}") from exc
    if pm is not None:
        assert isinstance(pm, pretty_midi.PrettyMIDI)
    try:
        roll, info = midi_to_roll(data)
    except ALLOWED as exc:
        event(f"midi_to_roll: {type(exc).__name__}")
    except DeepAccompError as exc:  # pragma: no cover - a failure report
        raise AssertionError(f"midi_to_roll raised {type(exc).__name__}: {exc}") from exc
    else:
        event("midi_to_roll: a roll")
        assert pm is not None, "midi_to_roll read what read_midi refused"
        assert roll.dtype == bool and roll.ndim == 3 and roll.shape[1:] == (128, 1)
        assert 1 <= roll.shape[0] <= MAX_ROLL_STEPS and roll.any()
        assert roll[:, :, 0].sum(axis=1).max() == 1  # monophonic top line
        assert info.n_steps == roll.shape[0]
        assert np.isfinite(info.step_times()).all()
    elapsed = time.perf_counter() - t0
    assert elapsed < PER_EXAMPLE_SECONDS, f"{elapsed:.1f} s for {len(data)} bytes"


# ---------------------------------------------------------------------- strategies

def _chunk(kind: bytes, body: bytes, length: int | None = None) -> bytes:
    n = len(body) if length is None else length
    return kind + n.to_bytes(4, "big") + body


header_fields = st.tuples(
    st.sampled_from([0, 1, 2, 3, 0xFFFF]),            # format
    st.sampled_from([0, 1, 2, 16, 0xFFFF]),           # number of tracks
    st.sampled_from([0, 1, 24, 96, 480, 0x7FFF, 0xE728, 0xFFFF]),  # division (incl. SMPTE)
)


@st.composite
def structured_files(draw):
    """A plausible header, then track chunks of random bytes with right or wrong lengths."""
    fmt, ntrks, division = draw(header_fields)
    header_len = draw(st.sampled_from([6, 6, 6, 0, 5, 7, 0xFFFFFFFF]))
    out = _chunk(b"MThd", fmt.to_bytes(2, "big") + ntrks.to_bytes(2, "big") + division.to_bytes(2, "big"),
                 header_len)
    for _ in range(draw(st.integers(0, 3))):
        body = draw(st.binary(max_size=120))
        if draw(st.booleans()):
            body += b"\x00\xff\x2f\x00"  # end of track
        length = draw(st.one_of(st.none(), st.integers(0, 2**32 - 1)))
        out += _chunk(draw(st.sampled_from([b"MTrk", b"MTrk", b"XFIH"])), body, length)
    return out


@st.composite
def mutated_files(draw):
    """A valid file with random byte flips, deletions, insertions and a cut."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "delete", "insert", "cut"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(st.sampled_from([0x00, 0x7F, 0x80, 0xFF, 0x90, 0xFF]))
        elif op == "delete":
            del data[i: i + draw(st.integers(1, 8))]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[i:]
    return bytes(data)


@st.composite
def event_files(draw):
    """Well-formed files (written by mido) with random events: odd tempi, meters and
    resolutions, overlapping, zero-length and unmatched notes, drums, one huge gap."""
    mid = mido.MidiFile(type=1, ticks_per_beat=draw(st.sampled_from([1, 2, 24, 96, 480, 960, 32767])))
    for _ in range(draw(st.integers(1, 3))):
        track = mido.MidiTrack()
        n_events = draw(st.integers(0, 25))
        gap_at = draw(st.integers(0, max(n_events - 1, 0)))
        gap = draw(st.sampled_from([0, 0, 0, 0, 2**14, 2**21, 5_000_000, 2**28 - 1]))
        for k in range(n_events):
            kind = draw(st.sampled_from(["note", "note", "note", "on", "off", "tempo", "meter", "program"]))
            dt = draw(st.integers(0, 960)) + (gap if k == gap_at else 0)
            channel = draw(st.sampled_from([0, 0, 1, 9]))
            pitch = draw(st.integers(0, 127))
            if kind == "note":
                track.append(mido.Message("note_on", channel=channel, note=pitch,
                                          velocity=draw(st.integers(1, 127)), time=dt))
                track.append(mido.Message("note_off", channel=channel, note=pitch,
                                          time=draw(st.sampled_from([0, 1, 60, 120, 480, 1000]))))
            elif kind in ("on", "off"):
                track.append(mido.Message("note_on" if kind == "on" else "note_off", channel=channel,
                                          note=pitch, velocity=draw(st.sampled_from([0, 1, 64, 127])),
                                          time=dt))
            elif kind == "tempo":
                track.append(mido.MetaMessage("set_tempo", tempo=draw(st.sampled_from(
                    [1, 100, 250_000, 500_000, 3_000_000, 2**24 - 1])), time=dt))
            elif kind == "meter":
                track.append(mido.MetaMessage(
                    "time_signature", numerator=draw(st.sampled_from([1, 2, 3, 4, 5, 6, 7, 12, 255])),
                    denominator=draw(st.sampled_from([1, 2, 4, 8, 16, 2**20])), time=dt))
            else:
                track.append(mido.Message("program_change", channel=channel,
                                          program=draw(st.integers(0, 127)), time=dt))
        mid.tracks.append(track)
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


# ---------------------------------------------------------------------- properties

@pytest.mark.slow
@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes_after_a_midi_magic(data):
    check(b"MThd" + data)


@FUZZ
@given(structured_files())
def test_structured_garbage(data):
    check(data)


@FUZZ
@given(mutated_files())
def test_mutated_valid_files(data):
    check(data)


@pytest.mark.slow
@FUZZ
@given(event_files())
def test_random_well_formed_files(data):
    check(data)


def test_seed_files_are_valid():
    for data in SEEDS:
        roll, _ = midi_to_roll(data)
        assert roll.any()
