"""The ``deepaccomp`` command line: ``prepare``, ``train``, ``generate``, ``combine``.

Errors from deepaccomp's own family print one line and exit with status 1
(``--verbose`` prints the traceback too). TensorFlow is imported only by the
subcommands that need it.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from dataclasses import fields

from . import __version__
from .config import (COUNT_SETTINGS, ENSEMBLE_MEANS, FORMAT_LAYOUTS, PRESETS, SECTIONS, SOURCE_FORMATS, Config,
                     check_seed, field_docs, preset, read_integer)
from .errors import ConfigError, DeepAccompError, brief
from .io_utils import check_not_inputs, check_output_path
from .layout import DEFAULT_LAYOUT, LAYOUTS
from .midi import read_midi, write_midi

__all__ = ["main", "make_parser", "build_train_config"]


def _add_prepare(sub):
    p = sub.add_parser("prepare", help="build the training dataset (Bach chorales from music21, or a MIDI folder)")
    p.add_argument("--source", default="chorales", help='"chorales" (default) or a folder of MIDI files')
    p.add_argument("--dataset-dir", default="datasets", help="where the .npz goes (default: datasets)")
    p.add_argument("--no-key-normalize", action="store_true", help="keep the original keys")
    p.add_argument("--force", action="store_true", help="rebuild even if a cached build exists")
    p.add_argument("--workers", type=int, default=None, help="processes, 1..32 (default: up to 2)")
    p.add_argument("--format", default="midi", choices=SOURCE_FORMATS, dest="source_format",
                   help="what --source FOLDER holds: midi (default), MIDI files; pop909, the POP909 dataset's "
                        "song folders, read on their annotated beats into the pop layout (docs/pop909.md)")
    p.add_argument("--layout", default=None, metavar="PRESET_OR_FILE",
                   help=f"track layout to build: a preset ({', '.join(sorted(LAYOUTS))}) or a layout JSON file "
                        "(docs/layouts.md); default satb (pop with --format pop909); the chorales give satb only")
    p.add_argument("--shards", metavar="OUT", default=None,
                   help="write the MIDI folder --source as shards in the folder OUT, for corpora larger than "
                        "memory (resumes an interrupted build; train with --source OUT); see docs/scaling.md")
    p.add_argument("--shard-size", type=int, default=None,
                   help="MIDI files per shard with --shards (default: 256)")
    p.set_defaults(func=cmd_prepare)


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def cmd_prepare(args):
    from .data import check_workers

    check_workers(args.workers)  # before anything starts, for both builds
    if args.shards is not None:
        return _prepare_shards(args)
    if args.shard_size is not None:
        raise ConfigError("--shard-size goes with --shards OUT")
    from .data import dataset_path, prepare

    cached = _mtime(dataset_path(args.source, key_normalize=not args.no_key_normalize, dataset_dir=args.dataset_dir,
                                 layout=args.layout, source_format=args.source_format)) if not args.force else None
    ds, path = prepare(args.source, key_normalize=not args.no_key_normalize, dataset_dir=args.dataset_dir,
                       force=args.force, workers=args.workers, layout=args.layout, source_format=args.source_format)
    info = ds.info
    used_cache = cached is not None and _mtime(path) == cached
    print(f"dataset: {path}" + (" (the cached build, reused; --force rebuilds it)" if used_cache else ""))
    print(f"pieces: {info['n_pieces']} kept ({info['splits']}), {info['n_skipped']} skipped; "
          f"pitches {info['pitch_min']}..{info['pitch_max']} after key normalisation"
          + ("" if used_cache else f"; built in {info.get('build_seconds', 0)} s"))
    cleaning = info.get("split_cleaning")
    if cleaning:
        print(f"held-out split: {cleaning['excluded']} train/valid pieces excluded (tune or "
              f"harmonisation of a test piece), {cleaning['moved_valid_to_train']} valid pieces "
              f"moved to train (tune of a train piece); before: {cleaning['splits_before']}; "
              f"same tune = similarity >= {cleaning['threshold']}")
    _print_tracks(info.get("track_summary", {}))
    if "pop909" in info:
        _print_pop909(info["pop909"])
    reasons = {}
    for s in ds.skipped:
        reasons.setdefault(str(s["reason"]).removeprefix(f"{s['id']}: "), []).append(s["id"])
    for reason, ids in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        print(f"  skipped {len(ids)}: {reason}")
    return 0


def _prepare_shards(args):
    from .shards import DEFAULT_SHARD_SIZE, build_shards

    if args.source == "chorales":
        raise ConfigError("--shards builds a folder of MIDI files: give it as --source FOLDER "
                          "(the chorales fit in memory: leave out --shards)")
    if args.source_format != "midi":
        raise ConfigError(f"--shards builds a folder of MIDI files; --format {args.source_format} builds in memory "
                          "(POP909 fits): leave out --shards")
    index = build_shards(args.source, args.shards, key_normalize=not args.no_key_normalize,
                         shard_size=DEFAULT_SHARD_SIZE if args.shard_size is None else args.shard_size,
                         workers=args.workers, force=args.force,
                         layout=DEFAULT_LAYOUT if args.layout is None else args.layout)
    print(f"shards: {len(index['shards'])} in {args.shards} ({index['files']} files: {index['pieces']} pieces "
          f"{index['splits']}, {index['skipped']} skipped); train on them with --source {args.shards}")
    _print_tracks(index["track_summary"])
    return 0


def _print_pop909(report: dict) -> None:
    """The POP909 build's figures (docs/pop909.md)."""
    r = report
    print(f"POP909: {r['songs_kept']} of {r['songs']} songs kept ({r['songs_kept_by_split']}); skipped "
          f"{r['songs_skipped'] or 'none'}; index.xlsx: {r['index']}")
    print(f"  onsets on the 16th grid (within {r['grid_tolerance_steps']} steps): {r['onsets_on_grid']} of "
          f"{r['onsets']}, song median {r['grid_share_median']:.1%}; {r['dropped_notes']} notes outside the "
          "annotated beats dropped")
    print(f"  bars: {r['bars_stored']} stored in {r['stretches']} stretches of 4-beat bars, of "
          f"{r['bars_of_kept_songs']} in the kept songs ({r['irregular_bars']} irregular bars left out, in "
          f"{r['kept_songs_with_irregular_bars']} songs; {r['pickup_beats']} beats before first downbeats)")
    print(f"  keys: annotated key of each stretch to C major / A minor; {r['kept_songs_with_key_changes']} kept "
          f"songs change key (a new stretch at each change); the melody alone gives the same key in "
          f"{r['melody_key_agrees']:.0%} of the stretches")


def _print_tracks(summary: dict) -> None:
    """Per track of the layout: in how many pieces it sounds and in how many bars."""
    for name, counts in summary.items():
        print(f"  track {name}: {counts['pieces']} pieces, {counts['bars']} bars with notes")


TRAIN_FLAG_SECTIONS = ("train", "generation")
"""Config sections whose every field is a ``deepaccomp train`` option (``--field-name``)."""

FLAG_ALIASES = {"jit_compile": ["--xla"]}


def _config_flags(sections=TRAIN_FLAG_SECTIONS):
    """``[(section, field name, default, help)]`` for every field of the config ``sections``."""
    rows = []
    for section in sections:
        cls = SECTIONS[section]
        docs = field_docs(cls)
        for f in fields(cls):
            if f"{section}.{f.name}" not in COUNT_SETTINGS:  # model data, not an option
                rows.append((section, f.name, f.default, docs.get(f.name, "")))
    return rows


def _add_train(sub):
    p = sub.add_parser("train", help="train a generator with WGAN-GP (resumes in an existing --logdir)")
    p.add_argument("--config", help="a config.json (see docs/training.md)")
    p.add_argument("--preset", choices=sorted(PRESETS), default=None)
    p.add_argument("--logdir", default="runs/default")
    p.add_argument("--dataset-dir", default="datasets")
    p.add_argument("--layout", default=None, metavar="PRESET_OR_FILE",
                   help=f"data.layout: track layout, a preset ({', '.join(sorted(LAYOUTS))}) or a layout JSON file "
                        "(default: the preset's or --config's); sizes the generator's output to its tracks; the "
                        "model file carries the whole layout")
    p.add_argument("--source", default=None,
                   help='data.source: "chorales", a MIDI folder, or a shard folder written by prepare --shards')
    p.add_argument("--format", default=None, choices=SOURCE_FORMATS, dest="source_format",
                   help="data.format: what --source FOLDER holds: midi, MIDI files; pop909, the POP909 dataset's "
                        "song folders, in the pop layout (which it sets unless --layout is given; docs/pop909.md)")
    p.add_argument("--no-progress", action="store_true")
    group = p.add_argument_group("settings", "override the config's train and generation sections "
                                             "(default: the preset's or --config's value)")
    _add_setting_flags(group, TRAIN_FLAG_SECTIONS)
    p.set_defaults(func=cmd_train)


def _add_setting_flags(group, sections, default_note: str = "") -> None:
    """One ``--field-name`` option per field of the config ``sections`` (``None`` when not given), its help
    the field's docstring (:func:`~deepaccomp.config.field_docs`) followed by ``default_note``."""
    for section, name, default, doc in _config_flags(sections):
        flags = ["--" + name.replace("_", "-")] + FLAG_ALIASES.get(name, [])
        help_text = f"{section}.{name}: {doc}{default_note}".replace("%", "%%")
        if isinstance(default, bool):
            group.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None,
                               help=help_text)
        else:
            group.add_argument(*flags, dest=name, type=_setting_type(type(default)), default=None, help=help_text)


def _flag_overrides(args, sections=TRAIN_FLAG_SECTIONS) -> dict:
    """``{section: {field: value}}`` of the setting flags given on the command line (see :func:`_add_setting_flags`)."""
    overrides = {}
    for section, name, _, _ in _config_flags(sections):
        value = getattr(args, name)
        if value is not None:
            overrides.setdefault(section, {})[name] = value
    return overrides


def _setting_type(kind):
    """The argparse ``type`` of a setting's flag: ``kind`` (int, float or str) of its text. An integer too
    long for Python to read is left to the config's bounds, which refuse it by name; text that is no
    number is a usage error that echoes it cut to :func:`~deepaccomp.errors.brief`'s length."""
    def parse(text):
        try:
            return read_integer(text) if kind is int else kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid {kind.__name__} value: {brief(repr(text))}") from None

    parse.__name__ = kind.__name__
    return parse


def build_train_config(args):
    """The run's :class:`~deepaccomp.config.Config`: ``--config`` or ``--preset``, then the flags given."""
    if args.config and args.preset:
        raise ConfigError("give --config or --preset, not both")
    cfg = Config.load(args.config) if args.config else preset(args.preset or "default")
    overrides = _flag_overrides(args)
    if getattr(args, "source", None) is not None:
        overrides["data"] = {"source": args.source}
    source_format = getattr(args, "source_format", None)
    layout = getattr(args, "layout", None) or FORMAT_LAYOUTS.get(source_format)
    if layout:
        cfg = cfg.with_layout(layout)
    if source_format is not None:
        overrides.setdefault("data", {})["format"] = source_format
    return cfg.replace(**overrides) if overrides else cfg


def cmd_train(args):
    cfg = build_train_config(args)
    from .training import train  # prints the TensorBoard hint once the run really starts

    train(cfg, args.logdir, progress=not args.no_progress, dataset_dir=args.dataset_dir)
    return 0


def _add_generate(sub):
    p = sub.add_parser("generate", help="add an accompaniment to a melody MIDI file")
    p.add_argument("melody", help="input MIDI file (the melody)")
    p.add_argument("-o", "--output", required=True, help="output MIDI file")
    p.add_argument("--seed", type=int, default=None, help="make the result reproducible")
    p.add_argument("--model", default=None, help="a shipped model's name (chorale, pop) or an exported "
                   "generator.npz (default: chorale)")
    p.add_argument("--programs", default=None,
                   help="instrument preset for voice layouts (choir, piano, strings, organ, winds, brass) or one "
                        "General MIDI program per accompaniment track, e.g. 40,41,42 for alto,tenor,bass "
                        "(default: the model layout's programs; choir for satb)")
    p.add_argument("--melody-track", type=int, default=None, help="instrument index of the melody")
    p.add_argument("--pickup", type=float, default=None,
                   help="beats from the first note to the first downbeat (default: from the file, else estimated)")
    p.add_argument("--png", default=None, help="also write a piano-roll picture of the result")
    p.add_argument("--keep", default=None,
                   help="a previous result of this melody (a file generate wrote, possibly edited) to keep but for "
                        "--regenerate")
    p.add_argument("--regenerate", default=None, metavar="BARS[:TRACKS]",
                   help="with --keep: the bars and tracks to draw again, e.g. 5-8 or 5-8:tenor,bass (bar 1 the "
                        "first whole bar, a pickup bar 0; default tracks: all); every other note is kept")
    group = p.add_argument_group("generation settings", "decoding and noise for this call (default: the model's "
                                                        "own, from its file); e.g. --onset-cost 1 for longer notes")
    _add_setting_flags(group, ("generation",), " (default: the model's)")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args):
    # Fail fast, before the model file is read: unwritable outputs, bad input file.
    from . import artifact, inference  # numpy only: no TensorFlow

    model = artifact.model_path(args.model)  # a shipped model's name or a path
    check_output_path(args.output)
    check_not_inputs(args.output, [args.melody, model])
    if args.png:
        from .visualization import check_image_path

        check_not_inputs(args.png, [args.melody, model, args.output])
        check_image_path(args.png)
    check_seed(args.seed, "--seed")
    melody = read_midi(args.melody)
    keep = None if args.keep is None else read_midi(args.keep)
    programs = args.programs
    if programs is not None and ("," in programs or programs.isdigit()):
        try:
            programs = [int(p) for p in programs.split(",")]
        except ValueError:
            raise ConfigError(f"--programs {brief(repr(args.programs))}: give a preset name or numbers "
                              "like 40,41,42") from None
    # the model file is read and verified once: its layout and settings check the flags, then it generates
    generator, config = inference.load(model)
    from .accompanist import DEFAULT_VELOCITY, SUPPORTED_METERS, Accompanist, Selection
    from .piece import read_piece, to_pretty_midi

    if (keep is None) != (args.regenerate is None):
        raise ConfigError("--keep and --regenerate go together: --keep PREVIOUS.mid --regenerate 5-8[:tenor,bass]")
    regenerate = None if args.regenerate is None else Selection.of(args.regenerate)

    decoding = _flag_overrides(args, ("generation",)).get("generation", {})
    settings = config.generation.replace(**decoding)  # the generation flags, checked on the model's own settings
    # read once, as Accompanist.read does: the melody's limits (notes, bars), meter and bars, before the model
    melody = read_piece(melody, config.track_layout, tracks="melody", melody_track=args.melody_track,
                        pickup=args.pickup, meters=SUPPORTED_METERS, estimate_pickup=settings.estimate_pickup)
    config.track_layout.resolve_programs(programs)
    acc = Accompanist.from_generator(generator, config)
    piece = acc.generate_piece(melody, seed=args.seed, decoding=decoding, keep=keep, regenerate=regenerate)
    result = to_pretty_midi(piece, programs=programs, velocity=DEFAULT_VELOCITY)
    write_midi(result, args.output)
    print(f"wrote {args.output}: melody + {piece.roll.shape[2] - 1} accompaniment parts "
          f"({', '.join(acc.layout.accompaniment_names)})")
    if args.png:
        from .visualization import plot_midi, save_figure

        save_figure(plot_midi(result), args.png)
        print(f"wrote {args.png}")
    return 0


def _add_combine(sub):
    p = sub.add_parser("combine", help="join separately trained generators into one model that averages them")
    p.add_argument("models", nargs="+", help="two or more generator.npz files (or run folders holding one)")
    p.add_argument("-o", "--output", required=True, help="the ensemble's model file")
    p.add_argument("--generation", default=None,
                   help="a config.json whose generation settings the ensemble gets (default: the first model's)")
    p.add_argument("--mean", default=None, choices=ENSEMBLE_MEANS,
                   help="how the outputs are joined: their mean value or their mean log-odds (default: the first "
                        "model's model.ensemble_mean)")
    p.set_defaults(func=cmd_combine)


def cmd_combine(args):
    from . import artifact  # numpy only: no network is built

    check_output_path(args.output)
    check_not_inputs(args.output, args.models + ([args.generation] if args.generation else []))
    generation = Config.load(args.generation).to_dict()["generation"] if args.generation else None
    cfg = artifact.combine(args.models, args.output, generation=generation, ensemble_mean=args.mean)
    print(f"wrote {args.output}: an ensemble of {cfg.model.ensemble} generators")
    return 0


def make_parser():
    parser = argparse.ArgumentParser(
        prog="deepaccomp",
        description="Add a GAN accompaniment (alto, tenor, bass, or the tracks of another layout) to a melody: "
                    "prepare data, train, generate.")
    parser.add_argument("--verbose", action="store_true", help="print tracebacks of errors")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_prepare(sub)
    _add_train(sub)
    _add_generate(sub)
    _add_combine(sub)
    __import__("deepaccomp.studio.cli", fromlist=["add_studio_parser"]).add_studio_parser(sub)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit status (0, 1 for a deepaccomp error, 130 for Ctrl-C).

    Ctrl-C at any moment (parsing, importing TensorFlow, working) prints one
    line, never a traceback.
    """
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("deepaccomp: interrupted", file=sys.stderr)
        return 130


def _main(argv) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # bare `deepaccomp`: the whole help, on stdout; status 2 as for any other usage
        # error, so a script that forgot its subcommand does not pass for a success
        parser.print_help()
        return 2
    # deepaccomp._tf hides TensorFlow's start-up chatter unless the level is 0 (--verbose shows it)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if args.verbose else "3")
    try:
        return args.func(args)
    except DeepAccompError as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"deepaccomp: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"deepaccomp: interrupted{f' by {exc}' if str(exc) else ''}", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
