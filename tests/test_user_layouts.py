"""User-defined layouts: the layout file format, its bounds, the name-pattern language, optional tracks,
and a user's layout from file to generated MIDI (carried by the model file)."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest
from helpers import band_midi

from deepaccomp import artifact, preset
from deepaccomp.cli import main
from deepaccomp.config import Config
from deepaccomp.data import build_folder, dataset_path
from deepaccomp.errors import ConfigError, ModelFileError
from deepaccomp.layout import (LAYOUTS, MAX_LAYOUT_BYTES, MAX_MATCHED_NAME_CHARS, MAX_PATTERN_SPELLED, MAX_TRACKS, Layout, Track,
                               check_pattern, get_layout, layout_ref, read_layout)

TRIO = {"name": "trio", "tracks": [
    {"name": "melody", "pattern": "melod|lead|vocal", "families": ["reed", "pipe", "synth_lead"], "program": 73,
     "lowest": 55, "highest": 91},
    {"name": "piano", "pattern": "piano|keys", "families": ["piano", "organ"], "program": 0, "lowest": 36,
     "highest": 91, "polyphonic": True},
    {"name": "bass", "pattern": "bass", "families": ["bass"], "program": 33, "lowest": 28, "highest": 60},
    {"name": "drums", "drums": True, "lowest": 35, "highest": 81, "required": False}]}
"""A user's band: melody, piano, bass and drums; a song without drums is kept (drums optional)."""


def write_json(path, value):
    path.write_text(json.dumps(value))
    return path


# ---------------------------------------------------------------------- the format
def test_from_dict_is_the_exact_inverse_of_to_dict():
    for layout in [*LAYOUTS.values(), Layout.from_dict(TRIO)]:
        d = layout.to_dict()
        assert Layout.from_dict(d) == layout and Layout.from_dict(d).to_dict() == d
        assert Layout.from_dict(json.loads(json.dumps(d))) == layout  # through JSON too
    trio = Layout.from_dict(TRIO)
    assert trio.track_names == ("melody", "piano", "bass", "drums") and trio.drum_mask.tolist()[-1]
    assert [t.required for t in trio.tracks] == [True, True, True, False]  # left out: required
    assert trio.accompaniment[1].polyphonic is False and trio.accompaniment[0].families == ("piano", "organ")


def test_a_layout_file_is_taken_wherever_a_preset_name_is(tmp_path):
    path = write_json(tmp_path / "trio.json", TRIO)
    trio = read_layout(path)
    assert get_layout(str(path)) == trio == get_layout(path) == get_layout(TRIO) == get_layout(trio)
    cfg = preset("default").with_layout(str(path))
    assert cfg.data.layout == trio.to_dict() and cfg.model.output_tracks == 3 and cfg.track_layout == trio
    assert Config.from_dict(json.loads(cfg.to_json())).to_json() == cfg.to_json()
    assert preset("default").with_layout(trio).to_json() == cfg.to_json()
    in_file = json.loads(cfg.to_json())
    in_file["data"]["layout"] = str(path)  # a config file may name the layout file; it stores the definition
    assert Config.from_dict(in_file).data.layout == trio.to_dict()
    # presets stay names, so configs and model files of the presets read and write as before
    assert preset("default").with_layout("lpd5").data.layout == "lpd5"
    assert layout_ref(LAYOUTS["lpd5"].to_dict()) == "lpd5" and layout_ref(trio) == trio.to_dict()
    # builds of two layouts of one folder never share a cache file
    assert dataset_path(str(tmp_path), layout=trio) != dataset_path(str(tmp_path), layout="lpd5")
    assert "-trio-" in os.path.basename(dataset_path(str(tmp_path), layout=path))


def test_the_shipped_models_config_is_unchanged_and_loads():
    folder = os.path.dirname(artifact.shipped_model_path())
    with open(os.path.join(folder, "config.json")) as fh:
        text = fh.read()
    config, _ = artifact.read(artifact.shipped_model_path())
    assert config.data.layout == "satb" and config.to_json() + "\n" == text


@pytest.mark.slow
def test_a_model_file_carries_its_user_layout_and_loads_in_a_fresh_process(tmp_path):
    """Written by the current code (numpy weights: no TensorFlow), read and played where the layout file
    never was."""
    layout_file = write_json(tmp_path / "trio.json", TRIO)
    cfg = preset("default").with_layout(str(layout_file)).replace(
        model={"encoder_filters": [4, 4], "decoder_filters": [4], "noise_channels": 2, "critic_filters": [4, 4]},
        data={"phrase_bars": 1})
    rng = np.random.default_rng(0)
    weights = [rng.normal(0, 0.3, s).astype(np.float32) + (1.0 if len(s) == 1 else 0) for s in
               cfg.generator_weight_shapes()]
    model = tmp_path / "model" / artifact.FILE_NAME
    model.parent.mkdir()
    artifact._write(weights, cfg, model)
    layout_file.unlink()
    melody = tmp_path / "melody.mid"
    band_midi(5, parts=("melody",)).write(str(melody))
    out = tmp_path / "out.mid"
    code = ("import sys; from deepaccomp.cli import main; "
            f"sys.exit(main(['generate', {str(melody)!r}, '-o', {str(out)!r}, '--model', {str(model)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path / "model", capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    back = pretty_midi.PrettyMIDI(str(out))
    assert [i.name for i in back.instruments] == ["melody", "piano", "bass", "drums"]
    assert [i.is_drum for i in back.instruments] == [False, False, False, True]


@pytest.mark.slow
def test_a_model_file_naming_a_layout_file_or_a_bad_layout_is_refused(tmp_path):
    from helpers import rewrite

    shipped = artifact.shipped_model_path()
    (tmp_path / "trio.json").write_text(json.dumps(TRIO))
    cases = {"path": str(tmp_path / "trio.json"),
             "pattern": dict(TRIO, tracks=[dict(TRIO["tracks"][0], pattern="(a+)+$")] + TRIO["tracks"][1:]),
             "number": 7}
    for name, layout in cases.items():
        bad = rewrite(shipped, tmp_path / f"{name}.npz",
                      config_edit=lambda c, layout=layout: c["data"].update(layout=layout))
        with pytest.raises(ModelFileError, match="its config is invalid.*layout"):
            artifact.read(bad)


# ---------------------------------------------------------------------- name patterns
INSTRUMENT_NAMES = [pretty_midi.program_to_instrument_name(p) for p in range(128)] + [
    "Soprano", "SOPRANO 2", "soprano2", "Soprano  2", "sopran", "Cantus 2", "cantus2", "Quintus", "Sextus",
    "Alto", "Altus", "Contratenor", "Tenor I", "Bassus", "Bass Guitar", "bass synth", "Lead Vocal", "vocals",
    "Voice", "Singer", "tune", "Melody", "melodica", "Keys", "Rhodes keys", "organ", "Piano", "Strings",
    "Violin I", "Viola", "Cello", "Pad", "ensemble", "Choir", "Guitar", "RHYTHM GUITAR", "", " ", "kit",
    "Flûte", "Sopraño", "\u212aeys", "ſtring", "İnstrument", "BASS\u0130", "ıvoice", "x" * 1000 + "bass",
]


def fuzz_names(rng, n):
    """Names made of the preset patterns' words and their pieces, cased at random, in noise."""
    words = [w for layout in LAYOUTS.values() for t in layout.tracks for w in check_pattern(t.pattern)]
    alphabet = list("abcdeilmnoprstuvy 2?|.-_ÄéſK\u212a") + ["İ"]
    out = []
    for _ in range(n):
        word = words[rng.integers(len(words))]
        cut = word[rng.integers(len(word)):] if rng.random() < 0.3 else word
        noise = "".join(rng.choice(alphabet, rng.integers(0, 4)))
        name = noise + cut + "".join(rng.choice(alphabet, rng.integers(0, 3)))
        out.append("".join(c.upper() if rng.random() < 0.3 else c for c in name))
    return out


def test_preset_patterns_match_exactly_as_their_regular_expressions_did(rng):
    """Every preset track's pattern, read by the pattern language, takes the instruments its regular
    expression took (``re.search(pattern, name, re.I)``, how tracks were matched before)."""
    names = INSTRUMENT_NAMES + fuzz_names(rng, 3000)
    compared = 0
    for layout in LAYOUTS.values():
        for track in layout.tracks:
            if track.pattern:
                for name in names:
                    assert track.matches_name(name) == bool(re.search(track.pattern, name, re.I)), (track, name)
                    compared += 1
    assert compared > 40000
    # a name is matched on its first MAX_MATCHED_NAME_CHARS characters (the one difference, for names of megabytes)
    bass = LAYOUTS["lpd5"].tracks[4]
    assert bass.matches_name("bass" + "x" * 10 ** 7) and not bass.matches_name("x" * MAX_MATCHED_NAME_CHARS + "bass")


def test_the_pattern_language():
    assert check_pattern("soprano ?2|cantus") == ("soprano 2", "soprano2", "cantus")
    assert check_pattern("") == ()
    track = Track("quintus", "quintus|soprano ?2")
    assert track.matches_name("SOPRANO2") and track.matches_name("2nd Soprano 2") and not track.matches_name("sop 2")
    refused = {"bass.*": "regular expressions", "(a+)+$": "regular expressions", "a||b": "empty alternative",
               "a|": "empty alternative", "?a": "must follow", "ab??": "must follow", "a?": "match every",
               "a?" * 8 + "b": f"more than {MAX_PATTERN_SPELLED:,}",
               "abcdefg?h?i?j?k?l?m?|xyz": "is 1,219 characters", "x" * 300: "at most 256", "a\nb": "printable",
               "[ab]": "regular expressions", r"a\d": "regular expressions"}
    for pattern, why in refused.items():
        with pytest.raises(ConfigError, match=re.escape(why)):
            check_pattern(pattern)


# ---------------------------------------------------------------------- every field checked
@pytest.mark.parametrize("edit, why", [
    (lambda d: d.update(tracks=[]), "tracks must be a list of 2..16"),
    (lambda d: d.update(tracks=d["tracks"] * 5), "tracks must be a list of 2..16"),
    (lambda d: d.update(tracks="melody"), "tracks must be a list"),
    (lambda d: d.update(name=3), "a layout's name must be a name"),
    (lambda d: d.update(name="../x"), "layout name '../x' must be letters"),
    (lambda d: d.update(name="lpd5"), "is a preset's name"),
    (lambda d: d.update(voices="no"), "voices must be true or false"),
    (lambda d: d.update(colour="red"), r"unknown keys \['colour'\]"),
    (lambda d: d.pop("name"), 'needs a "name"'),
    (lambda d: d["tracks"].__setitem__(1, "piano"), r"tracks\[1\] must be an object"),
    (lambda d: d["tracks"][1].pop("name"), r'tracks\[1\] needs a "name"'),
    (lambda d: d["tracks"][1].update(name="a/b"), "without '/'"),
    (lambda d: d["tracks"][1].update(name="x" * 65), "1..64 characters"),
    (lambda d: d["tracks"][2].update(name="piano"), "distinct track names"),
    (lambda d: d["tracks"][1].update(program="33"), r"tracks\[1\]: track 'piano': program must be an integer 0..127"),
    (lambda d: d["tracks"][1].update(program=33.0), "program must be an integer"),
    (lambda d: d["tracks"][1].update(program=True), "program must be an integer"),
    (lambda d: d["tracks"][1].update(lowest=-1), "lowest must be an integer 0..127"),
    (lambda d: d["tracks"][1].update(highest=10 ** 30), "highest must be an integer 0..127"),
    (lambda d: d["tracks"][1].update(lowest=90, highest=40), "lowest \\(90\\) must not be above highest"),
    (lambda d: d["tracks"][1].update(polyphonic="yes"), "polyphonic must be true or false"),
    (lambda d: d["tracks"][1].update(required=1), "required must be true or false"),
    (lambda d: d["tracks"][1].update(families="piano"), "families must be a list"),
    (lambda d: d["tracks"][1].update(families=[["piano"]]), "families must be a list of General MIDI family names"),
    (lambda d: d["tracks"][1].update(families=["kazoo"]), "unknown General MIDI families"),
    (lambda d: d["tracks"][1].update(pattern=["piano"]), "pattern must be a string"),
    (lambda d: d["tracks"][1].update(pattern="(a|aa)*c"), "no regular expressions"),
    (lambda d: d["tracks"][1].update(role="melody"), "role must be 'accompaniment'"),
    (lambda d: d["tracks"][1].update(volume=3), r"tracks\[1\]: unknown keys \['volume'\]"),
    (lambda d: d["tracks"][0].update(required=False), "the melody cannot be a drum track and is always required"),
    (lambda d: d["tracks"][0].update(drums=True), "the melody cannot be a drum track"),
    (lambda d: d["tracks"][1].update(drums=True), "at most one drum track"),
    (lambda d: d.update(voices=True), "every track of a voice layout is required"),
])
def test_every_field_is_checked_and_named(edit, why):
    d = json.loads(json.dumps(TRIO))
    edit(d)
    with pytest.raises(ConfigError, match=why):
        Layout.from_dict(d, where="my.json")
    with pytest.raises(ConfigError, match="data.layout"):  # and where a config takes it
        preset("default").replace(data={"layout": d})


def test_the_largest_layout_is_accepted():
    tracks = [dict(TRIO["tracks"][0])] + [{"name": f"t{k}", "families": ["piano"]} for k in range(MAX_TRACKS - 1)]
    layout = Layout.from_dict({"name": "big", "tracks": tracks})
    cfg = preset("default").with_layout(layout)
    assert cfg.model.output_tracks == MAX_TRACKS - 1 and len(json.dumps(layout.to_dict())) < MAX_LAYOUT_BYTES


# ---------------------------------------------------------------------- hostile layout files
HOSTILE_CHILD = """
import sys, time
from deepaccomp.errors import ConfigError
from deepaccomp.layout import read_layout
t0 = time.perf_counter()
try:
    read_layout(sys.argv[1])
except ConfigError as exc:
    print(f"{time.perf_counter() - t0:.4f} {exc}")
"""


def hostile_files(folder):
    """``{case: (path, what the error says)}``."""
    folder.mkdir()
    files = {
        "huge": (b'{"name": "x", "tracks": [' + b" " * (10 * MAX_LAYOUT_BYTES) + b"]}", "too large"),
        "deep": (b"[" * 60000 + b"]" * 60000, "too large"),
        "deep_small": (b"[" * 30000 + b"]" * 30000, "nested too deeply"),
        "types": (json.dumps(dict(TRIO, tracks=[{"name": 7}] * 3)).encode(), "tracks[0]"),
        "backtrack": (json.dumps(dict(TRIO, tracks=[dict(TRIO["tracks"][0], pattern="a?" * 40 + "a" * 40)]
                                      + TRIO["tracks"][1:])).encode(), "spelled out"),
        "regex": (json.dumps(dict(TRIO, tracks=[dict(TRIO["tracks"][0], pattern="(a|a)*b")]
                                  + TRIO["tracks"][1:])).encode(), "no regular expressions"),
        "big_int": (b'{"name": "x", "tracks": [{"name": "m", "program": ' + b"9" * 20000 + b"}]}", "not a readable"),
        "not_utf8": (b'{"name": "\xff"}', "not a readable"),
        "list": (b"[1, 2]", "must be a JSON object"),
    }
    paths = {}
    for case, (raw, why) in files.items():
        (folder / f"{case}.json").write_bytes(raw)
        paths[case] = (folder / f"{case}.json", why)
    os.mkfifo(folder / "fifo.json")
    paths["fifo"] = (folder / "fifo.json", "not a regular file")
    paths["folder"] = (folder, "not a regular file")
    return paths


@pytest.mark.slow
def test_hostile_layout_files_get_a_clear_error_in_under_a_second(tmp_path):
    """Each read in its own process, bounded in time and memory (a blocking FIFO or a runaway pattern
    would hang it, a huge file would fill memory)."""
    def limit_memory():
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (2 * 1024 ** 3, 2 * 1024 ** 3))

    for case, (path, why) in hostile_files(tmp_path / "hostile").items():
        done = subprocess.run([sys.executable, "-c", HOSTILE_CHILD, str(path)], capture_output=True, text=True,
                              timeout=60, preexec_fn=limit_memory)
        assert done.returncode == 0 and done.stdout, (case, done.stderr[-2000:])
        seconds, message = done.stdout.split(" ", 1)
        assert float(seconds) < 1.0 and why in message and len(message) < 1000, (case, message)


@pytest.mark.slow
def test_a_hostile_layout_file_is_one_line_from_the_command(tmp_path, capsys):
    path = write_json(tmp_path / "bad.json", dict(TRIO, tracks=[dict(TRIO["tracks"][0], pattern="(a+)+$")]
                                                  + TRIO["tracks"][1:]))
    assert main(["prepare", "--source", str(tmp_path), "--layout", str(path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "tracks[0]: track 'melody': pattern '(a+)+$'" in err
    assert main(["train", "--layout", str(tmp_path / "missing.json"), "--logdir", str(tmp_path / "run")]) == 1
    assert "unknown layout" in capsys.readouterr().err


# ---------------------------------------------------------------------- optional tracks
def test_files_lacking_an_optional_track_are_kept_with_it_empty(tmp_path):
    folder = tmp_path / "band"
    folder.mkdir()
    for k in range(6):
        parts = ("melody", "piano", "bass") + (("drums",) if k % 2 else ())
        band_midi(k, bars=2, parts=parts).write(str(folder / f"song{k}.mid"))
    band_midi(9, bars=2, parts=("melody", "piano", "drums")).write(str(folder / "no_bass.mid"))
    ds = build_folder(folder, layout=TRIO, workers=1, progress=False)
    assert len(ds.rolls) == 6 and ds.layout == Layout.from_dict(TRIO).to_dict()
    assert [s["reason"] for s in ds.skipped] == [
        "no instrument for track 'bass' of layout 'trio' (name matching /bass/ or General MIDI families bass)"]
    assert ds.info["track_summary"]["drums"] == {"pieces": 3, "bars": 6}
    assert ds.info["track_summary"]["bass"] == {"pieces": 6, "bars": 12}
    assert sum(not r[..., 3].any() for r in ds.rolls) == 3


# ---------------------------------------------------------------------- from file to generated MIDI
def chain(tmp_path, capsys, layout_arg, parts_of, tiny_config):
    """prepare, train (a few iterations) and export through the command line; returns the model file."""
    folder = tmp_path / "band"
    folder.mkdir()
    for k in range(16):
        band_midi(k, bars=4, parts=parts_of(k)).write(str(folder / f"song{k:02d}.mid"))
    datasets, run = tmp_path / "datasets", tmp_path / "run"
    assert main(["prepare", "--source", str(folder), "--layout", layout_arg, "--dataset-dir", str(datasets),
                 "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(dict(tiny_config.to_dict(), data=dict(tiny_config.to_dict()["data"],
                                                                          source=str(folder)))))
    assert main(["train", "--config", str(config), "--layout", layout_arg, "--logdir", str(run),
                 "--dataset-dir", str(datasets), "--no-progress"]) == 0
    capsys.readouterr()
    return run / artifact.FILE_NAME, printed


def generate_in_fresh_process(tmp_path, model):
    """``deepaccomp generate`` in a new process, run from a folder without the layout file."""
    melody = tmp_path / "melody.mid"
    band_midi(99, parts=("melody",)).write(str(melody))
    out = tmp_path / "out.mid"
    code = ("import sys; from deepaccomp.cli import main; "
            f"sys.exit(main(['generate', {str(melody)!r}, '-o', {str(out)!r}, '--model', {str(model)!r}, "
            "'--seed', '0']))")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run([sys.executable, "-c", code], cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return pretty_midi.PrettyMIDI(str(out))


@pytest.mark.slow
def test_a_user_layout_from_file_to_generated_midi(tmp_path, capsys, tiny_config):
    layout_file = write_json(tmp_path / "trio.json", TRIO)
    no_drums, no_guitar = {0, 3, 6, 9, 12}, {1, 4, 7, 10, 13}
    model, printed = chain(tmp_path, capsys, str(layout_file), lambda k: tuple(
        p for p in ("melody", "drums", "piano", "guitar", "bass") if not (p == "drums" and k in no_drums)
        and not (p == "guitar" and k in no_guitar)), tiny_config)
    assert "track drums: 11 pieces, 44 bars with notes" in printed and "track piano: 16 pieces" in printed
    layout_file.unlink()  # the model carries the layout: generation never sees the file
    back = generate_in_fresh_process(tmp_path, model)
    assert [i.name for i in back.instruments] == ["melody", "piano", "bass", "drums"]
    assert [i.is_drum for i in back.instruments] == [False, False, False, True]  # drums on channel 10
    assert artifact.read(model)[0].data.layout == Layout.from_dict(TRIO).to_dict()


@pytest.mark.slow
def test_lpd5_trains_on_a_folder_where_no_file_has_strings(tmp_path, capsys, tiny_config):
    model, printed = chain(tmp_path, capsys, "lpd5", lambda k: ("melody", "drums", "piano", "guitar", "bass"),
                           tiny_config)
    assert "16 kept" in printed and "track strings: 0 pieces, 0 bars with notes" in printed
    back = generate_in_fresh_process(tmp_path, model)
    assert [i.name for i in back.instruments] == ["melody", "drums", "piano", "guitar", "bass", "strings"]
    assert [i.is_drum for i in back.instruments] == [False, True, False, False, False, False]


@pytest.fixture
def tiny_config():
    """The tiny training run of the layout tests (``conftest.TINY_RUN``)."""
    from helpers import TINY_RUN

    return preset("default").replace(**{k: dict(v) for k, v in TINY_RUN.items()})


def test_shards_of_a_user_layout_store_it_whole_and_count_its_tracks(tmp_path, capsys):
    from deepaccomp import shards
    from deepaccomp.errors import DatasetError

    folder = tmp_path / "band"
    folder.mkdir()
    for k in range(6):
        band_midi(k, bars=2, parts=("melody", "piano", "bass") + (("drums",) if k % 2 else ())).write(
            str(folder / f"song{k}.mid"))
    layout_file = write_json(tmp_path / "trio.json", TRIO)
    assert main(["prepare", "--source", str(folder), "--shards", str(tmp_path / "out"), "--shard-size", "4",
                 "--layout", str(layout_file), "--workers", "1"]) == 0
    assert "track drums: 3 pieces, 6 bars with notes" in capsys.readouterr().out
    index = shards.read_index(tmp_path / "out", layout=TRIO)
    assert index["layout"] == Layout.from_dict(TRIO).to_dict()
    assert index["track_summary"]["bass"] == {"pieces": 6, "bars": 12}
    assert shards.read_shard(tmp_path / "out", index["shards"][1]).track_layout == Layout.from_dict(TRIO)
    with pytest.raises(DatasetError, match="holds layout 'trio', the config asks for 'lpd5'"):
        shards.read_index(tmp_path / "out", layout="lpd5")
    mine = dict(TRIO, tracks=TRIO["tracks"][:3] + [dict(TRIO["tracks"][3], required=True)])
    with pytest.raises(DatasetError, match="another definition"):
        shards.read_index(tmp_path / "out", layout=mine)
