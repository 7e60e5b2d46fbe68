"""The playground page (``GET /``) in a real browser: headless Chromium from the Debian package, driven by selenium
through the Debian ``chromium-driver``, against a real server with an API key.

Skipped only when ``/usr/bin/chromium`` is missing and ``VERIMAP_REQUIRE_BROWSER`` is unset (CI sets it, so CI
cannot skip it silently). ``VERIMAP_WRITE_SCREENSHOT=1`` writes docs/playground.png.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "playground.png"
QUERY = "Did the dog bite the man?"
SCRIPT = "<script>alert(1)</script><img src=x onerror=alert(2)> The dog bit the man."
DOCS = ["The man bit the dog.", "The dog bit the man.", "Dogs are loyal pets.", SCRIPT]
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium reaches for the network at start, and on a closed network its connections are refused.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,900",
    "--hide-scrollbars",
]


@pytest.fixture(scope="module")
def page_url(serve, verifier, api_key) -> Iterator[str]:
    """A server with an API key (and the default limits, as the screenshot shows them)."""
    from verimap.serve import create_app

    with serve(create_app(verifier, api_key=api_key)) as url:
        yield url


def test_page_is_served_without_the_key_and_the_data_is_not(page_url):
    page = httpx.get(page_url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'self': no inline script
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "http://" not in page.text and "https://" not in page.text  # nothing fetched from elsewhere
    for name, media in (("playground.js", "text/javascript"), ("playground.css", "text/css")):
        asset = httpx.get(f"{page_url}/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media)
        assert "http://" not in asset.text and "https://" not in asset.text
    assert "innerHTML" not in httpx.get(page_url + "/static/playground.js").text  # DOM built with textContent
    assert httpx.get(page_url + "/info").status_code == 401
    assert httpx.get(page_url + "/static/other.js").status_code == 401  # only the page's own files are open


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not os.path.exists(CHROMIUM) and not os.environ.get("VERIMAP_REQUIRE_BROWSER"):
        pytest.skip(
            f"{CHROMIUM} is missing (apt-get install chromium chromium-driver); set VERIMAP_REQUIRE_BROWSER=1 to fail"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="verimap-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _fill(driver, element_id: str, text: str) -> None:
    from selenium.webdriver.common.by import By

    field = driver.find_element(By.ID, element_id)
    field.clear()
    field.send_keys(text)


def _message(driver, wait) -> str:
    from selenium.webdriver.common.by import By

    box = driver.find_element(By.ID, "message")
    wait.until(lambda d: box.is_displayed() and box.text.strip())
    return box.text


def test_playground_in_chromium(browser, page_url, api_key):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from verimap.serve.app import DEFAULT_MAX_DOCUMENTS

    driver = browser
    wait = WebDriverWait(driver, 120)
    driver.get(page_url + "/")
    assert "needs an API key" in _message(driver, wait)  # /info answered 401: the page says what to do

    # Rank four candidates, one of them markup.
    _fill(driver, "key", api_key)
    _fill(driver, "query", QUERY)
    _fill(driver, "candidates", "\n".join(DOCS))
    driver.find_element(By.ID, "rank").click()
    body = driver.find_element(By.CSS_SELECTOR, "#ranking tbody")
    wait.until(lambda d: len(body.find_elements(By.TAG_NAME, "tr")) == len(DOCS))
    rows = body.find_elements(By.TAG_NAME, "tr")
    texts = [row.find_element(By.CSS_SELECTOR, "td.text").text for row in rows]
    assert sorted(texts) == sorted(DOCS)  # the markup is there as text, whole
    for row in rows:
        for cell in ("score", "prob"):
            value = float(row.find_element(By.CSS_SELECTOR, f"td.{cell}").text)
            assert 0.0 <= value <= 1.0
        assert row.find_element(By.CSS_SELECTOR, "td.verdict").text in ("ACCEPT", "REJECT")
    scores = [float(row.find_element(By.CSS_SELECTOR, "td.score").text) for row in rows]
    assert scores == sorted(scores, reverse=True)  # best first
    assert texts[0] == "The dog bit the man."  # the README's example, as the library ranks it
    assert driver.find_elements(By.CSS_SELECTOR, "#results script, #results img") == []
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    assert "may be wrong" in driver.find_element(By.ID, "caveat").text
    assert driver.execute_script("return sessionStorage.getItem('verimap.apiKey')") == api_key
    # Each reason comes in from /explain.
    wait.until(lambda d: all(r.find_element(By.CSS_SELECTOR, "td.reason").text not in ("…", "") for r in rows))

    # The token map of the role swap: one heatmap row per query token, one column per candidate token.
    swap = rows[texts.index("The man bit the dog.")]
    swap.click()
    heatmap = driver.find_element(By.ID, "heatmap")
    wait.until(lambda d: heatmap.is_displayed() and heatmap.find_elements(By.CSS_SELECTOR, "tbody tr"))
    explained = httpx.post(
        page_url + "/explain",
        json={"query": QUERY, "document": "The man bit the dog."},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=120,
    ).json()
    map_rows = heatmap.find_elements(By.CSS_SELECTOR, "tbody tr")
    assert [r.find_element(By.TAG_NAME, "th").text for r in map_rows] == explained["query_tokens"]
    assert all(len(r.find_elements(By.CSS_SELECTOR, "td.cell")) == len(explained["candidate_tokens"]) for r in map_rows)
    assert len(heatmap.find_elements(By.CSS_SELECTOR, "td.best")) == len(explained["query_tokens"])
    best = [r.find_element(By.CSS_SELECTOR, "td.bestmatch").text.split()[0] for r in map_rows]
    assert best == [m["match"] for m in explained["best_match"]]
    assert driver.find_element(By.ID, "legend").is_displayed()
    if os.environ.get("VERIMAP_WRITE_SCREENSHOT") == "1":
        size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"captureBeyondViewport": True, "clip": clip})
        SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))  # the whole page, not only the window

    # Bad input gives a message on the page.
    _fill(driver, "query", " ")
    driver.find_element(By.ID, "rank").click()
    assert "Enter a query" in _message(driver, wait)
    assert not driver.find_element(By.ID, "results").is_displayed()
    _fill(driver, "query", QUERY)
    _fill(driver, "candidates", "\n\n")
    driver.find_element(By.ID, "rank").click()
    assert "at least one candidate" in _message(driver, wait)
    too_many = "\n".join(f"passage {i}" for i in range(DEFAULT_MAX_DOCUMENTS + 1))
    driver.execute_script("arguments[0].value = arguments[1]", driver.find_element(By.ID, "candidates"), too_many)
    driver.find_element(By.ID, "rank").click()
    assert f"at most {DEFAULT_MAX_DOCUMENTS}" in _message(driver, wait)
    _fill(driver, "query", "\u200b")  # invisible only: refused by the server (422), its message shown
    _fill(driver, "candidates", "The dog bit the man.")
    driver.find_element(By.ID, "rank").click()
    message = _message(driver, wait)
    assert "422" in message and "query" in message

    # A wrong key: the 401 is explained on the page.
    _fill(driver, "key", "not-the-key")
    _fill(driver, "query", QUERY)
    driver.find_element(By.ID, "rank").click()
    message = _message(driver, wait)
    assert "401" in message and "API key" in message
    assert driver.find_element(By.TAG_NAME, "h1").text == "verimap playground"  # still the page, not an error
