"""The editor in a real browser: headless Chromium from the system's packages, driven by Selenium.

It loads the page of a running ``latentdirs serve``, moves a slider and sees the image change, starts a short
discovery and sees it finish. Skipped (with the reason in the summary) where Chromium, its driver or Selenium
are missing; ``scripts/test.sh`` installs them from Debian packages when it runs as root. With
``LATENTDIRS_SCREENSHOT=path.png`` the test also writes a screenshot of the editor there (palette PNG).
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cli_support import exit_code

from latentdirs.pretrained import PRETRAINED_DIR

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
DRIVER = shutil.which("chromedriver")
try:
    import selenium  # noqa: F401
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False
MISSING = [name for name, found in (("chromium", CHROMIUM), ("chromedriver (chromium-driver)", DRIVER),
                                    ("selenium", HAVE_SELENIUM)) if not found]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(MISSING), reason=f"browser test skipped: {', '.join(MISSING)} not installed "
                                             "(Debian: apt-get install chromium chromium-driver; scripts/test.sh "
                                             "does it as root)"),
]
ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A ``latentdirs serve`` process with the bundled generator and a SeFa direction set for it."""
    root = tmp_path_factory.mktemp("browser")
    models = root / "models"
    models.mkdir()
    assert exit_code(["--threads", "1", "discover", "--generator", str(PRETRAINED_DIR / "dsprites_generator.json"),
                "--method", "sefa", "-k", "5", "--stats-samples", "512", "--grid-samples", "1", "--grid-steps", "3",
                "--device", "cpu", "--out", str(root / "sefa"), "--quiet"]) == 0
    shutil.copy(root / "sefa" / "directions.safetensors", models / "dsprites_sefa.safetensors")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    log = open(root / "server.log", "w")  # noqa: SIM115 (closed below)
    process = subprocess.Popen([sys.executable, "-m", "latentdirs", "--threads", "1", "serve", "--models", str(models),
                                "--data", str(root / "data"), "--port", str(port)], stdout=log,
                               stderr=subprocess.STDOUT, env=env, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/generators", timeout=5)
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((root / "server.log").read_text()) from None
            time.sleep(0.5)
    yield url
    process.send_signal(signal.SIGINT)
    process.wait(120)
    log.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1360,860",
                     "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


#: a digest of the shown image's pixels (drawn into a canvas: the image is a same-origin blob)
PIXELS = """
const image = document.getElementById('image');
if (!image.complete || !image.naturalWidth) return null;
const canvas = document.createElement('canvas');
canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
const context = canvas.getContext('2d');
context.drawImage(image, 0, 0);
const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
let hash = 0;
for (let i = 0; i < data.length; i++) hash = (hash * 31 + data[i]) >>> 0;
return `${canvas.width}x${canvas.height}:${hash}`;
"""


def _wait(driver, condition, timeout_s: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition(driver)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; status: "
                         f"{driver.find_element('id', 'status').text!r}")


def test_editor_moves_a_slider_and_runs_a_discovery(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    browser.get(server)
    sefa = "models/dsprites_sefa.safetensors"
    _wait(browser, lambda d: d.find_element(By.ID, "dirset").get_attribute("value") == sefa, what="the direction set")
    sliders = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#sliders input[type=range]"), what="sliders")
    assert len(sliders) == 5
    labels = [row.text for row in browser.find_elements(By.CSS_SELECTOR, "#sliders .slider span")]
    assert labels[0].startswith("0 ") and "variance share" in labels[0]
    before = _wait(browser, lambda d: d.execute_script(PIXELS), what="the first image")
    version = int(browser.find_element(By.ID, "image").get_attribute("data-version"))

    sliders[0].click()  # the middle of the track: strength 0
    sliders[0].send_keys(*[Keys.ARROW_RIGHT] * 25)  # +2.5 σ, one input event per key, one render after the pause
    _wait(browser, lambda d: int(d.find_element(By.ID, "image").get_attribute("data-version")) > version,
          what="a new render")
    after = _wait(browser, lambda d: (p := d.execute_script(PIXELS)) and p != before and p, what="a changed image")
    assert after.split(":")[0] == before.split(":")[0]  # same grid size, other pixels
    assert browser.find_element(By.CSS_SELECTOR, "#sliders output").text == "2.5"

    form = browser.find_element(By.ID, "discover")
    Select(form.find_element(By.NAME, "method")).select_by_visible_text("reconstructor")
    for name, value in (("num_directions", "3"), ("steps", "4"), ("batch_size", "4")):
        field = form.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "start").click()
    item = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs li"), what="the job in the list")[0]
    _wait(browser, lambda d: "state-done" in item.get_attribute("class") or "state-failed" in item.get_attribute(
        "class"), timeout_s=600, what="the job to finish")
    assert "state-done" in item.get_attribute("class"), item.text
    progress = item.find_element(By.TAG_NAME, "progress")
    assert progress.get_attribute("value") == progress.get_attribute("max") == "4"
    links = {a.text: a.get_attribute("href") for a in item.find_elements(By.TAG_NAME, "a")}
    assert {"report", "directions", "ganspace", "interfacegan", "sefa", "log"} <= set(links)
    job_set = "jobs/" + item.get_attribute("id").removeprefix("job-")
    _wait(browser, lambda d: d.find_element(By.ID, "dirset").get_attribute("value") == job_set,
          what="the job's direction set to be chosen")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#sliders input[type=range]")) == 3
    with urllib.request.urlopen(links["report"]) as report:
        assert b"Latent directions" in report.read()

    Select(browser.find_element(By.ID, "dirset")).select_by_value(sefa)
    version = int(browser.find_element(By.ID, "image").get_attribute("data-version"))
    sliders = browser.find_elements(By.CSS_SELECTOR, "#sliders input[type=range]")
    sliders[1].click()
    sliders[1].send_keys(*[Keys.ARROW_LEFT] * 20)
    _wait(browser, lambda d: int(d.find_element(By.ID, "image").get_attribute("data-version")) > version,
          what="a render for the screenshot")
    time.sleep(0.5)
    target = os.environ.get("LATENTDIRS_SCREENSHOT")
    if target:
        from PIL import Image

        shot = Image.open(io.BytesIO(browser.get_screenshot_as_png())).convert("RGB")
        shot.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
