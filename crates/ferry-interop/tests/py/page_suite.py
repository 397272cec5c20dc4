"""A real browser (headless Chromium through chromedriver, driven by selenium) on ferryd's page.

Run by crates/ferry-interop/tests/page.rs with the selenium virtual environment's python:
    page_suite.py BASE_URL WORK_DIR            (user alice, password wonderland)
WORK_DIR holds up1.txt and up2.bin to upload; downloads and the screenshot go there too.
Prints one JSON line; exits non-zero on the first failed check.
"""

import json
import os
import sys
import time

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException,
                                        StaleElementReferenceException, TimeoutException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

MARKUP = "<img src=x onerror=alert(1)>.txt"
# Drops a file made in the page on the page, as a drag and drop from the desktop would.
DROP = """
const data = new DataTransfer();
data.items.add(new File([arguments[1]], arguments[0], {type: 'text/plain'}));
document.querySelector('main').dispatchEvent(
    new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));
"""
LIMIT = 30


def check(condition, what):
    if not condition:
        raise SystemExit("FAILED: " + what)


def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1200,800", "--no-first-run", "--password-store=basic"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": downloads,
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    driver.set_page_load_timeout(LIMIT)
    return driver


def wait(driver, condition, what):
    try:
        return WebDriverWait(
            driver, LIMIT, poll_frequency=0.1,
            ignored_exceptions=(StaleElementReferenceException, NoSuchElementException),
        ).until(lambda d: condition(d))
    except TimeoutException:
        raise SystemExit("FAILED: timed out waiting for " + what + "\n" + driver.page_source[:4000])


def names(driver):
    return [row.get_attribute("data-name")
            for row in driver.find_elements(By.CSS_SELECTOR, "#listing tbody tr[data-name]")]


def row(driver, name):
    for tr in driver.find_elements(By.CSS_SELECTOR, "#listing tbody tr[data-name]"):
        if tr.get_attribute("data-name") == name:
            return tr
    raise SystemExit("FAILED: no row for " + repr(name) + " in " + repr(names(driver)))


def main():
    base, work = sys.argv[1].rstrip("/"), sys.argv[2]
    downloads = os.path.join(work, "downloads")
    os.makedirs(downloads, exist_ok=True)
    driver = browser(downloads)
    measured = {}
    try:
        # A folder without a login sends the browser to the form; logging in brings it back.
        driver.get(base + "/docs/")
        wait(driver, lambda d: "/.login" in d.current_url, "the login form")
        driver.find_element(By.ID, "user").send_keys("alice")
        driver.find_element(By.ID, "password").send_keys("wonderland")
        driver.find_element(By.ID, "login").click()
        wait(driver, lambda d: d.current_url == base + "/docs/", "the folder after login")
        check("nested" in names(driver), "the folder lists its subfolder: " + repr(names(driver)))

        # Navigate: into a subfolder and back by the breadcrumbs.
        row(driver, "nested").find_element(By.CSS_SELECTOR, "td.name a").click()
        wait(driver, lambda d: d.current_url == base + "/docs/nested/", "the subfolder")
        check("deep.txt" in names(driver), "the subfolder's file")
        driver.find_element(By.CSS_SELECTOR, ".crumbs a[href='/docs/']").click()
        wait(driver, lambda d: d.current_url == base + "/docs/", "back to /docs/")

        # The markup name is text: the DOM's text is the name and no img element exists.
        link = row(driver, MARKUP).find_element(By.CSS_SELECTOR, "td.name a")
        check(link.text == MARKUP, "the markup name shows as text: " + repr(link.text))
        check(not driver.find_elements(By.TAG_NAME, "img"), "no img element on the page")

        # Upload two files through the file input; wait for both bars to finish and the listing.
        picker = driver.find_element(By.ID, "picker")
        picker.send_keys(os.path.join(work, "up1.txt") + "\n" + os.path.join(work, "up2.bin"))
        def finished(d):
            items = d.find_elements(By.CSS_SELECTOR, "#uploads li.upload")
            bars = d.find_elements(By.CSS_SELECTOR, "#uploads li.upload progress")
            failed = d.find_elements(By.CSS_SELECTOR, "#uploads li.failed")
            check(not failed, "an upload failed: " + " ".join(f.text for f in failed))
            return (len(items) == 2
                    and all("done" in i.get_attribute("class") for i in items)
                    and all(b.get_attribute("value") == b.get_attribute("max") for b in bars))
        wait(driver, finished, "both upload bars to finish")
        wait(driver, lambda d: {"up1.txt", "up2.bin"} <= set(names(d)), "the uploads listed")
        status = driver.find_element(By.ID, "status").text
        check("2 files uploaded" in status, "the uploads reported: " + repr(status))

        # Download one; bytes compared by the caller.
        row(driver, "up2.bin").find_element(By.CSS_SELECTOR, "a.download").click()
        target = os.path.join(downloads, "up2.bin")
        deadline = time.monotonic() + LIMIT
        while not os.path.exists(target) and time.monotonic() < deadline:
            time.sleep(0.1)
        check(os.path.exists(target), "the download arrived in " + downloads)
        measured["downloaded"] = target

        # Rename up1.txt to renamed.txt (prompt), then delete it (confirm).
        row(driver, "up1.txt").find_element(By.CSS_SELECTOR, "button.rename").click()
        alert = WebDriverWait(driver, LIMIT).until(lambda d: d.switch_to.alert)
        alert.send_keys("renamed.txt")
        alert.accept()
        wait(driver, lambda d: "renamed.txt" in names(d) and "up1.txt" not in names(d), "the rename")
        row(driver, "renamed.txt").find_element(By.CSS_SELECTOR, "button.delete").click()
        alert = WebDriverWait(driver, LIMIT).until(lambda d: d.switch_to.alert)
        check("renamed.txt" in alert.text, "the confirmation names the file: " + alert.text)
        alert.accept()
        wait(driver, lambda d: "renamed.txt" not in names(d), "the delete")

        # Share: the page asks /.share for a link to up2.bin; a fresh profile (no session
        # cookie) downloads the file through it.
        row(driver, "up2.bin").find_element(By.CSS_SELECTOR, "button.share").click()
        wait(driver, lambda d: "Share link: " in d.find_element(By.ID, "status").text,
             "the share link")
        link = driver.find_element(By.ID, "status").text.split("Share link: ", 1)[1].strip()
        check("/s/" in link, "a /s/ link: " + link)
        measured["share"] = link
        shared = os.path.join(work, "shared")
        os.makedirs(shared, exist_ok=True)
        fresh = browser(shared)
        try:
            fresh.get(base + "/docs/")
            check("/.login" in fresh.current_url, "the fresh profile is logged out: "
                  + fresh.current_url)
            try:
                fresh.get(link)
            except TimeoutException:
                pass  # a download: no page to load
            target = os.path.join(shared, "up2.bin")
            deadline = time.monotonic() + LIMIT
            while not os.path.exists(target) and time.monotonic() < deadline:
                time.sleep(0.1)
            check(os.path.exists(target), "the shared download arrived in " + shared
                  + " under its name: " + repr(os.listdir(shared)))
            measured["shared_download"] = target
        finally:
            fresh.quit()

        # New folder (prompt).
        driver.find_element(By.ID, "mkdir").click()
        alert = WebDriverWait(driver, LIMIT).until(lambda d: d.switch_to.alert)
        alert.send_keys("made")
        alert.accept()
        wait(driver, lambda d: "made" in names(d), "the new folder")

        # Drag and drop uploads too, with its bar.
        driver.execute_script(DROP, "dropped.txt", "dropped bytes")
        wait(driver, lambda d: "dropped.txt" in names(d), "the dropped file listed")
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.done"), "its bar")

        # No script error from the page's own code (CSP refusals would show here too).
        logs = [entry for entry in driver.get_log("browser")
                if entry.get("level") == "SEVERE"
                and "favicon" not in entry.get("message", "")]
        check(not logs, "no console errors: " + repr(logs))

        shot = os.path.join(work, "page.png")
        driver.save_screenshot(shot)
        measured["screenshot"] = shot
        measured["names"] = names(driver)

        # A failed file says why: alice may not upload into /docs/locked/.
        driver.get(base + "/docs/locked/")
        driver.execute_script(DROP, "refused.txt", "no")
        failed = wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#uploads li.failed"),
                      "the refused upload")
        why = failed[0].find_element(By.CSS_SELECTOR, ".why").text
        check(why.startswith("failed: ") and "403" in why, "the failure says why: " + repr(why))
        measured["refused"] = why
        check("failed" in driver.find_element(By.ID, "status").text, "the status counts it")
    finally:
        driver.quit()
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
