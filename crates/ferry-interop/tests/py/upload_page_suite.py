"""A real browser (headless Chromium through chromedriver, driven by selenium) on the page of an
upload-only share link, in a fresh profile that never logged in.

Run by crates/ferry-interop/tests/page.rs with the selenium virtual environment's python:
    upload_page_suite.py LINK_URL FOLDER_NAME WORK_DIR
WORK_DIR holds up1.txt, up2.bin and already.txt (a name the shared folder holds already) to
upload; the screenshot goes there too. Prints one JSON line; exits non-zero on the first failed
check.
"""

import json
import os
import sys

from selenium.webdriver.common.by import By

from page_suite import browser, check, wait


def rows(driver):
    return {item.find_element(By.CSS_SELECTOR, ".file").text:
            (item.get_attribute("class"), item.find_element(By.CSS_SELECTOR, ".why").text)
            for item in driver.find_elements(By.CSS_SELECTOR, "#uploads li.upload")}


def main():
    link, folder, work = sys.argv[1], sys.argv[2], sys.argv[3]
    driver = browser(os.path.join(work, "downloads"))
    measured = {}
    try:
        driver.get(link)
        # The folder's name as text (no element made of it), and nothing the folder holds.
        shown = driver.find_element(By.ID, "folder").text
        check(shown == folder, "the folder's name shows as text: " + repr(shown))
        check(folder in driver.title, "the title names the folder: " + repr(driver.title))
        check(not driver.find_elements(By.TAG_NAME, "b"), "no element from the folder's name")
        check("already" not in driver.page_source, "the page lists nothing")
        check(driver.find_element(By.ID, "tools").is_displayed(), "the picker shows")
        check(not driver.find_element(By.ID, "nojs").is_displayed(),
              "the no-JavaScript note is hidden")
        curl = driver.find_element(By.ID, "curl").text
        check(curl == "curl -T FILE " + link.rstrip("/") + "/", "the curl line: " + repr(curl))

        # Two files through the file input; both bars end and say uploaded.
        picker = driver.find_element(By.ID, "picker")
        picker.send_keys(os.path.join(work, "up1.txt") + "\n" + os.path.join(work, "up2.bin"))

        def uploaded(d):
            now = rows(d)
            bad = {name: row for name, row in now.items() if "failed" in row[0]}
            check(not bad, "an upload failed: " + repr(bad))
            bars = d.find_elements(By.CSS_SELECTOR, "#uploads li.upload progress")
            return (set(now) == {"up1.txt", "up2.bin"}
                    and all(why == "uploaded" for _, why in now.values())
                    and all(b.get_attribute("value") == b.get_attribute("max") for b in bars))
        wait(driver, uploaded, "both files to say uploaded")
        status = driver.find_element(By.ID, "status").text
        check(status == "2 files uploaded", "the uploads reported: " + repr(status))

        # A name the folder holds already: refused, and the line says why.
        picker.send_keys(os.path.join(work, "already.txt"))
        wait(driver, lambda d: "failed" in rows(d).get("already.txt", ("", ""))[0],
             "the refused upload")
        why = rows(driver)["already.txt"][1]
        check(why.startswith("failed: ") and "already" in why and "409" in why,
              "the failure says why: " + repr(why))
        measured["refused"] = why
        status = driver.find_element(By.ID, "status").text
        check(status == "1 of 3 uploads failed", "the status counts it: " + repr(status))

        # No script error from the page's own code (CSP refusals would show here too); the
        # refused PUT's 409 is the one expected console line.
        logs = [entry for entry in driver.get_log("browser")
                if entry.get("level") == "SEVERE"
                and "favicon" not in entry.get("message", "")
                and "409" not in entry.get("message", "")]
        check(not logs, "no console errors: " + repr(logs))

        shot = os.path.join(work, "upload-page.png")
        driver.save_screenshot(shot)
        measured["screenshot"] = shot
        measured["rows"] = rows(driver)
    finally:
        driver.quit()
    print(json.dumps(measured))


if __name__ == "__main__":
    main()
