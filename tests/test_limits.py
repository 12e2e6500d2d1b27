"""Memory and time are bounded by what the user asked, not by what a file claims.

Each case runs in its own process, started by a small wrapper that reports the
process's peak resident memory (``ru_maxrss`` of its only child) and its wall
time. The bounds are those of docs/errors.md ("Limits"): anything beyond a limit
is refused within seconds and under 2 GB, anything within finishes under 2 GB.
The time bounds are generous "does not hang" bounds for a slow, shared 2-core
machine, not speed measurements.
"""

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from helpers import TINY_MODEL, make_midi, mido_bytes, tempo

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=600)
print(json.dumps({"rc": proc.returncode, "seconds": time.perf_counter() - t, "stderr": proc.stderr,
                  "stdout": proc.stdout,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

GB = 1024


def measured(*args, cwd):
    """Run ``python *args`` in a fresh process: ``{rc, seconds, peak_mb, stdout, stderr}``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = subprocess.run([sys.executable, "-c", WRAPPER, sys.executable, *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def generate(tmp_path, data: bytes, *extra):
    path = tmp_path / "melody.mid"
    path.write_bytes(data)
    return measured("-m", "deepaccomp", "generate", str(path), "-o", str(tmp_path / "out.mid"), *extra,
                    cwd=tmp_path)


def refused(result, fragment, *, seconds=20, peak_mb=GB // 2):
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert result["rc"] == 1, result
    assert len(lines) == 1 and lines[0].startswith("deepaccomp: error: ") and fragment in lines[0], lines
    assert result["seconds"] < seconds, result["seconds"]
    assert result["peak_mb"] < peak_mb, result["peak_mb"]


# ---------------------------------------------------------------------- melody files


def test_a_51_byte_file_with_a_note_two_hours_in(tmp_path):
    # before: 8.6 GB and 38 s, then two hours of accompaniment written with exit 0
    data = mido_bytes([(60, 0, 1), (62, 28_800, 28_801)], [tempo(0, 240)], resolution=1)
    refused(generate(tmp_path, data), "too long or damaged")
    assert not (tmp_path / "out.mid").exists()


def dense_file(n_bytes: int) -> bytes:
    """One track of 40-note chords, 16th notes apart, running status: about 3 bytes per event."""
    block = bytes([0, 0x90, 40, 80]) + b"".join(bytes([0, p, 80]) for p in range(41, 80)) + \
        bytes([0x60, 40, 0]) + b"".join(bytes([0, p, 0]) for p in range(41, 80))
    track = block * (n_bytes // len(block))
    return b"MThd" + (6).to_bytes(4, "big") + b"\x00\x00\x00\x01\x01\xe0" + b"MTrk" + len(track).to_bytes(4, "big") + track


def test_a_dense_10_mb_file(tmp_path):
    # before: 5.6 GB and 400 s, then exit 0
    refused(generate(tmp_path, dense_file(10_000_000)), "MIDI events")


def test_a_60_mib_file(tmp_path):
    # before: below the 64 MiB limit of the time, so parsed: gigabytes and minutes
    refused(generate(tmp_path, dense_file(60 * 2**20)), "too large for a MIDI file")


def test_the_longest_melody_within_the_limit_is_accompanied_in_bounded_memory(tmp_path):
    # 512 bars of 16th notes (8,192 steps) with the shipped model: one call would take
    # over 1.5 GB more; in chunks of 128 bars it stays near the model's own memory
    notes = [(60 + (0, 2, 4, 5, 7, 9, 11, 12)[i % 8], i / 4, (i + 1) / 4) for i in range(512 * 16)]
    buf = io.BytesIO()
    make_midi([("melody", 0, notes)]).write(buf)
    result = generate(tmp_path, buf.getvalue())
    assert result["rc"] == 0, result["stderr"]
    assert result["peak_mb"] < 2 * GB and result["seconds"] < 300, result


def test_many_long_melodies_in_one_batch_are_split(tmp_path):
    # 40 melodies of 128 bars: 5.2 million cells, in calls of at most 2**19
    script = tmp_path / "batch.py"
    script.write_text(
        "import numpy as np\n"
        "from deepaccomp import Accompanist\n"
        "rng = np.random.default_rng(0)\n"
        "melodies = [np.zeros((2048, 128, 1), bool) for _ in range(40)]\n"
        "for m in melodies:\n"
        "    m[np.arange(2048), 60 + rng.integers(0, 12, 2048), 0] = True\n"
        "out = Accompanist().accompany(melodies, seed=0)\n"
        "assert [o.shape for o in out] == [(2048, 128, 3)] * 40\n")
    result = measured(str(script), cwd=tmp_path)
    assert result["rc"] == 0, result["stderr"]
    assert result["peak_mb"] < 2 * GB and result["seconds"] < 300, result


# ---------------------------------------------------------------------- model files


def tiny_meta(**config_model):
    from deepaccomp import preset

    cfg = preset("default").replace(model={**TINY_MODEL, **config_model}, data={"phrase_bars": 1})
    return cfg, {"format": "deepaccomp-generator", "version": 1, "config": cfg.to_dict(),
                 "n_weights": len(cfg.generator_weight_shapes()), "sha256": "0" * 64}


def npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def load_model(tmp_path, path):
    return measured("-c", f"from deepaccomp import Accompanist\nAccompanist.load({str(path)!r})", cwd=tmp_path)


def test_a_small_model_file_that_decompresses_to_a_gigabyte(tmp_path):
    # 4.7 MB on disk; before: the 1 GiB array was decompressed and copied (2.7 GB)
    _, meta = tiny_meta()
    path = tmp_path / "generator.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("meta.npy", npy(np.frombuffer(json.dumps(meta).encode(), np.uint8)))
        with zf.open("w000.npy", "w", force_zip64=True) as fh:
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                          "shape": (2**28,)})
            fh.write(header.getvalue())
            for _ in range(1024):
                fh.write(bytes(2**20))
    assert path.stat().st_size < 10 * 2**20
    result = load_model(tmp_path, path)
    assert result["rc"] == 1 and "decompress to 10737" in result["stderr"], result
    assert result["peak_mb"] < GB and result["seconds"] < 60, result


def test_a_model_file_asking_for_an_enormous_network(tmp_path):
    # a valid checksum (anyone can recompute it) over a config of 4096-filter layers:
    # before, the network was built (over 10 GB) before its weights were compared
    from deepaccomp.artifact import weights_digest

    cfg, meta = tiny_meta()
    weights = [np.zeros(shape, np.float32) for shape in cfg.generator_weight_shapes()]
    meta["config"]["model"].update(encoder_filters=[4096] * 4, decoder_filters=[4096] * 3, noise_channels=4096)
    meta["sha256"] = weights_digest(weights, meta["config"])
    path = tmp_path / "generator.npz"
    np.savez(path, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
             **{f"w{i:03d}": w for i, w in enumerate(weights)})
    result = load_model(tmp_path, path)
    assert result["rc"] == 1 and "must be <= 1024" in result["stderr"], result
    assert result["peak_mb"] < GB and result["seconds"] < 60, result


def test_a_zip64_archive_of_100000_members_is_reported_with_its_true_count(tmp_path):
    # before: "holds 65535 members" (the end record's field is full in a zip64 archive)
    from deepaccomp import artifact
    from deepaccomp.errors import ModelFileError

    path = tmp_path / "generator.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(100_000):
            zf.writestr(f"w{i:06d}.npy", b"")
    with pytest.raises(ModelFileError, match="holds 100,000 members; a deepaccomp model holds at most 257"):
        artifact.read(path)


def test_an_archive_understating_its_members_is_refused_by_its_directory_size(tmp_path):
    # zipfile reads every entry of the central directory whatever count the end record states
    from deepaccomp import artifact
    from deepaccomp.errors import ModelFileError

    path = tmp_path / "generator.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(20_000):
            zf.writestr(f"w{i:06d}.npy", b"")
    data = bytearray(path.read_bytes())
    end = data.rfind(b"PK\x05\x06")
    data[end + 8:end + 12] = (3).to_bytes(2, "little") * 2  # "3 members"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="the archive's directory is .* bytes, more than the 263,168"):
        artifact.read(path)
