"""Figures the docs quote from a file or from the code are the figures of that file or code.

Each row of :data:`FIGURES` names a page, a regular expression that finds the
sentence quoting the figures (its groups capture them) and a function that
computes the same figures, as the page writes them, from their source: the
shipped model's ``evaluation.json`` and ``config.json``, the presets
(``deepaccomp.config``), or a constant of the code. A re-shipped model, a changed
preset or a new metric that the docs do not follow fails here; so does a
sentence reworded so that its figure is no longer found (then update the row).
Pages are compared with their whitespace collapsed, so line breaks do not matter.

docs/model_card.md must be exactly its rendering from the shipped files by
scripts/train_default_model.py. The figures of the built chorale dataset
(reference metrics, voice ranges, phrase counts), the critic formula against
Keras and representation.md's pickup table (scripts/measure_pickup.py's output,
about a minute) are slow tests. Everything else reads files and configs only (no
TensorFlow) and takes about a second.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import os
import re
from functools import lru_cache
from typing import Callable, NamedTuple

import numpy as np
import pytest

from helpers import script_module

from deepaccomp import cli
from deepaccomp.config import COUNT_SETTINGS, SECTIONS, Config, preset
from deepaccomp.metrics import logged_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "deepaccomp", "assets", "default_model")
NUM = r"(\d[\d,]*(?:\.\d+)?)"
"""One figure as the docs write it: digits, thousands commas, decimals."""


# ---------------------------------------------------------------------- sources
def doc_path(name: str) -> str:
    """``README.md`` or ``docs/NAME``, relative to the repository."""
    return name if name == "README.md" else f"docs/{name}"


@lru_cache(maxsize=None)
def page(name: str) -> str:
    """A doc page (``README.md`` or a file of docs/) with every run of whitespace made one space."""
    with open(os.path.join(ROOT, doc_path(name)), encoding="utf-8") as fh:
        return " ".join(fh.read().split())


@lru_cache(maxsize=None)
def evaluation() -> dict:
    """The shipped model's evaluation.json."""
    with open(os.path.join(SHIPPED, "evaluation.json"), encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=None)
def shipped() -> Config:
    """The shipped model's config.json."""
    return Config.load(os.path.join(SHIPPED, "config.json"))


def module_constant(module: str, name: str):
    """A literal constant of a deepaccomp module, read from its source (no import: some modules load TensorFlow)."""
    path = os.path.join(ROOT, "deepaccomp", *module.split(".")) + ".py"
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(node.value)
    raise LookupError(f"deepaccomp/{module}.py has no constant {name}")


def studio_info_keys() -> list:
    """The keys of the answer of ``GET /api/info``, read from deepaccomp/studio/app.py."""
    with open(os.path.join(ROOT, "deepaccomp", "studio", "app.py"), encoding="utf-8") as fh:
        tree = ast.parse(fh.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef) and node.name == "info":
            answer = next(n.value for n in ast.walk(node) if isinstance(n, ast.Return))
            return [k.value for k in answer.keys]
    raise LookupError("deepaccomp/studio/app.py has no info() handler")


# ---------------------------------------------------------------------- computed figures
def critic_params(cfg: Config) -> int:
    """Parameters of ``models.build_critic(cfg)``, computed from the config (checked against Keras in a slow test)."""
    m, k = cfg.model, cfg.model.kernel_size
    channels = m.output_tracks + cfg.melody_channels + ((m.output_tracks + 1) if m.critic_octaves else 0)
    steps, size, total = cfg.phrase_steps, cfg.window.size, 0
    for f in m.critic_filters:
        total += k * k * channels * f + f + (2 * f if m.critic_norm == "layer" else 0)
        channels, steps, size = f, math.ceil(steps / 2), math.ceil(size / 2)
    return total + steps * size * channels + 1


def generator_non_trainable(cfg: Config) -> int:
    """The generator's batch-norm moving means and variances (every level but the first encoder one)."""
    m = cfg.model
    return 2 * (sum(m.encoder_filters[1:]) + sum(m.decoder_filters)) * m.ensemble


def thousands(n) -> str:
    return f"{int(n):,}"


def dec(x, places: int = 3) -> str:
    """``x`` with ``places`` decimals, rounded as the model card rounds (Python's float formatting)."""
    return f"{float(x):.{places}f}"


def g(x) -> str:
    return f"{x:g}"


def mean(values) -> float:
    return float(np.mean(values))


def phrases_per_iteration(name: str) -> int:
    t = preset(name).train
    return t.batch_size * t.critic_updates


def shipped_figure(key: str, voice: int | None = None):
    value = evaluation()["model"][key]
    return value if voice is None else value[voice]


def ablation_row(start: str) -> dict:
    """The row of the model card's training ablation whose label starts with ``start``."""
    rows = evaluation()["training_ablation"]["results"]
    return next(v for k, v in rows.items() if k.startswith(start))


def noise_search(scale: float) -> dict:
    """The valid-split row of the noise-scale search at ``scale`` (the other settings as shipped)."""
    return next(r for r in evaluation()["valid_search"]["noise_scale"] if r["noise_scale"] == scale)


def timing() -> dict:
    return evaluation()["training_timing"]


def splits() -> dict:
    return evaluation()["dataset"]["splits"]


def pickup_table_means() -> tuple:
    """Means of rows (a) and (b) of representation.md's own pickup table."""
    rows = dict(re.findall(r"\| \((\w)\) [^|]+ \| [^|]+ \| [^|]+ \| [^|]+ \| (\d\.\d+) \|", page("representation.md")))
    return rows["a"], rows["b"]


def params(name: str) -> tuple:
    """``(generator, critic)`` parameter counts of a preset, as the docs write them (``1,580,355``)."""
    cfg = preset(name)
    return thousands(cfg.generator_params), thousands(critic_params(cfg))


class Figure(NamedTuple):
    """A figure quoted by a page: where (``pattern``'s groups) and what it must be (``expected()``, from ``source``)."""

    page: str
    pattern: str
    expected: Callable[[], tuple]
    source: str


FIGURES = [
    # parameter counts: Config.generator_params and the critic formula above
    Figure("training.md", r"\| generator / critic parameters \| {0} / {0} \| {0} / {0} \|".format(NUM),
           lambda: params("deepcomposer") + params("default"),
           "the presets"),
    Figure("training.md", r"a 5× smaller generator \({0} parameters against {0}\)".format(NUM),
           lambda: (params("default")[0], params("deepcomposer")[0]),
           "the presets"),
    Figure("comparison.md", r"\| the same, {0} \+ {0} \| U-Net GAN, {0} \+ {0} \|".format(NUM),
           lambda: params("deepcomposer") + params("default"),
           "the presets"),
    Figure("comparison.md", r"time axis of any length\. {0} generator and {0} critic parameters".format(NUM),
           lambda: params("default"),
           "the presets"),
    Figure("comparison.md", r"`scripts/model_summary\.py` prints {0} parameters \({0} non-trainable\) and {0}".format(NUM),
           lambda: (params("deepcomposer")[0], thousands(generator_non_trainable(preset("deepcomposer"))),
                    params("deepcomposer")[1]),
           "the deepcomposer preset"),
    Figure("architecture.md", r"Parameters: {0} for `deepcomposer`, {0} for `default`.{{0,200}}?double it: {0}\)".format(NUM),
           lambda: (params("deepcomposer")[1], params("default")[1],
                    thousands(critic_params(preset("default").replace(data={"phrase_bars": 4})))),
           "the presets' critics"),
    Figure("scaling.md", r"\(`default`: {0} M generator and {0} M critic parameters".format(NUM),
           lambda: (f"{preset('default').generator_params / 1e6:.2f}", f"{critic_params(preset('default')) / 1e6:.2f}"),
           "the default preset"),
    # the noise scale and the seed differences it was chosen for
    Figure("training.md", r"the shipped model and the `default` preset use {0}\)".format(NUM),
           lambda: (g(shipped().generation.noise_scale),), "config.json"),
    Figure("training.md", r"threshold −{0}, onset cost {0}, parallel cost {0}, leap cost {0}, bass notes of 2 steps or "
                          r"more at {0} of the onset cost, balance cost {0} \(against the model's own moves; the bass {0} times "
                          r"that\), "
                          r"dissonance cost {0}, bare-beat cost {0}, cost {0} of moving with the melody, vertical cost "
                          r"{0} \(against the model's own intervals between voices\), re-strikes read below {0}, "
                          r"noise scale {0} \(chosen on valid; the shipped model's settings\)".format(NUM),
           lambda: tuple(g(getattr(shipped().generation, f) * (-1 if f == "decode_threshold" else 1)) for f in (
               "decode_threshold", "onset_cost", "parallel_cost", "leap_cost", "lowest_onset_factor", "balance_cost",
               "lowest_balance_factor", "dissonance_cost", "bare_cost", "similar_cost", "vertical_cost",
               "restrike_threshold", "noise_scale")),
           "config.json"),
    Figure("architecture.md", r"the shipped model generates with {0}, chosen on the valid split".format(NUM),
           lambda: (g(shipped().generation.noise_scale),), "config.json"),
    Figure("architecture.md", r"seeds differ by {0} instead of {0}, agreement {0} against {0}".format(NUM),
           lambda: (dec(noise_search(shipped().generation.noise_scale)["seed_difference"]),
                    dec(noise_search(1.0)["seed_difference"]),
                    dec(noise_search(shipped().generation.noise_scale)["harmonic_agreement"]),
                    dec(noise_search(1.0)["harmonic_agreement"])),
           "evaluation.json: valid_search.noise_scale"),
    # per-voice figures of the shipped model (test split)
    Figure("training.md", r"the shipped ensemble's bass scores {0} \(the model card\)".format(NUM),
           lambda: (dec(shipped_figure("harmonic_agreement", 2)),), "evaluation.json: model"),
    Figure("training.md", r"Agreement is {0} / {0} / {0} \(mean {0}\)".format(NUM),
           lambda: tuple(dec(v) for v in shipped_figure("harmonic_agreement"))
           + (dec(mean(shipped_figure("harmonic_agreement"))),),
           "evaluation.json: model"),
    Figure("training.md", r"consonance \({0} / {0} / {0}\), in-scale \({0} / {0} / {0}\), empty bars and seed "
                          r"difference \({0}\)".format(NUM),
           lambda: tuple(dec(v) for v in shipped_figure("consonance_with_melody") + shipped_figure("in_scale_ratio"))
           + (dec(shipped_figure("seed_difference")),),
           "evaluation.json: model"),
    Figure("representation.md", r"against {0} / {0} / {0} \({0}\) on the 4/4 test chorales".format(NUM),
           lambda: tuple(dec(v) for v in shipped_figure("harmonic_agreement"))
           + (dec(mean(shipped_figure("harmonic_agreement"))),),
           "evaluation.json: model"),
    Figure("comparison.md", r"scores harmonic agreement {0} / {0} / {0} \(alto / tenor / bass\), consonance {0} / {0} / "
                            r"{0} and in-scale {0} / {0} / {0}".format(NUM),
           lambda: tuple(dec(v, 2) for v in shipped_figure("harmonic_agreement") + shipped_figure("consonance_with_melody")
                         + shipped_figure("in_scale_ratio")),
           "evaluation.json: model"),
    Figure("monitoring.md", r"Doubling the melody in octaves scores about {0}, and random in-key notes {0} to {0}".format(NUM),
           lambda: (dec(mean(evaluation()["melody_doubled"]["harmonic_agreement"]), 2),
                    dec(min(evaluation()["random_in_key"]["harmonic_agreement"]), 2),
                    dec(max(evaluation()["random_in_key"]["harmonic_agreement"]), 2)),
           "evaluation.json: baselines"),
    Figure("representation.md", r"harmonic agreement drops from {0} to {0} \(table below\)".format(NUM),
           pickup_table_means, "its own pickup table"),
    # the shipped model's training time
    Figure("comparison.md", r"The shipped model is two runs of the `default` preset averaged \({0} generators, {0} "
                            r"iterations in all\): {0} s of training".format(NUM),
           lambda: (str(timing()["generators"]), thousands(timing()["iterations"]),
                    thousands(timing()["training_seconds"])),
           "evaluation.json: training_timing"),
    Figure("README.md", r"The shipped chorale model averages (two) such runs .{{0,300}}?took {0} s summed".format(NUM),
           lambda: ({2: "two"}.get(timing()["generators"]), thousands(timing()["training_seconds"])),
           "evaluation.json: training_timing"),
    Figure("training.md", r"the shipped model's two runs \({0} iterations\) took {0} s summed".format(NUM),
           lambda: (thousands(timing()["iterations"]), thousands(timing()["training_seconds"])),
           "evaluation.json: training_timing"),
    Figure("training.md", r"\({0} s and {0} s, {0} s summed in the model card\)".format(NUM),
           lambda: _run_seconds_summed(), "evaluation.json: training_timing"),
    # the split of the built dataset, as the model's evaluation.json records it
    Figure("comparison.md", r"\| {0} test \+ {0} valid chorales \|".format(NUM),
           lambda: (str(splits()["test"]), str(splits()["valid"])), "evaluation.json: dataset"),
    Figure("comparison.md", r"The {0} test chorales are never trained on, and the {0} validation chorales".format(NUM),
           lambda: (str(splits()["test"]), str(splits()["valid"])), "evaluation.json: dataset"),
    Figure("comparison.md", r"train phrases from {0} chorales".format(NUM),
           lambda: (str(splits()["train"]),), "evaluation.json: dataset"),
    Figure("monitoring.md", r"For the whole train split \({0} chorales\)".format(NUM),
           lambda: (str(splits()["train"]),), "evaluation.json: dataset"),
    Figure("model_card.md", r"Train {0}, valid {0}, test {0}\.".format(NUM),
           lambda: tuple(str(splits()[s]) for s in ("train", "valid", "test")), "evaluation.json: dataset"),
    Figure("representation.md", r"\| train \| {0} \| [\d,]+ \| [\d,]+ \| \| valid \| {0} \| [\d,]+ \| [\d,]+ \| "
                                r"\| test \| {0} \|".format(NUM),
           lambda: tuple(str(splits()[s]) for s in ("train", "valid", "test")), "evaluation.json: dataset"),
    # logged metrics
    Figure("monitoring.md", r"`<metric>` is one of the {0} metrics of `EVAL_METRICS`: (.+?) \(\[metrics\.md\]".format(NUM),
           lambda: (str(len(logged_metrics())), ", ".join(f"`{m}`" for m in logged_metrics())),
           "deepaccomp/monitoring.py: EVAL_METRICS"),
    Figure("monitoring.md", r"A drum track logs (.+?) instead \(`DRUM_METRICS`\)",
           lambda: (_words(logged_metrics(drums=True)),),
           "deepaccomp/monitoring.py: DRUM_METRICS"),
    Figure("monitoring.md", r"The second figure draws (\w+) of the {0} logged metrics".format(NUM),
           lambda: (_spelled(len(module_constant("visualization", "RUN_METRICS"))),
                    str(len(logged_metrics()))),
           "RUN_METRICS, EVAL_METRICS"),
    # phrases per iteration and batch sizes of the presets
    Figure("training.md", r"\| iterations \(generator updates\) \| {0} \| {0} \| \| batch size \| {0} \| {0} \| "
                          r"\| critic updates per generator update \| {0} \| {0} \|".format(NUM),
           lambda: tuple(thousands(getattr(preset(p).train, f)) for f in ("iterations", "batch_size", "critic_updates")
                         for p in ("deepcomposer", "default")),
           "the presets"),
    Figure("training.md", r"That is {0} × {0} × {0} = {0} phrases for `deepcomposer`, about {0} passes over the train "
                          r"split, and {0} × {0} × {0} = {0} for `default`".format(NUM),
           lambda: _passes("deepcomposer") + _passes("default")[:4],
           "the presets"),
    Figure("performance.md", r"against the {0} phrases per iteration the `default` preset consumes \(`batch_size` {0} × "
                             r"{0} critic updates".format(NUM),
           lambda: (str(phrases_per_iteration("default")), str(preset("default").train.batch_size),
                    str(preset("default").train.critic_updates)),
           "the default preset"),
    Figure("performance.md", r"it is now {0} × {0} = {0}\)".format(NUM),
           lambda: (str(preset("default").train.batch_size), str(preset("default").train.critic_updates),
                    str(phrases_per_iteration("default"))),
           "the default preset"),
    Figure("performance.md", r"it now uses {0}, `batch_size` {0} × {0} critic updates".format(NUM),
           lambda: (str(phrases_per_iteration("default")), str(preset("default").train.batch_size),
                    str(preset("default").train.critic_updates)),
           "the default preset"),
    Figure("scaling.md", r"the `default` preset consumes `batch_size x critic_updates` = {0} phrases".format(NUM),
           lambda: (str(phrases_per_iteration("default")),), "the default preset"),
    Figure("scaling.md", r"at a preset's own global batch \({0} for `default`, {0} for `deepcomposer`".format(NUM),
           lambda: (str(preset("default").train.batch_size), str(preset("deepcomposer").train.batch_size)),
           "the presets"),
    Figure("README.md", r"The `default` preset \({0}-bar phrases, batch {0}\) trained its {0} iterations".format(NUM),
           lambda: (str(preset("default").data.phrase_bars), str(preset("default").train.batch_size),
                    thousands(preset("default").train.iterations)),
           "the default preset"),
    # the studio
    Figure("studio.md", r"\| `GET /api/info\?model=` \| \| [^|]*?: `\{([\w, ]+)\}`[^|]* \|",
           lambda: (", ".join(studio_info_keys()),), "deepaccomp/studio/app.py: info()"),
]


def _total_params_lines() -> list:
    """The four ``Total params`` lines of architecture.md's generated tables, in the script's order."""
    out = []
    for name in ("deepcomposer", "default"):
        cfg = preset(name)
        n, fixed = cfg.generator_params, generator_non_trainable(cfg)
        out.append((thousands(n), thousands(n - fixed), thousands(fixed)))
        c = critic_params(cfg)
        out.append((thousands(c), thousands(c), "0"))
    return out


def _run_seconds_summed() -> tuple:
    """The two runs' seconds quoted in training.md, with the sum evaluation.json records."""
    quoted = re.search(r"\({0} s and {0} s, {0} s summed in the model card\)".format(NUM), page("training.md"))
    first, second = (int(quoted.group(i).replace(",", "")) for i in (1, 2))
    total = timing()["training_seconds"]
    assert abs(first + second - total) < 1, f"training.md's {first} s + {second} s is not evaluation.json's {total} s"
    return thousands(first), thousands(second), thousands(total)


def _passes(name: str) -> tuple:
    """``(iterations, critic updates, batch, phrases, passes over the train phrases)`` of a preset."""
    t = preset(name).train
    total = t.iterations * t.critic_updates * t.batch_size
    train_phrases = int(re.search(r"the {0} two-bar train phrases of the chorale dataset".format(NUM),
                                  page("training.md")).group(1).replace(",", ""))
    return (thousands(t.iterations), str(t.critic_updates), str(t.batch_size), thousands(total),
            str(round(total / train_phrases)))


def _words(names) -> str:
    quoted = [f"`{n}`" for n in names]
    return ", ".join(quoted[:-1]) + " and " + quoted[-1] if len(quoted) > 1 else quoted[0]


def _spelled(n: int) -> str:
    return ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"][n] if n <= 10 else str(n)


@pytest.mark.parametrize("figure", FIGURES, ids=lambda f: f"{f.page}: {f.pattern[:50]}")
def test_doc_figure_matches_its_source(figure):
    found = re.search(figure.pattern, page(figure.page))
    assert found, (f"{doc_path(figure.page)}: the sentence quoting {figure.source} was not found (reworded?); "
                   f"update its row in tests/test_doc_figures.py: {figure.pattern}")
    expected = tuple(figure.expected())
    assert found.groups() == expected, (f"{figure.page} quotes {found.groups()} where {figure.source} gives "
                                        f"{expected}: update the page")


def test_architecture_md_total_params_are_the_configs():
    """The generated layer tables' totals (generator and critic of each preset, in the script's order)."""
    found = re.findall(r"Total params: \*\*{0}\*\* \(trainable {0}, non-trainable {0}\)".format(NUM),
                       page("architecture.md"))
    assert found == _total_params_lines(), "re-run python scripts/model_summary.py and paste its tables"


# ---------------------------------------------------------------------- config tables of training.md
def _config_table(section: str) -> list:
    """``[(field names, cells)]`` of training.md's table for a config section (``### `XConfig` ``)."""
    text = open(os.path.join(ROOT, "docs", "training.md"), encoding="utf-8").read()
    body = text.split(f"### `{SECTIONS[section].__name__}`", 1)[1].split("\n#", 1)[0]
    rows = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        if line.startswith("| `"):
            rows.append((re.findall(r"`(\w+)`", cells[0]), cells[1:]))
    return rows


def _cell_values(cell: str) -> list:
    """The values a table cell writes: ``"notes"``, ``True``, ``−0.5``, ``1e-3``, ``(64, 128)``, ``0.5, 0.9``."""
    text = cell.replace("`", "").replace("−", "-")
    value = ast.literal_eval(text)
    return list(value) if isinstance(value, tuple) and not text.startswith("(") else [value]


@pytest.mark.parametrize("section", list(SECTIONS))
def test_training_md_lists_every_setting_of_each_config_section_once(section):
    listed = [name for names, _ in _config_table(section) for name in names]
    fields = [f for f in SECTIONS[section].__dataclass_fields__]
    assert sorted(listed) == sorted(fields), (f"docs/training.md's {SECTIONS[section].__name__} table lists "
                                              f"{sorted(set(listed) ^ set(fields))} wrongly (missing, extra or "
                                              "in another section)")


@pytest.mark.parametrize("section", list(SECTIONS))
def test_training_md_class_defaults_are_the_code(section):
    cls = SECTIONS[section]
    wrong = []
    for names, cells in _config_table(section):
        values = _cell_values(cells[0])
        if len(values) == 1 and len(names) > 1:
            values = values * len(names)  # "generator_lr, critic_lr | 1e-3"
        actual = [getattr(cls(), n) for n in names]
        if values != actual:
            wrong.append(f"{names}: {cells[0]} (the code: {actual})")
    assert not wrong, f"docs/training.md's {cls.__name__} defaults: " + "; ".join(wrong)


def test_training_md_default_preset_column_is_the_preset_and_the_shipped_model():
    default, ship = preset("default").generation, shipped().generation
    wrong = []
    for names, cells in _config_table("generation"):
        (name,) = names
        (value,) = _cell_values(cells[1])
        if f"generation.{name}" in COUNT_SETTINGS:  # model data: the preset cannot hold a model's counts
            if not value == getattr(default, name) == () or len(getattr(ship, name)) != COUNT_SETTINGS[
                    f"generation.{name}"]:
                wrong.append(f"{name}: {cells[1]} (preset {getattr(default, name)!r}, shipped "
                             f"{len(getattr(ship, name))} counts)")
            continue
        if not value == getattr(default, name) == getattr(ship, name):
            wrong.append(f"{name}: {cells[1]} (preset {getattr(default, name)!r}, shipped {getattr(ship, name)!r})")
    assert not wrong, "docs/training.md's GenerationConfig `default` column: " + "; ".join(wrong)


def _train_flags() -> set:
    """The options ``deepaccomp train --help`` lists."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        cli.make_parser().parse_args(["train", "--help"])
    return set(re.findall(r"--[\w-]+", out.getvalue()))


def test_every_train_and_generation_setting_has_the_flag_training_md_promises():
    """training.md: every `train` and `generation` setting has a flag; the flags it names exist."""
    assert "Every `train` and `generation` setting has a flag of the same name with dashes" in page("training.md")
    flags = _train_flags()
    missing = [f"--{f.replace('_', '-')}" for s in ("train", "generation") for f in SECTIONS[s].__dataclass_fields__
               if f"--{f.replace('_', '-')}" not in flags and f"{s}.{f}" not in COUNT_SETTINGS]
    assert not missing, f"deepaccomp train has no {missing}, which docs/training.md promises"
    section = page("training.md").split("## Command line", 1)[1].split("Examples:", 1)[0]
    named = set(re.findall(r"(--[a-z][\w-]*)", section))
    assert named and named <= flags, f"docs/training.md names {sorted(named - flags)}, which deepaccomp train lacks"


def test_the_model_card_is_rendered_from_evaluation_json(tmp_path):
    """docs/model_card.md is exactly what scripts/train_default_model.py renders from the shipped files."""
    out = tmp_path / "model_card.md"
    script_module("train_default_model").write_model_card(evaluation(), shipped(), path=str(out))
    with open(os.path.join(ROOT, "docs", "model_card.md"), encoding="utf-8") as fh:
        assert out.read_text(encoding="utf-8") == fh.read(), (
            "docs/model_card.md differs from its rendering of evaluation.json: re-render it "
            "(scripts/train_default_model.py --update-folk or a re-ship), never edit it by hand")


# ---------------------------------------------------------------------- the built dataset (slow)
@pytest.fixture(scope="module")
def chorales():
    from deepaccomp import data

    return data.prepare("chorales", progress=False)[0]


def _quote(page_name: str, pattern: str) -> tuple:
    found = re.search(pattern, page(page_name))
    assert found, f"{doc_path(page_name)}: not found (reworded?): {pattern}"
    return found.groups()


@pytest.mark.slow
def test_reference_metrics_quoted_are_the_built_datasets(chorales):
    ref = chorales.info["reference_metrics"]
    assert _quote("comparison.md", r"`reference_metrics`\) are: distinct pitches per bar {0} / {0} / {0} / {0}, "
                                   r"and in-C-major ratio "
                                   r"{0} / {0} / {0} / {0} \(S / A / T / B\)".format(NUM)) == \
        tuple(dec(v, 2) for v in ref["pitches_used"] + ref["in_scale_ratio"])
    rows = {"pitches_used": 2, "in_scale_ratio": 2, "polyphony": 4, "empty_bar_rate": 4}
    for name, places in rows.items():
        quoted = _quote("monitoring.md", r"\| `{1}`[^|]* \| {0} \| {0} \| {0} \| {0} \|".format(NUM, name))
        assert [float(q) for q in quoted] == [float(dec(v, places)) for v in ref[name]], (name, quoted, ref[name])
    quoted = _quote("monitoring.md", r"\| `consonance_with_melody` \| – \| {0} \| {0} \| {0} \|".format(NUM))
    assert quoted == tuple(dec(v, 2) for v in ref["consonance_with_melody"][1:])


@pytest.mark.slow
def test_voice_ranges_and_phrase_counts_quoted_are_the_built_datasets(chorales):
    kept = [r for r, p in zip(chorales.rolls, chorales.pieces) if p["split"] in ("train", "valid", "test")]
    for t, voice in enumerate(("soprano", "alto", "tenor", "bass")):
        sounding = [np.nonzero(r[:, :, t].any(axis=0))[0] for r in kept]
        expected = (str(min(s.min() for s in sounding)), str(max(s.max() for s in sounding)))
        assert _quote("representation.md", r"\| {1} \| {0} \| {0} \|".format(NUM, voice)) == expected, voice
    assert _quote("representation.md", r"lies in \*\*MIDI {0}\.\.{0}\*\*".format(NUM)) == \
        (str(chorales.info["pitch_min"]), str(chorales.info["pitch_max"]))
    for split in ("train", "valid", "test"):
        counts = (str(len(chorales.indices(split))), thousands(len(chorales.phrases(split, phrase_bars=2))),
                  thousands(len(chorales.phrases(split, phrase_bars=4))))
        assert _quote("representation.md", r"\| {1} \| {0} \| {0} \| {0} \|".format(NUM, split)) == counts, split
    train = thousands(len(chorales.phrases("train", phrase_bars=2)))
    assert _quote("training.md", r"the {0} two-bar train phrases".format(NUM)) == (train,)
    assert _quote("comparison.md", r"which gives {0} train phrases".format(NUM)) == (train,)
    phrases = chorales.phrases("train", phrase_bars=2)
    assert _quote("monitoring.md", r"{0}% of the cells of each track are on, although each voice sounds at {0}% of "
                                   r"the steps \(measured on the {0} train phrases\)".format(NUM)) == \
        (dec(100 * phrases.mean(), 1), str(round(100 * phrases.any(axis=2).mean())), train)


@pytest.mark.slow
def test_critic_parameter_formula_is_keras_count():
    """The formula the doc checks use is what models.build_critic builds (both presets and the options)."""
    from deepaccomp.models import build_critic

    configs = [preset("default"), preset("deepcomposer"), preset("default").replace(data={"phrase_bars": 4}),
               preset("default").replace(model={"critic_octaves": True, "critic_norm": "layer",
                                                "position_channels": True})]
    for cfg in configs:
        assert build_critic(cfg).count_params() == critic_params(cfg), cfg.model


@pytest.mark.slow
def test_pickup_table_is_measure_pickups_output(chorales):
    """representation.md's table of unmarked melodies is what scripts/measure_pickup.py prints for the shipped model."""
    from deepaccomp import Accompanist

    measure = script_module("measure_pickup")
    seeds = tuple(int(s) for s in _quote("representation.md", r"re-strikes included\), seeds {0} and {0}\.".format(NUM)))
    pieces = measure.unmarked_pieces(chorales, "test")
    estimates = measure.phase_accuracy(pieces)[0]
    accompanist = Accompanist()
    results = {name[1]: measure.agreement(accompanist, pieces, inputs, seeds)
               for name, inputs in measure.conditions(pieces, estimates).items()}
    base = float(np.mean(results["a"]))
    for row, v in results.items():
        quoted = _quote("representation.md", r"\| \({1}\) [^|]+ \| {0} \| {0} \| {0} \| {0} \| {0} \|".format(NUM, row))
        assert quoted == tuple(dec(x) for x in (*v, np.mean(v), np.mean(v) / base)), row


@pytest.mark.slow
def test_bachs_moves_are_recounted_from_the_built_dataset(chorales):
    """decoding.BACH_MOVES, the interval cost's table, is what the train split's alto, tenor and bass lines hold."""
    from deepaccomp.decoding import BACH_MOVES
    from deepaccomp.judge import count_moves

    counts = count_moves(chorales.rolls[i] for i in chorales.indices("train"))
    assert {k: tuple(v.tolist()) for k, v in counts.items()} == BACH_MOVES


@pytest.mark.slow
def test_bachs_verticals_are_recounted_from_the_built_dataset(chorales):
    """decoding.BACH_VERTICALS, the vertical cost's table, is what the train split's voices sound at beat onsets."""
    from deepaccomp.decoding import BACH_VERTICALS
    from deepaccomp.judge import count_verticals

    counts = count_verticals(chorales.rolls[i] for i in chorales.indices("train"))
    assert tuple(tuple(row) for row in counts.tolist()) == BACH_VERTICALS
