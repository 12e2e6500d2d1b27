"""Write the example melodies bundled in deepaccomp/assets/examples/ (run once; outputs are committed).

* twinkle.mid: "Twinkle, Twinkle, Little Star" in C major, 4/4, 100 bpm, 13 bars
  (the DeepComposer lab's demo tune).
* ode_to_joy_pickup.mid: "Ode to Joy" in D major, 120 bpm, starting with a one-beat
  pickup (so its first note sits on beat 4 of bar 0).
"""

import os
import sys

import pretty_midi

HERE = os.path.join(os.path.dirname(__file__), "..", "deepaccomp", "assets", "examples")


def melody(notes, tempo, name, pickup_beats=0.0, tempo_changes=()):
    """notes: (midi pitch, beats) pairs; returns a PrettyMIDI with one 'melody' instrument."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    inst = pretty_midi.Instrument(program=73, name=name)  # flute
    beat = 60.0 / tempo
    t = (4 - pickup_beats) * beat if pickup_beats else 0.0
    for pitch, beats in notes:
        if pitch is not None:
            inst.notes.append(pretty_midi.Note(90, pitch, t, t + beats * beat * 0.95))
        t += beats * beat
    pm.instruments.append(inst)
    return pm


def main():
    os.makedirs(HERE, exist_ok=True)
    C, D, E, F, G, A = 60, 62, 64, 65, 67, 69
    twinkle = [(C, 1), (C, 1), (G, 1), (G, 1), (A, 1), (A, 1), (G, 2),
               (F, 1), (F, 1), (E, 1), (E, 1), (D, 1), (D, 1), (C, 2),
               (G, 1), (G, 1), (F, 1), (F, 1), (E, 1), (E, 1), (D, 2),
               (G, 1), (G, 1), (F, 1), (F, 1), (E, 1), (E, 1), (D, 2),
               (C, 1), (C, 1), (G, 1), (G, 1), (A, 1), (A, 1), (G, 2),
               (F, 1), (F, 1), (E, 1), (E, 1), (D, 1), (D, 1), (C, 2)]
    twinkle += [(C, 4)]
    melody(twinkle, 100, "melody").write(os.path.join(HERE, "twinkle.mid"))
    Fs, B, Cs, D5, E5 = 66, 71, 73, 74, 76
    ode = [(A, 1), (Fs, 1), (Fs, 1), (G, 1), (A, 1), (A, 1), (G, 1), (Fs, 1), (E, 1),
           (D, 1), (D, 1), (E, 1), (Fs, 1), (Fs, 1.5), (E, 0.5), (E, 2),
           (Fs, 1), (Fs, 1), (G, 1), (A, 1), (A, 1), (G, 1), (Fs, 1), (E, 1),
           (D, 1), (D, 1), (E, 1), (Fs, 1), (E, 1.5), (D, 0.5), (D, 3)]
    ode = [(E, 1)] + ode[1:]  # one-beat pickup
    melody(ode, 120, "melody", pickup_beats=1).write(os.path.join(HERE, "ode_to_joy_pickup.mid"))
    print("wrote", sorted(os.listdir(HERE)), file=sys.stderr)


if __name__ == "__main__":
    main()
