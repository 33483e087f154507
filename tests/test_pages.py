"""The local Hub's pages in a real headless Chromium (Debian's chromium + chromium-driver, driven by selenium).

One LocalHub per module is filled through the unmodified huggingface_hub client with the reference run folders
of ``model_cards/reference`` (real replays and training curves) and with cards whose claims are edited to give a
known ranking, plus one hostile card. ``HUBRL_SCREENSHOTS=DIR`` saves a screenshot of each page there (the README's
pictures come from this).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from huggingface_hub import HfApi, constants

from hubrl.server import LocalHub

REFERENCE = Path(__file__).resolve().parents[1] / "model_cards" / "reference"
CHROMEDRIVER = shutil.which("chromedriver")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HOSTILE_CARD = """---
tags: [CartPole-v1]
model-index:
- name: evil
  results:
  - task: {type: reinforcement-learning}
    dataset: {name: CartPole-v1, type: CartPole-v1}
    metrics:
    - {type: mean_reward, value: 1.00 +/- 0.00}
---
# Totally normal agent
<script>document.title = "pwned"; window.__pwned = 1;</script>
<img src="nope.png" onerror="window.__pwned = 2; document.title = 'pwned'">
<a href="javascript:window.__pwned=3">click me</a> <svg onload="window.__pwned=4"></svg>
<iframe src="javascript:parent.__pwned=5"></iframe>
<div style="background:url(javascript:alert(1))" onclick="window.__pwned=6">styled</div>
"""


def _with_claim(src: Path, dst: Path, mean: float, std: float, verification: dict | None = None) -> Path:
    """A copy of a reference run folder whose card claims ``mean +/- std`` (and results.json, a verification)."""
    shutil.copytree(src, dst)
    card = (dst / "README.md").read_text()
    old = next(line for line in card.splitlines() if line.strip().startswith("value:"))
    (dst / "README.md").write_text(card.replace(old, old.split("value:")[0] + f"value: {mean:.2f} +/- {std:.2f}", 1))
    results = json.loads((dst / "results.json").read_text())
    results.update(mean_reward=mean, std_reward=std)
    if verification is not None:
        results["hubrl_verification"] = verification
    (dst / "results.json").write_text(json.dumps(results))
    return dst


class Site:
    def __init__(self, hub: LocalHub, tmp: Path):
        self.hub, self.tmp, self.apis = hub, tmp, {}

    def api(self, user: str) -> HfApi:
        if user not in self.apis:
            self.apis[user] = HfApi(endpoint=self.hub.endpoint, token=self.hub.create_token(user))
        return self.apis[user]

    def push(self, repo_id: str, folder: Path) -> None:
        api = self.api(repo_id.split("/")[0])
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder, commit_message="Push agent")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pages")
    saved = constants.HF_HUB_CACHE
    constants.HF_HUB_CACHE = str(tmp / "hf_cache")
    cart, pixel = REFERENCE / "CartPole-v1", REFERENCE / "Pixelcopter-PLE-v0"
    with LocalHub(tmp / "hub") as hub:
        s = Site(hub, tmp)
        s.push("alice/Reinforce-CartPole-v1", cart)  # 500.00 +/- 0.00
        s.push("alice/Reinforce-Pixelcopter-PLE-v0", pixel)  # its results.json: 771.40 +/- 470.10 -> 301.30
        verification = {"mean_reward": 290.0, "std_reward": 15.0, "score": 275.0, "n_episodes": 10, "seed": 1000,
                        "flags": []}
        s.push("bob/Reinforce-CartPole-v1", _with_claim(cart, tmp / "bob-cart", 300.0, 20.0, verification))
        s.push("bob/Reinforce-Pixelcopter-PLE-v0", _with_claim(pixel, tmp / "bob-pixel", 3.0, 1.0))
        s.push("carol/Reinforce-CartPole-v1", _with_claim(cart, tmp / "carol-cart", 420.0, 10.0))
        pong = _with_claim(REFERENCE / "Pong-PLE-v0", tmp / "dave-ale", -14.6, 2.54)
        (pong / "README.md").write_text((pong / "README.md").read_text().replace("Pong-PLE-v0", "ALE/Pong-v5"))
        s.push("dave/Reinforce-ALE-Pong-v5", pong)
        evil = tmp / "evil"
        evil.mkdir()
        (evil / "README.md").write_text(HOSTILE_CARD)
        s.push("mallory/evil", evil)
        yield s
    constants.HF_HUB_CACHE = saved


@pytest.fixture(scope="module")
def browser():
    if not (CHROMEDRIVER and CHROMIUM):
        message = "headless Chromium is not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI"):  # CI installs it (.ci/run): a skipped browser test there is a missing install step
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="hubrl-chromium-")
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1100,900"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, script: str, timeout: float = 30.0):
    """Poll ``script`` (a JS expression) until it is truthy; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({script});")
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def screenshot(driver, name: str) -> None:
    folder = os.environ.get("HUBRL_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def rows(driver, selector: str) -> list[list[str]]:
    return driver.execute_script(
        f"return [...document.querySelectorAll({json.dumps(selector)})]"
        ".map(r => [...r.querySelectorAll('td')].map(td => td.innerText.trim()));"
    )


# ------------------------------------------------------------------------------------------ the browser
def test_model_page_plays_the_replay_seeks_and_shows_curves_card_files_and_commands(site, browser):
    repo = "alice/Reinforce-CartPole-v1"
    browser.get(f"{site.hub.endpoint}/{repo}")
    assert browser.find_element("id", "repo-id").text == repo
    ready = wait_for(browser, "document.getElementById('replay').readyState >= 3 && "
                              "document.getElementById('replay').duration")
    assert ready and ready > 5, "the replay never became playable"  # replay.mp4 is 10 s long
    browser.execute_script("const v = document.getElementById('replay'); v.currentTime = v.duration / 2;")
    assert wait_for(browser, "!document.getElementById('replay').seeking && "
                             "Math.abs(document.getElementById('replay').currentTime - 5.01) < 0.5")
    assert browser.execute_script("return document.getElementById('replay').error") is None
    # the training curves, drawn server-side from history.json as the run's TensorBoard traces were written
    assert browser.execute_script("return document.querySelectorAll('#curves svg polyline').length") == 6
    assert browser.find_element("id", "chart-charts-mean_return").size["width"] > 200

    card = browser.find_element("id", "card")
    assert "REINFORCE agent playing CartPole-v1" in card.text
    # one replay and the curves (the page's own, drawn as SVG; the card's copies are left out), no empty table header
    assert browser.execute_script("return document.querySelectorAll('video').length") == 1
    assert browser.execute_script("return document.querySelectorAll('img').length") == 0
    assert browser.execute_script("return document.querySelectorAll('svg').length") == 6
    assert browser.execute_script("return [...document.querySelectorAll('#card thead')]"
                                  ".filter(h => !h.innerText.trim()).length") == 0
    # code blocks: each line starts at the same x and no line's background covers the underscores above it
    code = "document.querySelector('#card pre code')"
    assert browser.execute_script(f"const s = getComputedStyle({code}); "
                                  "return [s.paddingLeft, s.paddingTop, s.backgroundColor]") == [
        "0px", "0px", "rgba(0, 0, 0, 0)"]
    assert "model-index" not in card.text and "---" not in card.text  # front matter hidden
    assert browser.execute_script("return document.querySelectorAll('#card table td').length") > 4
    assert "hubrl enjoy alice/Reinforce-CartPole-v1" in browser.find_element("id", "commands").text
    assert 'load_from_hub("alice/Reinforce-CartPole-v1")' in browser.page_source
    assert "500.00" in browser.find_element("id", "score").text
    files = dict(rows(browser, "#files tr:not(:first-child)"))
    assert files["model.safetensors"] == "1.2 KiB" and "replay.mp4" in files
    link = browser.find_element("link text", "config.json").get_attribute("href")
    assert link.endswith(f"/{repo}/resolve/" + link.split("/resolve/")[1].split("/")[0] + "/config.json")
    screenshot(browser, "model-page")


def test_leaderboard_ranks_by_mean_minus_std_links_open_and_new_pushes_show(site, browser, tmp_path):
    url = f"{site.hub.endpoint}/leaderboard/CartPole-v1"
    browser.get(url)
    table = rows(browser, "#leaderboard tr.entry")
    assert [r[1] for r in table] == ["alice/Reinforce-CartPole-v1", "carol/Reinforce-CartPole-v1",
                                     "bob/Reinforce-CartPole-v1", "mallory/evil"]
    assert [r[0] for r in table] == ["1", "2", "3", "4"]
    scores = [float(r[4]) for r in table]
    assert scores == sorted(scores, reverse=True) == [500.0, 410.0, 280.0, 1.0]
    assert [r[5].split()[0] for r in table] == ["pass", "pass", "fail", "fail"] and "350.00" in table[0][5]
    # bob's results.json carries a hubrl_verification record: the repo's own word, shown as self-reported
    assert table[2][6].startswith("self-reported") and table[0][6] == "not verified"
    assert browser.execute_script("return document.querySelectorAll('#leaderboard video').length") == 0
    links = browser.execute_script("return [...document.querySelectorAll('#leaderboard tr.entry a.replay')]"
                                   ".map(a => a.getAttribute('href'))")
    assert len(links) == 3 and all(link.endswith("#replay") for link in links)
    screenshot(browser, "leaderboard")

    browser.find_element("link text", "carol/Reinforce-CartPole-v1").click()
    assert wait_for(browser, "document.getElementById('repo-id') && document.getElementById('repo-id').innerText"
                    ) == "carol/Reinforce-CartPole-v1"

    # a new push shows on the next load, without restarting anything
    site.push("erin/Reinforce-CartPole-v1",
              _with_claim(REFERENCE / "CartPole-v1", tmp_path / "erin", 460.0, 5.0))
    browser.get(url)
    assert [r[1] for r in rows(browser, "#leaderboard tr.entry")][:3] == [
        "alice/Reinforce-CartPole-v1", "erin/Reinforce-CartPole-v1", "carol/Reinforce-CartPole-v1"]


def test_leaderboard_of_an_env_id_with_a_slash(site, browser):
    browser.get(f"{site.hub.endpoint}/leaderboard/ALE/Pong-v5")
    table = rows(browser, "#leaderboard tr.entry")
    assert [(r[1], r[4]) for r in table] == [("dave/Reinforce-ALE-Pong-v5", "-17.14")]
    browser.get(f"{site.hub.endpoint}/leaderboard/ALE%2FPong-v5")
    assert len(rows(browser, "#leaderboard tr.entry")) == 1


def test_progress_page_shows_pass_and_fail(site, browser):
    browser.get(f"{site.hub.endpoint}/progress/alice")
    table = {r[0]: r for r in rows(browser, "#progress tr.unit")}
    assert table["CartPole-v1"][2:5] == ["alice/Reinforce-CartPole-v1", "500.00", "pass"]
    pixel_score = json.loads((REFERENCE / "Pixelcopter-PLE-v0" / "results.json").read_text())["score"]
    assert table["Pixelcopter-PLE-v0"][2:5] == ["alice/Reinforce-Pixelcopter-PLE-v0", f"{pixel_score:.2f}", "pass"]
    assert browser.find_element("id", "overall").text == "Unit 4 passed"
    screenshot(browser, "progress")

    browser.get(f"{site.hub.endpoint}/progress/bob")
    table = {r[0]: r for r in rows(browser, "#progress tr.unit")}
    assert table["CartPole-v1"][3:5] == ["280.00", "fail"] and table["CartPole-v1"][5].startswith("self-reported")
    assert table["Pixelcopter-PLE-v0"][3:5] == ["2.00", "fail"]
    assert browser.find_element("id", "overall").text == "Unit 4 not passed yet"

    browser.get(f"{site.hub.endpoint}/progress/nobody")
    assert [r[4] for r in rows(browser, "#progress tr.unit")] == ["fail", "fail"]


def test_a_hostile_card_runs_nothing(site, browser):
    browser.get(f"{site.hub.endpoint}/mallory/evil")
    assert browser.find_element("id", "repo-id").text == "mallory/evil"
    time.sleep(1)  # give an onerror/onload handler every chance to fire
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.title != "pwned" and "mallory/evil" in browser.title
    assert browser.execute_script(
        "return document.querySelectorAll('#card script, #card iframe, #card svg, #card [onerror], #card [onclick],"
        " #card [style], #card [onload]').length") == 0
    hrefs = browser.execute_script("return [...document.querySelectorAll('#card a')].map(a => a.href)")
    assert not any(h.startswith("javascript:") for h in hrefs)
    assert "Totally normal agent" in browser.find_element("id", "card").text


def test_index_lists_filters_by_env_and_searches_by_name(site, browser):
    browser.get(site.hub.endpoint + "/")
    listed = [r[0] for r in rows(browser, "#models tr:not(:first-child)")]
    assert "alice/Reinforce-CartPole-v1" in listed and "mallory/evil" in listed
    box = browser.find_element("id", "search")
    box.clear()
    box.send_keys("pixel")
    box.submit()
    wait_for(browser, "location.search.includes('search=pixel')")
    assert sorted(r[0] for r in rows(browser, "#models tr:not(:first-child)")) == [
        "alice/Reinforce-Pixelcopter-PLE-v0", "bob/Reinforce-Pixelcopter-PLE-v0"]
    browser.get(site.hub.endpoint + "/?env=ALE%2FPong-v5")
    assert [r[0] for r in rows(browser, "#models tr:not(:first-child)")] == ["dave/Reinforce-ALE-Pong-v5"]
    browser.get(site.hub.endpoint + "/?env=CartPole-v1&search=")
    screenshot(browser, "models")


# ------------------------------------------------------------------------------------------ without a browser
def test_pages_answer_404_for_missing_and_private_models_and_send_a_csp(site):
    import http.client

    site.api("alice").create_repo("alice/hidden", private=True)
    conn = http.client.HTTPConnection("127.0.0.1", site.hub.port, timeout=10)
    for path, status in [("/alice/hidden", 404), ("/nobody/nothing", 404), ("/alice/..", 404),
                         ("/progress/not%20a%20name", 400), ("/alice/Reinforce-CartPole-v1", 200)]:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode()
        assert resp.status == status, path
        assert resp.getheader("content-security-policy").startswith("default-src 'none'")
        assert "<script" not in body.lower()
    conn.close()


def test_card_html_leaves_out_media_the_page_shows_and_empty_table_headers():
    from hubrl.server.render import render_card

    card = (REFERENCE / "CartPole-v1" / "README.md").read_text()
    plain = render_card(card, repo_id="a/b", commit_id="c" * 40)
    shown = render_card(card, repo_id="a/b", commit_id="c" * 40, shown=["replay.mp4", "training_curve.png"])
    assert "<video" in plain and "<video" not in shown and "<img" not in shown
    assert "<h2>Replay</h2>" in plain and "<h2>Replay</h2>" not in shown  # its section had only the video
    table = render_card("| | |\n|---|---|\n| mean | 1 |\n", repo_id="a/b", commit_id="c" * 40)
    assert "<thead>" not in table and "<td>mean</td>" in table


def test_card_html_is_sanitised_and_relative_media_point_at_the_repo():
    from hubrl.server.render import render_card

    html = render_card(HOSTILE_CARD + "\n![curve](training_curve.png)\n<video src='replay.mp4' controls></video>"
                       "\n[up](../../auth/users.json)\n", repo_id="a/b", commit_id="c" * 40)
    lowered = html.lower()
    for bad in ("<script", "onerror", "onload", "onclick", "javascript:", "<iframe", "style=", "<svg"):
        assert bad not in lowered, bad
    assert f'src="/a/b/resolve/{"c" * 40}/training_curve.png"' in html
    assert f'<video src="/a/b/resolve/{"c" * 40}/replay.mp4" controls' in html
    assert "users.json" not in html and "model-index" not in html
