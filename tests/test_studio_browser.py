"""``deepaccomp studio`` used as a person uses it, in a real headless Chromium.

Starts the real command on a free 127.0.0.1 port, opens the page, uploads the
bundled example, generates, checks that the piano roll shows the melody and
three voices, plays it and checks that the synthesiser produces sound (the
audio clock advances and the output level is above silence), downloads the
MIDI and reads it back with pretty_midi, renders a WAV in the browser and
reads it back, edits notes with the mouse, then enters a melody with the
on-screen and the computer keyboard and generates from it. Then the same command with a
model of another layout (a tiny untrained ``lpd5`` generator: melody, drums, piano,
guitar, bass, strings): the page shows its tracks, one instrument choice per
pitched track and the drum kit for the drums, generates and plays them, and the
downloaded MIDI has the drums on channel 10. Then the Style picker switching between that model and
the shipped one; a melody recorded in time against the metronome (on the page's clock hook, so the
key presses land at exact times) and quantised; and issue 34 end to end: record, choose a model,
generate, edit the accompaniment, regenerate bars 5-8 with bars 1-4 kept, undo, download.

Needs Debian's ``chromium`` and ``chromium-driver`` packages and selenium
(the ``test`` extra); skipped with the reason otherwise. Marked ``slow``
(deselected by ``-m "not slow"``); the README's plain ``pytest`` runs it. Nothing downloads a
browser. Set ``DEEPACCOMP_STUDIO_SCREENSHOT=docs/images/studio.png`` to save
the page's screenshot there (always saved under the test's tmp_path).
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import re
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "deepaccomp" / "assets" / "examples" / "twinkle.mid"
SERVER_START_S = 120
WAIT_S = 60


def _find(*names):
    for name in names:
        path = shutil.which(name) or (f"/usr/bin/{name}" if os.path.exists(f"/usr/bin/{name}") else None)
        if path:
            return path
    return None


CHROMIUM = _find("chromium", "chromium-browser")
CHROMEDRIVER = _find("chromedriver") or ("/usr/lib/chromium/chromedriver"
                                         if os.path.exists("/usr/lib/chromium/chromedriver") else None)

try:
    import selenium  # noqa: F401

    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False

pytestmark = [
    pytest.mark.slow,  # 32 s in all on a shared 2-core machine (two server starts, one browser)
    pytest.mark.skipif(not HAVE_SELENIUM, reason="selenium is not installed (pip install '.[test]')"),
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="no Chromium: install Debian's chromium and chromium-driver packages "
                              "(apt-get install chromium chromium-driver)"),
]


@contextlib.contextmanager
def studio_command(*args):
    """The real ``deepaccomp studio`` command on a free 127.0.0.1 port; yields its URL."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "deepaccomp.cli", "studio", "--port", "0", *args], cwd=ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, lines, deadline = None, [], time.monotonic() + SERVER_START_S
    try:
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if m:
                url = m.group(1)
                break
        if url is None:
            pytest.fail("deepaccomp studio did not print its URL:\n" + "".join(lines))
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def server():
    """The studio with the shipped model."""
    with studio_command() as url:
        yield url


@pytest.fixture(scope="module")
def band_server(band_model):
    """The studio with a tiny untrained model of the ``lpd5`` layout (``--model``)."""
    with studio_command("--model", str(band_model)) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path_factory.mktemp("downloads")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,1500", "--autoplay-policy=no-user-gesture-required",
                # no traffic beyond 127.0.0.1
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-default-apps", "--disable-domain-reliability",
                f"--user-data-dir={tmp_path_factory.mktemp('profile')}"):
        opts.add_argument(arg)
    opts.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                           "download.prompt_for_download": False})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, script, timeout=WAIT_S, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    status = driver.execute_script("return document.getElementById('status').textContent")
    pytest.fail(f"timed out waiting for {what} (status line: {status!r})")


COLOUR_COUNT = """
const c = document.getElementById('result'), g = c.getContext('2d');
const d = g.getImageData(0, 0, c.width, c.height).data;
const want = {melody: [214, 39, 40], alto: [31, 119, 180], tenor: [44, 160, 44], bass: [148, 103, 189]};
const out = {melody: 0, alto: 0, tenor: 0, bass: 0};
for (let i = 0; i < d.length; i += 4)
  for (const [k, [r, gg, b]] of Object.entries(want))
    if (d[i] === r && d[i + 1] === gg && d[i + 2] === b) out[k]++;
return out;
"""


def generate_and_wait(driver, button="generate"):
    from selenium.webdriver.common.by import By

    driver.execute_script("window.__before = window.studio.state.result")
    driver.find_element(By.ID, button).click()
    wait_for(driver, "return window.studio.state.result !== window.__before && "
                     "!document.getElementById('generate').disabled", what="a generated result")
    return driver.execute_script("return window.studio.trackCounts()")


def download_midi(driver, name):
    """Click *Download MIDI* and return the path of the file ``name`` once it is there."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "download").click()
    path, deadline = driver.downloads / name, time.monotonic() + 20
    while time.monotonic() < deadline and not path.exists():
        time.sleep(0.1)
    assert path.exists(), f"{name} was not downloaded"
    time.sleep(0.3)
    return path


def open_page(driver, url):
    driver.get(url)
    wait_for(driver, "return document.body.dataset.ready === '1' && window.studio.state.info !== null",
             what="the page to load")


def melody_file(path, *, tempo=100.0, program=0):
    """A one-instrument MIDI file of a C major scale in quarter notes."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=tempo)
    inst = pretty_midi.Instrument(program=program, name="melody")
    beat = 60.0 / tempo
    for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72]):
        inst.notes.append(pretty_midi.Note(velocity=90, pitch=p, start=i * beat, end=(i + 1) * beat))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def message(driver, panel):
    """The text of a panel's message box (melody-msg, gen-msg, res-msg) and whether it shows an error."""
    return driver.execute_script(f"const m = document.getElementById('{panel}'); "
                                 "return [m.hidden ? '' : m.textContent, m.classList.contains('error')]")


def in_view(driver, element_id):
    """Whether the element's top is on screen."""
    return driver.execute_script(f"const r = document.getElementById('{element_id}').getBoundingClientRect(); "
                                 "return r.top >= -2 && r.top < window.innerHeight")


def invalid(driver):
    return sorted(e.get_attribute("id") for e in driver.find_elements("css selector", ".invalid"))


def test_studio_in_a_real_browser(server, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    d = browser
    open_page(d, server)
    assert d.title == "deepaccomp studio"
    assert [e.get_attribute("data-track") for e in d.find_elements(By.CSS_SELECTOR, "#voices label[data-track]")] \
        == ["alto", "tenor", "bass"]

    # upload the bundled example: it fills the editor
    d.find_element(By.ID, "upload").send_keys(str(EXAMPLE))
    wait_for(d, "return window.studio.state.notes.length > 0 && window.studio.state.file !== null",
             what="the upload to fill the editor")
    assert d.execute_script("return window.studio.state.notes.length") == 43
    assert d.find_element(By.ID, "tempo").get_attribute("value") == "100"

    # generate: the roll shows the melody and three voices
    d.find_element(By.ID, "seed").clear()
    d.find_element(By.ID, "seed").send_keys("1")
    counts = dict(generate_and_wait(d))
    assert counts["melody"] == 43 and all(counts[v] > 0 for v in ("alto", "tenor", "bass")), counts
    pixels = d.execute_script(COLOUR_COUNT)
    assert all(n > 50 for n in pixels.values()), pixels
    assert "seed 1" in d.find_element(By.ID, "status").text

    # play: the synthesiser's clock advances and its output is not silent
    d.find_element(By.ID, "play").click()
    wait_for(d, "const s = window.studio.audioStats(); return s.playing && s.position > 1.5", timeout=30,
             what="playback to advance")
    stats = d.execute_script("return window.studio.audioStats()")
    assert stats["contextState"] == "running" and stats["peak"] > 0.01, stats
    assert d.find_element(By.ID, "clock").text != "0:00.0"
    shot = tmp_path / "studio.png"
    height = d.execute_script("return document.documentElement.scrollHeight")  # the whole page, top to bottom
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 1400, "height": height,
                                                             "deviceScaleFactor": 1, "mobile": False})
    try:
        d.execute_script("window.scrollTo(0, 0)")
        d.save_screenshot(str(shot))
    finally:
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    target = os.environ.get("DEEPACCOMP_STUDIO_SCREENSHOT")
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    # solo the bass, then stop
    d.find_element(By.CSS_SELECTOR, "#mixer .voice[data-voice=bass] .solo").click()
    assert d.execute_script("return window.studio.state.solo") == [False, False, False, True]
    d.find_element(By.CSS_SELECTOR, "#mixer .voice[data-voice=bass] .solo").click()
    d.find_element(By.ID, "stop").click()
    assert d.execute_script("return window.studio.audioStats().playing") is False

    # download the MIDI and read it back
    path = download_midi(d, "deepaccomp-seed1.mid")
    pm = pretty_midi.PrettyMIDI(str(path))
    assert [len(i.notes) for i in pm.instruments] == [counts[v] for v in ("melody", "alto", "tenor", "bass")]

    # render a WAV in the browser and read it back: the result's length, and sound in it
    d.find_element(By.ID, "wav").click()
    deadline = time.monotonic() + WAIT_S
    wavs = []
    while time.monotonic() < deadline:
        wavs = [f for f in d.downloads.iterdir() if f.suffix == ".wav"]
        if wavs and "WAV rendered" in d.find_element(By.ID, "status").text:
            break
        time.sleep(0.2)
    assert wavs, "no WAV file was downloaded: " + d.find_element(By.ID, "status").text
    time.sleep(0.5)
    with wave.open(str(wavs[0])) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (2, 2, 44100)
        seconds = w.getnframes() / w.getframerate()
        samples = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert pm.get_end_time() <= seconds <= pm.get_end_time() + 5
    # normalised to a -1 dBFS peak: loud, and no sample at full scale (clipped)
    peak = int(np.abs(samples.astype(np.int32)).max())
    assert 0.88 * 32767 < peak < 0.9 * 32767, peak

    # a new melody from the on-screen keyboard (C4 E4 G4 C5) and the computer keyboard (A S D F = C D E F)
    d.find_element(By.ID, "clear").click()
    assert d.execute_script("return window.studio.state.notes.length") == 0
    for pitch in (60, 64, 67, 72):
        d.find_element(By.CSS_SELECTOR, f"#keyboard .key[data-pitch='{pitch}']").click()
    d.find_element(By.TAG_NAME, "body").send_keys("asdf")
    notes = d.execute_script("return window.studio.state.notes")
    assert [n["pitch"] for n in notes] == [60, 64, 67, 72, 60, 62, 64, 65]
    assert [n["start"] for n in notes] == [0, 4, 8, 12, 16, 20, 24, 28]
    assert d.execute_script("return window.studio.state.file") is None

    # the piano-roll editor: add, move, lengthen, delete with the mouse
    canvas = d.find_element(By.ID, "editor")
    geo = d.execute_script("return window.studio.editorGeometry()")

    def at(step, pitch, dx=0.5):  # offset from the canvas centre (selenium 4) of a cell
        x = geo["labelWidth"] + (step + dx) * geo["cell"]
        y = (geo["highestPitch"] - pitch + 0.5) * geo["row"]
        return x - canvas.size["width"] / 2, y - canvas.size["height"] / 2

    def melody():
        return [(n["pitch"], n["start"], n["length"]) for n in d.execute_script("return window.studio.state.notes")]

    ActionChains(d).move_to_element_with_offset(canvas, *at(36, 67)).click().perform()
    assert (67, 36, 4) in melody()
    ActionChains(d).move_to_element_with_offset(canvas, *at(37, 67)).click_and_hold() \
        .move_to_element_with_offset(canvas, *at(41, 69)).release().perform()
    assert (69, 40, 4) in melody() and (67, 36, 4) not in melody()
    ActionChains(d).move_to_element_with_offset(canvas, *at(43, 69, dx=0.9)).click_and_hold() \
        .move_to_element_with_offset(canvas, *at(47, 69, dx=0.9)).release().perform()
    assert (69, 40, 8) in melody()
    ActionChains(d).move_to_element_with_offset(canvas, *at(41, 69)).context_click().perform()
    assert melody() == [(60, 0, 4), (64, 4, 4), (67, 8, 4), (72, 12, 4), (60, 16, 4), (62, 20, 4), (64, 24, 4),
                        (65, 28, 4)]
    counts = dict(generate_and_wait(d, "new-take"))
    assert counts["melody"] == 8 and all(counts[v] > 0 for v in ("alto", "tenor", "bass")), counts
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


BAND = ["melody", "drums", "piano", "guitar", "bass", "strings"]


def test_studio_with_a_band_model_shows_its_tracks(band_server, browser):
    from selenium.webdriver.common.by import By

    d = browser
    open_page(d, band_server)
    assert "lpd5" in d.find_element(By.ID, "model-info").text
    # one instrument choice per pitched track, with the layout's programs; the drum track as the drum kit
    labels = d.find_elements(By.CSS_SELECTOR, "#voices label[data-track]")
    assert [e.get_attribute("data-track") for e in labels] == BAND[1:]
    assert [e.text.split()[0] for e in labels] == ["Drums", "Piano", "Guitar", "Bass", "Strings"]
    assert not labels[0].find_elements(By.TAG_NAME, "select")
    assert "drum kit" in labels[0].find_element(By.CLASS_NAME, "drum-kit").text
    assert [d.find_element(By.ID, f"prog-{k}").get_attribute("value") for k in range(2, 6)] == ["0", "25", "33", "48"]
    preset_options = [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "#preset option")]
    assert preset_options == ["model", "custom"]  # the SATB presets are not offered to a band

    # a melody from the computer keyboard, then generate: the result lists every track of the layout
    d.find_element(By.TAG_NAME, "body").send_keys("asdfghjk")
    d.find_element(By.ID, "seed").clear()
    d.find_element(By.ID, "seed").send_keys("4")
    counts = generate_and_wait(d)
    assert [name for name, _ in counts] == BAND and all(n > 0 for _, n in counts), counts
    voices = d.find_elements(By.CSS_SELECTOR, "#mixer .voice")
    assert [v.get_attribute("data-voice") for v in voices] == BAND
    assert "drum kit" in voices[1].text

    # the drums alone are heard: the synthesiser plays channel 10 with the SoundFont's drum kit
    d.find_element(By.CSS_SELECTOR, "#mixer .voice[data-voice=drums] .solo").click()
    d.find_element(By.ID, "play").click()
    wait_for(d, "const s = window.studio.audioStats(); return s.playing && s.position > 1.0", timeout=30,
             what="playback to advance")
    stats = d.execute_script("return window.studio.audioStats()")
    assert stats["peak"] > 0.01, stats
    d.find_element(By.ID, "stop").click()

    # a custom instrument for the guitar goes into the file; the drums are on channel 10
    from selenium.webdriver.support.select import Select

    Select(d.find_element(By.ID, "prog-3")).select_by_value("30")
    assert d.find_element(By.ID, "preset").get_attribute("value") == "custom"
    counts = generate_and_wait(d)
    path = download_midi(d, "deepaccomp-seed4.mid")
    pm = pretty_midi.PrettyMIDI(str(path))
    assert [i.name for i in pm.instruments][1:] == BAND[1:]
    assert [len(i.notes) for i in pm.instruments] == [n for _, n in counts]
    assert [i.program for i in pm.instruments if not i.is_drum][1:] == [0, 30, 33, 48]
    channels = {}
    for track in mido.MidiFile(str(path)).tracks:
        name = next((m.name for m in track if m.type == "track_name"), None)
        channels[name] = {m.channel for m in track if m.type == "note_on"}
    assert channels["drums"] == {9} and all(9 not in channels[n] for n in BAND[2:])
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_the_style_picker_switches_the_model_and_its_tracks(band_server, browser):
    """The picker lists the shipped models and the one given with --model (chosen at first); choosing
    another shows its tracks, instruments and presets, and the next Generate uses it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    from deepaccomp import artifact

    d = browser
    open_page(d, band_server)
    d.get_log("browser")  # the earlier tests' messages
    picker = Select(d.find_element(By.ID, "model"))
    assert [o.get_attribute("value") for o in picker.options] == artifact.shipped_models() + ["lpd5-tiny"]
    assert picker.first_selected_option.get_attribute("value") == "lpd5-tiny"
    tracks = lambda: [e.get_attribute("data-track")  # noqa: E731
                      for e in d.find_elements(By.CSS_SELECTOR, "#voices label[data-track]")]
    assert tracks() == BAND[1:]
    picker.select_by_value("chorale")
    wait_for(d, "return window.studio.state.info.model === 'chorale'", what="the chorale model's layout")
    assert tracks() == ["alto", "tenor", "bass"] and not d.find_elements(By.CLASS_NAME, "drum-kit")
    assert "layout satb" in d.find_element(By.ID, "model-info").text
    assert "choir" in [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "#preset option")]
    assert d.find_element(By.ID, "noise").get_attribute("placeholder") == "model's: 3"
    d.find_element(By.TAG_NAME, "body").send_keys("asdfghjk")
    assert [name for name, _ in generate_and_wait(d)] == ["melody", "alto", "tenor", "bass"]
    assert d.execute_script("return window.studio.state.result.model") == "chorale"
    assert [e.get_attribute("id") for e in d.find_elements(By.CSS_SELECTOR, "#regen-tracks input")] == \
        ["regen-alto", "regen-tenor", "regen-bass"]
    picker.select_by_value("lpd5-tiny")
    wait_for(d, "return window.studio.state.info.model === 'lpd5-tiny'", what="the band model's layout")
    assert tracks() == BAND[1:] and d.find_elements(By.CLASS_NAME, "drum-kit")
    assert [name for name, _ in generate_and_wait(d)] == BAND
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_the_page_reports_where_the_user_is_and_fits_a_phone(server, browser, tmp_path):
    """The defects of issue 34 on the page: pickup box, stopping the melody, messages beside the action
    and in words, inputs in error marked, a failed generation clearing the old result, scrolling to the
    new one, the upload tempo range, the model's noise scale shown, presets keeping the melody's
    instrument, and no horizontal overflow at 375 px."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    d = browser
    open_page(d, server)
    value = lambda id_: d.find_element(By.ID, id_).get_attribute("value")  # noqa: E731
    # the Pickup box shows "none" on load and after a meter change
    assert value("pickup") == "0" and Select(d.find_element(By.ID, "pickup")).first_selected_option.text == "none"
    Select(d.find_element(By.ID, "meter")).select_by_visible_text("3/4")
    assert value("pickup") == "0" and len(d.find_elements(By.CSS_SELECTOR, "#pickup option")) == 3
    Select(d.find_element(By.ID, "meter")).select_by_visible_text("4/4")
    # the noise scale's placeholder gives the model's value
    assert d.find_element(By.ID, "noise").get_attribute("placeholder") == "model's: 3"

    # ▶ Melody with an empty editor says so; with notes it plays, and Stop (or ▶ Melody again) stops it
    assert d.find_element(By.ID, "stop").get_attribute("disabled")
    d.find_element(By.ID, "play-melody").click()
    text, error = message(d, "melody-msg")
    assert error and "the melody is empty" in text and invalid(d) == ["editor"]
    d.find_element(By.TAG_NAME, "body").send_keys("asdfghjk")
    assert invalid(d) == []
    for stop in ("stop", "play-melody"):
        d.find_element(By.ID, "play-melody").click()
        wait_for(d, "const s = window.studio.audioStats(); return s.playing && s.position > 0.5", timeout=30,
                 what="the melody to play")
        assert d.find_element(By.ID, "clock").text != "0:00.0"
        assert not d.find_element(By.ID, "stop").get_attribute("disabled")
        d.find_element(By.ID, stop).click()
        assert d.execute_script("return window.studio.audioStats().playing") is False
        assert d.find_element(By.ID, "clock").text == "0:00.0"
        assert d.find_element(By.ID, "play-melody").text == "▶ Melody"

    # an empty Tempo is named as such, beside Generate, and the field is marked
    d.find_element(By.ID, "tempo").clear()
    d.find_element(By.ID, "generate").click()
    text, error = message(d, "gen-msg")
    assert error and text.startswith("Tempo is empty") and "got 0" not in text and invalid(d) == ["tempo"]
    d.find_element(By.ID, "tempo").send_keys("100")
    assert invalid(d) == []
    # a generation: the page scrolls to the result
    d.find_element(By.ID, "seed").send_keys("1")
    d.execute_script("window.scrollTo(0, 0)")
    counts = dict(generate_and_wait(d))
    assert counts["melody"] == 8 and in_view(d, "result-panel")
    # a failed one: the message beside Generate, on screen, the field marked and the old result gone
    d.find_element(By.ID, "seed").clear()
    d.find_element(By.ID, "seed").send_keys("5000000000")
    d.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    d.find_element(By.ID, "generate").click()
    text, error = message(d, "gen-msg")
    assert error and text.startswith("Seed 5000000000 is out of range") and invalid(d) == ["seed"]
    assert in_view(d, "gen-msg") and d.execute_script("return window.studio.state.result") is None
    assert "disabled" in d.find_element(By.ID, "download").get_attribute("class")
    assert d.find_element(By.ID, "play").get_attribute("disabled") and message(d, "res-msg")[1]
    # the server's refusal in words, without the exception's class name
    d.find_element(By.ID, "seed").clear()
    d.execute_script("window.studio.state.notes[0].pitch = 200")
    d.find_element(By.ID, "generate").click()
    wait_for(d, "return !document.getElementById('generate').disabled", what="the answer")
    text, error = message(d, "gen-msg")
    assert error and text.startswith("notes[0].pitch must be an integer 0..127") and "Error" not in text, text
    assert invalid(d) == ["editor"]
    d.execute_script("window.studio.state.notes[0].pitch = 60")
    # a stopped server, in words
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": -1,
                                                           "uploadThroughput": -1})
    try:
        d.find_element(By.ID, "generate").click()
        wait_for(d, "return !document.getElementById('generate').disabled", what="the failed request")
        text, error = message(d, "gen-msg")
    finally:
        d.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": False, "latency": 0,
                                                               "downloadThroughput": -1, "uploadThroughput": -1})
    assert error and "does not answer" in text and "Failed to fetch" not in text, text

    # an upload outside 20-300 bpm is refused beside the upload; the Tempo box keeps its value
    d.find_element(By.ID, "upload").send_keys(str(melody_file(tmp_path / "fast.mid", tempo=60_000_000)))
    wait_for(d, "return !document.getElementById('melody-msg').hidden", what="the upload's answer")
    text, error = message(d, "melody-msg")
    assert error and text.startswith("fast.mid has a tempo of 60,000,000 bpm") and value("tempo") == "100", text
    # a preset sets the accompaniment's instruments; the uploaded flute stays a flute, on the page and in the file
    d.find_element(By.ID, "upload").send_keys(str(melody_file(tmp_path / "flute.mid", program=73)))
    wait_for(d, "return window.studio.state.file !== null", what="the flute file")
    assert value("prog-0") == "73"
    Select(d.find_element(By.ID, "preset")).select_by_value("strings")
    assert [value(f"prog-{k}") for k in range(4)] == ["73", "41", "42", "43"]
    d.find_element(By.ID, "seed").send_keys("2")
    generate_and_wait(d)
    res = d.execute_script("return window.studio.state.result")
    pm = pretty_midi.PrettyMIDI(io.BytesIO(base64.b64decode(res["midi_base64"])))
    assert [t["program"] for t in res["tracks"]] == [i.program for i in pm.instruments] == [73, 41, 42, 43]

    # a phone's width: nothing wider than the screen
    d.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 375, "height": 812, "deviceScaleFactor": 2,
                                                             "mobile": True})
    try:
        time.sleep(0.3)
        widths = d.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        wide = d.execute_script("return [...document.querySelectorAll('body *')].filter((e) => "
                                "e.getBoundingClientRect().right > window.innerWidth + 1 && "
                                "!e.closest('.roll-wrap, #keyboard-wrap')).map((e) => e.id || e.tagName)")
    finally:
        d.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert widths[0] <= widths[1] == 375 and not wide, (widths, wide)
    expected = ("the server responded with a status of 4", "ERR_INTERNET_DISCONNECTED")  # the refusals above
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE" and not any(x in e["message"] for x in expected)]
    assert not errors, errors


def take(driver) -> list:
    """The shown take's notes per track: ``[name, [(pitch, start, end), ...]]``."""
    return driver.execute_script("return window.studio.state.result.tracks.map((t) => "
                                 "[t.name, t.notes.map((n) => [n.pitch, n.start, n.end])])")


def test_regenerate_bars_of_one_track_then_undo_and_redo(server, browser):
    """Generate a take of eight bars, regenerate bars 5-8 of the tenor: bars 1-4 and the other tracks
    come back note for note; Ctrl+Z brings the first take back, Redo the second, and undo reaches the
    melody's edits."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    open_page(d, server)
    assert d.find_element(By.ID, "undo").get_attribute("disabled") and \
        d.find_element(By.ID, "regenerate").get_attribute("disabled")
    d.find_element(By.TAG_NAME, "body").send_keys("asdfghjkjhgfdsaa" * 2)  # 32 quarter notes: 8 bars
    assert d.execute_script("return window.studio.state.notes.length") == 32
    generate_and_wait(d)
    first, first_raw = take(d), d.execute_script("return window.studio.state.resultRaw")
    assert [t[0] for t in first] == ["melody", "alto", "tenor", "bass"]

    for id_, value in (("regen-from", "5"), ("regen-to", "8")):
        d.find_element(By.ID, id_).clear()
        d.find_element(By.ID, id_).send_keys(value)
    for name in ("alto", "bass"):
        d.find_element(By.ID, f"regen-{name}").click()
    d.execute_script("window.__before = window.studio.state.result")
    d.find_element(By.ID, "regenerate").click()
    wait_for(d, "return window.studio.state.result !== window.__before && "
                "!document.getElementById('regenerate').disabled", what="the regenerated take")
    text, error = message(d, "res-msg")
    assert not error and text.startswith("regenerated bars 5-8 of tenor"), text
    second = take(d)
    bar5 = 4 * 16
    for (name, old), (_, new) in zip(first, second):
        if name == "tenor":
            assert [n for n in new if n[1] < bar5] == [n for n in old if n[1] < bar5]
            assert [n for n in new if n[1] >= bar5], "the regenerated bars have tenor notes"
        else:
            assert new == old, name
    second_raw = d.execute_script("return window.studio.state.resultRaw")

    ActionChains(d).key_down(Keys.CONTROL).send_keys("z").key_up(Keys.CONTROL).perform()
    assert d.execute_script("return window.studio.state.resultRaw") == first_raw and take(d) == first
    d.find_element(By.ID, "redo").click()
    assert d.execute_script("return window.studio.state.resultRaw") == second_raw
    d.find_element(By.ID, "undo").click()
    d.find_element(By.ID, "undo").click()  # the take itself: no result, the melody as it was
    assert d.execute_script("return window.studio.state.result") is None
    assert d.find_element(By.ID, "regenerate").get_attribute("disabled")
    d.find_element(By.ID, "undo").click()  # the last note entered
    assert d.execute_script("return window.studio.state.notes.length") == 31
    ActionChains(d).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("z").key_up(Keys.SHIFT) \
        .key_up(Keys.CONTROL).perform()
    assert d.execute_script("return window.studio.state.notes.length") == 32
    # a bar range outside the piece is refused beside the button, the field marked, the take kept
    d.find_element(By.ID, "redo").click()
    d.find_element(By.ID, "regen-to").clear()
    d.find_element(By.ID, "regen-to").send_keys("20")
    d.find_element(By.ID, "regenerate").click()
    wait_for(d, "return !document.getElementById('regenerate').disabled", what="the refusal")
    text, error = message(d, "res-msg")
    assert error and "outside the piece" in text and "regen-from" in invalid(d)
    assert take(d) == first


def play_in_time(driver, played, *, start_at=100.0):
    """Record ``played`` ``[(key, start, length), ...]`` (computer keys; times in 16th steps of the Tempo
    box from the first downbeat, fractions for a human's timing, negative in the count-in) on the page's
    own clock hook, so the times are exact whatever the machine's speed; returns the clock's step 0."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver.execute_script(f"window.__t = {start_at}; window.studio.setClock(() => window.__t)")
    driver.find_element(By.ID, "record").click()
    wait_for(driver, "return window.studio.recorder().active", what="the recording to start")
    tempo = float(driver.find_element(By.ID, "tempo").get_attribute("value"))
    per_step = 60 / tempo / 4
    bar = 12 if driver.find_element(By.ID, "meter").get_attribute("value") == "3/4" else 16
    step0 = start_at + 0.1 + bar * per_step  # the count-in: one bar (no pickup here)
    events = sorted([(start, 0, key) for key, start, _ in played] +
                    [(start + length, -1, key) for key, start, length in played])
    for step, kind, key in events:
        driver.execute_script(f"window.__t = {step0 + step * per_step}")
        chain = ActionChains(driver)
        (chain.key_down(key) if kind == 0 else chain.key_up(key)).perform()
    driver.find_element(By.ID, "record").click()
    wait_for(driver, "return !window.studio.recorder().active", what="the recording to stop")
    driver.execute_script("window.studio.setClock(null)")
    return step0


def melody_steps(driver):
    return [(n["pitch"], n["start"], n["length"]) for n in driver.execute_script("return window.studio.state.notes")]


def test_record_in_time_against_the_metronome_quantised_and_undoable(server, browser):
    """A take played with a human's timing at 120 bpm after a one-bar count-in: the metronome clicks each
    beat (the downbeat accented), the notes land on the 16th grid, a note in the count-in is dropped;
    Quantise 1/4 re-quantises the take as played, Undo goes back to 1/16 and then to the empty editor."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    d = browser
    open_page(d, server)
    d.get_log("browser")  # the earlier tests' messages
    d.find_element(By.ID, "tempo").clear()
    d.find_element(By.ID, "tempo").send_keys("120")
    assert Select(d.find_element(By.ID, "quantise")).first_selected_option.text == "1/16"
    play_in_time(d, [("g", -10, 2), ("a", 0.3, 3.6), ("s", 3.6, 2.3), ("d", 6.2, 2), ("f", 8, 7.7)])
    assert melody_steps(d) == [(60, 0, 4), (62, 4, 2), (64, 6, 2), (65, 8, 8)]
    clicks = d.execute_script("return window.studio.recorder().clicks")
    assert [a for _, a in clicks[:4]] == [True, False, False, False]  # the count-in bar, its downbeat accented
    assert all(abs(b[0] - a[0] - 0.5) < 1e-6 for a, b in zip(clicks, clicks[1:4]))  # a beat at 120 bpm
    text, error = message(d, "melody-msg")
    assert not error and text.startswith("recorded 4 notes at 120 bpm, quantised to 1/16"), text
    raw = sorted(t for r in d.execute_script("return window.studio.recorder().raw") for t in (r["start"], r["end"]))
    assert raw == pytest.approx([-10, -8, 0.3, 3.6, 3.9, 5.9, 6.2, 8, 8.2, 15.7])  # kept as played
    Select(d.find_element(By.ID, "quantise")).select_by_visible_text("1/4")
    assert melody_steps(d) == [(60, 0, 4), (62, 4, 4), (64, 8, 4), (65, 8, 8)]
    d.find_element(By.ID, "undo").click()
    assert melody_steps(d) == [(60, 0, 4), (62, 4, 2), (64, 6, 2), (65, 8, 8)]
    d.find_element(By.ID, "undo").click()
    assert melody_steps(d) == []
    d.find_element(By.ID, "redo").click()
    # step entry stays: a key outside a recording enters a note at the cursor
    d.find_element(By.TAG_NAME, "body").send_keys("j")
    assert melody_steps(d)[-1] == (71, 16, 4)
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_record_choose_a_model_generate_edit_regenerate_undo_download(band_server, browser):
    """Issue 34 end to end: a melody of eight bars recorded against the metronome, the chorale model
    chosen in the Style picker (the studio was started with a band model), a take generated, one alto
    note deleted and one added on the result roll, bars 5-8 regenerated with bars 1-4 locked (unchanged
    note for note, the edits included), Undo back to the edited take, and its MIDI file downloaded."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    d = browser
    open_page(d, band_server)
    d.get_log("browser")  # the earlier tests' messages
    d.find_element(By.ID, "tempo").clear()
    d.find_element(By.ID, "tempo").send_keys("120")
    keys = "asdfghjkjhgfdsas" * 2  # 32 quarter notes, a little early or late
    play_in_time(d, [(k, 4 * i + (0.4 if i % 3 else -0.2), 3.9) for i, k in enumerate(keys)])
    assert [n[1:] for n in melody_steps(d)] == [(4 * i, 4) for i in range(32)]
    Select(d.find_element(By.ID, "model")).select_by_value("chorale")
    wait_for(d, "return window.studio.state.info.model === 'chorale'", what="the chorale model")
    d.find_element(By.ID, "seed").send_keys("7")
    assert [name for name, _ in generate_and_wait(d)] == ["melody", "alto", "tenor", "bass"]

    # edit the alto on the result roll: delete its first note, add one where no track sounds
    canvas = d.find_element(By.ID, "result")
    d.execute_script("arguments[0].scrollIntoView({block: 'center'})", canvas)

    def at(step, pitch):
        g = d.execute_script("return window.studio.resultGeometry()")
        x = g["labelWidth"] + (step + 0.5) * g["cell"]
        y = (g["highestPitch"] - pitch + 0.5) * g["row"]
        return x - canvas.size["width"] / 2, y - canvas.size["height"] / 2

    def edit(action, step, pitch):
        before = d.execute_script("return window.studio.state.resultRaw")
        chain = ActionChains(d).move_to_element_with_offset(canvas, *at(step, pitch))
        (chain.context_click() if action == "delete" else chain.click()).perform()
        wait_for(d, f"return window.studio.state.resultRaw !== {before!r} && !window.studio.busy()", what="the edit")

    generated = take(d)
    first_alto = generated[1][1][0]
    edit("delete", int(first_alto[1]), first_alto[0])
    busy = {(p, s) for _, notes in generated for p, a, b in notes for s in range(int(a), int(b))}
    pitch = next(p for p in range(50, 70) if all((p, s) not in busy for s in range(40, 46)))
    Select(d.find_element(By.ID, "edit-track")).select_by_value("alto")
    edit("add", 40, pitch)
    assert [pitch, 40, 44] in take(d)[1][1]
    # drag it two steps later
    before = d.execute_script("return window.studio.state.resultRaw")
    ActionChains(d).move_to_element_with_offset(canvas, *at(41, pitch)).click_and_hold() \
        .move_to_element_with_offset(canvas, *at(43, pitch)).release().perform()
    wait_for(d, f"return window.studio.state.resultRaw !== {before!r} && !window.studio.busy()", what="the move")
    edited_take = take(d)
    by_start = lambda n: (n[1], n[0])  # noqa: E731 (notes that start together come in either order)
    assert sorted(edited_take[1][1], key=by_start) == sorted(generated[1][1][1:] + [[pitch, 42, 46]], key=by_start)
    assert edited_take[2:] == generated[2:] and edited_take[0] == generated[0]
    edited_raw = d.execute_script("return window.studio.state.resultRaw")

    # lock bars 1-4, regenerate bars 5-8 of every track: bars 1-4 unchanged, the edits included
    for id_, value in (("regen-from", "5"), ("regen-to", "8")):
        d.find_element(By.ID, id_).clear()
        d.find_element(By.ID, id_).send_keys(value)
    d.execute_script("window.__before = window.studio.state.result")
    d.find_element(By.ID, "regenerate").click()
    wait_for(d, "return window.studio.state.result !== window.__before && "
                "!document.getElementById('regenerate').disabled", what="the regenerated take")
    regenerated = take(d)
    for (name, old), (_, new) in zip(edited_take, regenerated):
        assert sorted(n for n in new if n[1] < 64) == sorted(n for n in old if n[1] < 64), name
    assert any([n for n in new if n[1] >= 64] != [n for n in old if n[1] >= 64]
               for (_, old), (_, new) in zip(edited_take[1:], regenerated[1:]))

    # undo: the edited take again; its file is what downloads
    d.find_element(By.ID, "undo").click()
    assert d.execute_script("return window.studio.state.resultRaw") == edited_raw and take(d) == edited_take
    pm = pretty_midi.PrettyMIDI(str(download_midi(d, "deepaccomp-seed7.mid")))
    assert [i.name for i in pm.instruments][1:] == ["alto", "tenor", "bass"]
    alto = sorted((n.pitch, round(n.start / 0.125)) for n in pm.instruments[1].notes)  # 16ths at 120 bpm
    assert alto == sorted((p, int(a)) for p, a, _ in edited_take[1][1])
    for _ in range(3):  # the edits, one step each
        d.find_element(By.ID, "undo").click()
    assert take(d) == generated
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
