"""The web console in a real Chromium: a drain seen live, the gallery's images, a retry, a
script prompt shown as text, and a console off loopback refusing a request without its token.

Run by scripts/browser-test.sh, which makes the venv and finds Chromium; prints one line per
check, "ok" or "FAIL", and exits non-zero on any failure.
"""

import argparse
import os
import re
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SCRIPT_PROMPT = "a poster that says <script>alert(1)</script> in neon"
PROMPTS = [
    "a red fox in fresh snow, golden hour --ar 3:2",
    "a lighthouse in a storm, oil painting --v 7",
    "a bowl of ramen, studio light, top view",
    "isometric cyberpunk alley at night",
    "a watercolor map of an imaginary island",
    "a forbidden prompt sim:reject=403",
    SCRIPT_PROMPT,
    "a paper boat on a puddle, macro",
    "an astronaut tending a greenhouse on mars",
    "a tiny house in a mossy forest, morning fog",
]

failures = []


def png(width, height):
    """An RGB gradient as a PNG, written with zlib (no imaging library in the venv)."""
    rows = []
    for y in range(height):
        g = y * 255 // height
        rows.append(b"\x00" + bytes(v for x in range(width) for v in (x * 255 // width, g, 160)))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 6)) + chunk(b"IEND", b"")


def check(name, condition, detail=""):
    print(("ok    " if condition else "FAIL  ") + name + ("" if condition else f": {detail}"), flush=True)
    if not condition:
        failures.append(name)


def wait_for(what, predicate, timeout):
    """Polls predicate (a browser or database condition) until it holds; the deadline only
    bounds a test that would otherwise hang, it asserts nothing about speed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    return predicate()


def start(cmd, log_path):
    log = open(log_path, "w")
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def console_address(log_path, process):
    def found():
        if process.poll() is not None:
            raise SystemExit(f"error: {' '.join(process.args)} exited:\n" + open(log_path).read())
        match = re.search(r"console on (http://[^ /]+)/", open(log_path).read())
        return match.group(1) if match else None

    address = wait_for("console address", found, 120)
    if not address:
        raise SystemExit("error: no 'console on' line:\n" + open(log_path).read())
    return address


def db_counts(db):
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("SELECT state, jobs FROM queue_summary").fetchall())


def page_counts(driver):
    # One script, so a live update cannot swap the cells out halfway through the read.
    return driver.execute_script(
        "var c = {}; document.querySelectorAll('td[data-state]').forEach(function (td) { c[td.dataset.state] = parseInt(td.textContent.replace(/,/g, ''), 10); }); return c;"
    )


def browser(chromium, chromedriver):
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", required=True)
    parser.add_argument("--chromium", required=True)
    parser.add_argument("--chromedriver", required=True)
    parser.add_argument("--screenshots", help="folder for overview.png and gallery.png")
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="lnq-browser-")
    db = os.path.join(work, "queue.db")
    q = [args.bin, "--db", db]
    subprocess.run(q + ["enqueue", "--tag", "posters", "--file", "-"], input="\n".join(PROMPTS[:7]) + "\n", text=True, check=True, capture_output=True)
    subprocess.run(q + ["enqueue", "--tag", "garden", "--file", "-"], input="\n".join(PROMPTS[7:]) + "\n", text=True, check=True, capture_output=True)

    daemon_log = os.path.join(work, "daemon.log")
    daemon = start(q + ["run", "--simulate", "--exit-when-idle", "--concurrency", "2", "--rate", "5", "--ui-listen", "127.0.0.1:0"], daemon_log)
    driver = None
    others = []
    try:
        base = console_address(daemon_log, daemon)
        driver = browser(args.chromium, args.chromedriver)

        # The overview follows the drain without a reload.
        driver.get(base + "/")
        driver.execute_script("window.__sameDocument = true")
        first = page_counts(driver)
        check("overview shows every state", set(first) >= {"queued", "processing", "completed", "failed"}, str(first))
        changed = wait_for("completed count rises", lambda: page_counts(driver).get("completed", 0) > first.get("completed", 0), 120)
        check("overview updates as jobs complete", bool(changed), str(page_counts(driver)))
        check("  ... without reloading the page", driver.execute_script("return window.__sameDocument === true") is True)
        if args.screenshots:
            wait_for("a few done", lambda: page_counts(driver).get("completed", 0) >= 4, 120)
            driver.save_screenshot(os.path.join(args.screenshots, "console-overview.png"))
        drained = wait_for("drain ends", lambda: daemon.poll() is not None, 300)
        check("the daemon drains the queue", drained and daemon.returncode == 0, open(daemon_log).read()[-2000:])

        # Counts on a page served by `ui` (no daemon) match the database exactly.
        ui_log = os.path.join(work, "ui.log")
        ui = start(q + ["ui", "--listen", "127.0.0.1:0"], ui_log)
        others.append(ui)
        base = console_address(ui_log, ui)
        driver.get(base + "/")
        expected = db_counts(db)
        shown = page_counts(driver)
        check("overview counts equal the database's", all(shown.get(k, 0) == v for k, v in expected.items()), f"{shown} vs {expected}")

        # One saved image made as large as Midjourney's: its tile is a thumbnail, its page the file.
        with sqlite3.connect(db) as conn:
            big_job, big_index, big_path = conn.execute(
                "SELECT job_id, idx, path FROM job_outputs WHERE kind = 'image' AND download_state = 'done' ORDER BY job_id DESC, idx LIMIT 1"
            ).fetchone()
        with open(big_path, "wb") as f:
            f.write(png(1536, 1024))

        # The gallery shows the downloaded images, every one decoded by the browser.
        driver.get(base + "/gallery")
        loaded = wait_for(
            "images load",
            lambda: driver.execute_script(
                "var i = Array.from(document.images); return i.length > 0 && i.every(function (x) { return x.complete; }) ? i.map(function (x) { return x.naturalWidth; }) : null"
            ),
            30,
        )
        check("gallery shows images", bool(loaded), "no image loaded")
        check("  ... each with natural width > 0", bool(loaded) and all(w > 0 for w in loaded), str(loaded))
        tile = driver.execute_script(
            f"var i = document.querySelector(\"img[src='/thumbs/{big_job}/image/{big_index}']\"); return i ? [i.naturalWidth, i.naturalHeight] : null"
        )
        check("a large image's tile is a 384 px thumbnail", tile == [384, 256], str(tile))
        if args.screenshots:
            driver.save_screenshot(os.path.join(args.screenshots, "console-gallery.png"))
        driver.get(base + f"/jobs/{big_job}/outputs/image/{big_index}")
        full = wait_for(
            "full image",
            lambda: driver.execute_script("var i = document.querySelector('figure.full img'); return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null"),
            30,
        )
        check("  ... and its page shows the whole file", full == [1536, 1024], str(full))

        # A script prompt is shown as text, and runs nothing.
        with sqlite3.connect(db) as conn:
            script_job = conn.execute("SELECT id FROM jobs WHERE prompt = ?", (SCRIPT_PROMPT,)).fetchone()[0]
            failed_job = conn.execute("SELECT id FROM jobs WHERE state = 'failed' ORDER BY id LIMIT 1").fetchone()[0]
        driver.get(base + f"/jobs/{script_job}")
        prompt = driver.find_element(By.CSS_SELECTOR, "dd.prompt").text
        check("a <script> prompt renders as text", prompt == SCRIPT_PROMPT, repr(prompt))
        try:
            driver.switch_to.alert
            alerted = True
        except NoAlertPresentException:
            alerted = False
        scripts = driver.execute_script("return Array.from(document.scripts).map(function (s) { return s.src; })")
        check("  ... and no script of it runs", not alerted and all(s.endswith("/console.js") for s in scripts), str(scripts))

        # Retry on a failed job changes its row.
        driver.get(base + f"/jobs/{failed_job}")
        driver.find_element(By.CSS_SELECTOR, f"form[action='/jobs/{failed_job}/retry'] button").click()
        with sqlite3.connect(db) as conn:
            state = wait_for("retried", lambda: conn.execute("SELECT state FROM jobs WHERE id = ?", (failed_job,)).fetchone()[0] == "queued", 10)
        check("retry puts the failed job back in the queue", bool(state))
        flash = wait_for("flash", lambda: "".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, ".flash")), 10)
        check("  ... and says so", "queued again" in flash, flash)

        # An image's follow-up button enqueues the job with its parent and image number.
        driver.get(base + "/gallery")
        driver.find_element(By.CSS_SELECTOR, "a.tile[href*='/outputs/image/']").click()
        wait_for("image page", lambda: "/outputs/image/" in driver.current_url and driver.find_elements(By.XPATH, "//button[normalize-space()='Vary (strong)']"), 10)
        parent = int(re.search(r"/jobs/(\d+)/outputs/image/(\d)", driver.current_url).group(1))
        image = int(re.search(r"/jobs/(\d+)/outputs/image/(\d)", driver.current_url).group(2))
        driver.find_element(By.XPATH, "//button[normalize-space()='Vary (strong)']").click()
        # The click returns before the form's answer: wait for the row it makes.
        newest = "SELECT kind, parent_id, json_extract(params, '$.imageNo'), json_extract(params, '$.type') FROM jobs ORDER BY id DESC LIMIT 1"
        with sqlite3.connect(db) as conn:
            row = wait_for("follow-up row", lambda: (lambda r: r if r[0] == "variation" else None)(conn.execute(newest).fetchone()), 10)
            row = row or conn.execute(newest).fetchone()
        check("Vary (strong) enqueues a variation of that image", row == ("variation", parent, image, 1), str(row))

        # Off loopback, every request needs the token.
        token_file = os.path.join(work, "token")
        with open(token_file, "w") as f:
            f.write("correct-horse-battery-staple-42\n")
        open_log = os.path.join(work, "open.log")
        wide = start(q + ["ui", "--listen", "0.0.0.0:0", "--ui-token-file", token_file], open_log)
        others.append(wide)
        wide_base = console_address(open_log, wide).replace("0.0.0.0", "127.0.0.1")
        try:
            urllib.request.urlopen(wide_base + "/jobs")
            status = 200
        except urllib.error.HTTPError as error:
            status = error.code
        check("a request without the token is refused", status == 401, f"status {status}")
        driver.get(wide_base + "/jobs")
        wait_for("login page", lambda: driver.find_elements(By.NAME, "token"), 10)
        check("  ... a browser is sent to sign in", "/login" in driver.current_url, driver.current_url)
        driver.find_element(By.NAME, "token").send_keys("correct-horse-battery-staple-42")
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        signed_in = wait_for("signed in", lambda: driver.current_url.endswith("/jobs") and driver.find_elements(By.CSS_SELECTOR, "table.jobs"), 10)
        check("  ... and with the token sees the jobs", bool(signed_in), driver.current_url)
        driver.find_element(By.CSS_SELECTOR, "form.signout button").click()
        wait_for("signed out", lambda: "/login" in driver.current_url, 10)
        driver.get(wide_base + "/jobs")
        signed_out = wait_for("login again", lambda: driver.find_elements(By.NAME, "token"), 10)
        check("  ... until it signs out", bool(signed_out) and "/login" in driver.current_url, driver.current_url)
    finally:
        if driver:
            driver.quit()
        for process in [daemon] + others:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
    print(f"{len(failures)} failed" if failures else "all passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
