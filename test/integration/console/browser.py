#!/usr/bin/env python3
"""Drives the secsrv web console (secsrv-log serve) in headless Chromium.

A small W3C WebDriver client (standard library only) talking to a
chromedriver on 127.0.0.1 (see chromium.sh), and the scenario steps:

  python3 browser.py --driver URL --base https://127.0.0.1:PORT --out DIR
      --downloads DIR [--subject ID] [--min-results N] [--passphrase P]
      [--expect-cn CN] STEP...

STEP is login, overview, search, exchange, package, person, verify or xss.
The steps run in order in one browser session. Each prints "ok STEP: detail"
and leaves a screenshot OUT/NN-STEP.png; the first that fails prints
"FAIL STEP: reason" to stderr and the program exits 1.
"""
import argparse
import base64
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # W3C element reference key
WAIT = 20  # seconds a page gets to show what a step expects
XSS_MARK = "<script>window.__xss"


class Fail(Exception):
    pass


class WebDriver:
    """Just the W3C WebDriver commands the steps need."""

    def __init__(self, url):
        self.url = url.rstrip("/")
        self.sid = None

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                return json.load(r)["value"]
        except urllib.error.HTTPError as e:
            err = json.load(e).get("value", {})
            raise Fail(f"webdriver {path.rsplit('/', 1)[-1]}: {err.get('error')}: "
                       f"{str(err.get('message')).splitlines()[0]}") from None

    def cmd(self, method, path, body=None):
        return self.call(method, f"/session/{self.sid}{path}", body)

    def start(self, profile, downloads, origin):
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,1800", "--force-device-scale-factor=1",
                f"--user-data-dir={profile}", "--lang=de-DE",
                "--no-first-run", "--no-default-browser-check", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-extensions",
                # nothing beyond loopback: other hosts go to a proxy that is
                # not there (loopback always bypasses a proxy), and names
                # do not resolve
                "--proxy-server=http://127.0.0.1:9",
                "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
        prefs = {"download.default_directory": downloads,  # headless too
                 "download.prompt_for_download": False,
                 "download.directory_upgrade": True,
                 # present a client certificate to origin without asking which
                 # (a headless browser would never answer): the user-level
                 # form of the policy AutoSelectCertificateForUrls; the NSS
                 # database (chromium.sh) holds just the one certificate
                 "profile.content_settings.exceptions.auto_select_certificate": {
                     origin + ",*": {"setting": {"filters": [{}]}}}}
        caps = {"browserName": "chrome", "acceptInsecureCerts": False,
                "timeouts": {"pageLoad": WAIT * 1000, "script": 30000, "implicit": 0},
                "goog:chromeOptions": {"binary": os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium"),
                                       "args": args, "prefs": prefs}}
        self.sid = self.call("POST", "/session",
                             {"capabilities": {"alwaysMatch": caps}})["sessionId"]
        # screenshots of 1280x1800 (--window-size counts the window's frame too)
        self.cdp("Emulation.setDeviceMetricsOverride", width=1280, height=1800,
                 deviceScaleFactor=1, mobile=False)

    def cdp(self, cmd, **params):
        """A Chrome DevTools Protocol command, through chromedriver."""
        return self.cmd("POST", "/goog/cdp/execute", {"cmd": cmd, "params": params})

    def quit(self):
        if self.sid:
            try:
                self.cmd("DELETE", "")
            finally:
                self.sid = None

    def get(self, url):
        try:
            self.cmd("POST", "/url", {"url": url})
        except Fail as e:
            if err := re.search(r"net::(ERR_\w+)", str(e)):
                raise Fail(f"page did not load: {err[1]} at {url}") from None
            if "timeout" in str(e):
                raise Fail(f"page did not load within {WAIT} s: {url}") from None
            raise

    def js(self, script, *args):
        return self.cmd("POST", "/execute/sync", {"script": script, "args": list(args)})

    def find(self, css):
        """The first element matching css, or None."""
        return self.js("return document.querySelector(arguments[0])", css)

    def count(self, css):
        return self.js("return document.querySelectorAll(arguments[0]).length", css)

    def text(self, el):
        return self.cmd("GET", f"/element/{el[ELEMENT]}/text")

    def prop(self, el, name):
        return self.cmd("GET", f"/element/{el[ELEMENT]}/property/{name}")

    def click(self, el):
        self.cmd("POST", f"/element/{el[ELEMENT]}/click", {})

    def type(self, el, text):
        self.cmd("POST", f"/element/{el[ELEMENT]}/value", {"text": text})

    def screenshot(self, path):
        with open(path, "wb") as f:
            f.write(base64.b64decode(self.cmd("GET", "/screenshot")))


class Console:
    """The scenario steps against the console at args.base."""

    def __init__(self, wd, args):
        self.wd, self.a = wd, args
        self.pages = set()  # pages checked for script from logged data

    def where(self):
        return f"at {self.wd.cmd('GET', '/url')} (title {self.wd.cmd('GET', '/title')!r})"

    def neterror(self):
        """Chromium's error code when it shows its own error page instead."""
        return self.wd.js("""if (location.protocol !== 'chrome-error:') return null;
            const code = document.querySelector('.error-code, #error-code');
            return (code ? code.innerText : document.title).trim() || 'error page'""")

    def wait(self, css, timeout=WAIT):
        """The first element matching css, once the page has loaded; fails after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                el = self.wd.find(css)
                ready = el and self.wd.js("return document.readyState") == "complete"
                err = None if ready else self.neterror()
            except Fail:  # the page went away meanwhile (a reload, a redirect)
                ready = err = None
            if ready:
                self.check_xss()
                return el
            if err:
                raise Fail(f"page did not load: {err} {self.where()}")
            if status := self.http_error():
                raise Fail(f"no {css}: HTTP status {status} {self.where()}")
            if time.monotonic() > deadline:
                raise Fail(f"no {css} within {timeout} s {self.where()}")
            time.sleep(0.1)

    def http_error(self):
        """The HTTP status of the page if it is an error (400 and up), else None."""
        with contextlib.suppress(Fail):
            status = self.wd.js("const n = performance.getEntriesByType('navigation')[0];"
                                "return n ? n.responseStatus : 0")
            return status if status >= 400 else None

    def check_xss(self):
        """Fails if a script from the test data (window.__xss=1) ran on the page."""
        xss, page = self.wd.js("return [typeof window.__xss !== 'undefined', "
                               "location.href + ' ' + performance.timeOrigin]")
        self.pages.add(page)
        if xss:
            raise Fail(f"script from logged data executed {self.where()}")

    def open(self, path):
        self.wd.get(self.a.base.rstrip("/") + path)

    def need(self, option):
        value = getattr(self.a, option)
        if value is None:
            raise Fail(f"needs --{option.replace('_', '-')}")
        return value

    def login(self):
        passphrase = self.need("passphrase")
        self.open("/anmelden")
        self.wd.type(self.wait("input[name=passphrase]"), passphrase)
        self.wd.click(self.wait("button#login-submit"))
        return "logged in as " + self.wd.text(self.wait("#whoami")).strip()

    def overview(self):
        self.open("/")
        self.wait("svg#chart rect.bar")
        bars = self.wd.count("svg#chart rect.bar")
        state = self.wd.text(self.wait("#log-state")).strip()
        if self.a.expect_cn is not None:
            who = self.wd.text(self.wait("#whoami"))
            if self.a.expect_cn not in who:
                raise Fail(f"#whoami is {who!r}, not the CN {self.a.expect_cn!r}")
        return f"{bars} bars, log state {state.splitlines()[0] if state else ''!r}"

    def search(self):
        subject = self.need("subject")
        self.open("/suche")
        self.wd.type(self.wait("input[name=subject]"), subject)
        self.wd.click(self.wait("button#search-submit"))
        self.wait("table#results")
        deadline = time.monotonic() + WAIT
        while True:
            rows = self.wd.count("table#results tr.exchange")
            url = self.wd.cmd("GET", "/url")
            if rows >= self.a.min_results and "sh=" in url:
                break
            if time.monotonic() > deadline:
                raise Fail(f"{rows} tr.exchange rows in table#results (expected at least "
                           f"{self.a.min_results}), " + ("" if "sh=" in url else "no sh= ")
                           + self.where())
            time.sleep(0.1)
        leaks = {subject, urllib.parse.quote(subject), urllib.parse.quote_plus(subject)}
        if any(s in url for s in leaks):
            raise Fail(f"the URL contains the subject identifier: {url}")
        return f"{rows} exchanges at {url}"

    def exchange(self):
        self.wd.click(self.wait("tr.exchange a.open"))
        for css in ("#request", "#response"):
            self.wait(css)
        v = self.wait("#verification")
        text = self.wd.text(v).strip()
        if "ok" not in self.wd.js("return [...arguments[0].classList]", v):
            raise Fail(f"#verification is not ok: {text!r}")
        return text.splitlines()[0] if text else "verified"

    def package(self):
        dl = self.a.downloads
        link = self.wait("a#package")
        before = set(os.listdir(dl))
        self.wd.click(link)
        deadline = time.monotonic() + WAIT
        # Chromium downloads into NAME.crdownload and renames it when complete
        while not (new := sorted(f for f in set(os.listdir(dl)) - before if f.endswith(".asice"))):
            if time.monotonic() > deadline:
                raise Fail(f"no new .asice file in {dl} within {WAIT} s (there: {sorted(os.listdir(dl))})")
            time.sleep(0.1)
        folder = tempfile.mkdtemp(prefix=new[0] + ".", dir=dl)
        with zipfile.ZipFile(os.path.join(dl, new[0])) as z:
            z.extractall(folder)
        r = subprocess.run(["sh", "-e", "VERIFY.txt"], cwd=folder, capture_output=True,
                           text=True, timeout=300)
        if r.returncode != 0:
            tail = (r.stdout + r.stderr).strip().splitlines()[-5:]
            raise Fail(f"sh -e VERIFY.txt in {folder} exited {r.returncode}: " + " | ".join(tail))
        return f"{new[0]}: " + ((r.stdout.strip() or r.stderr.strip()).splitlines() or [""])[-1]

    def person(self):
        subject = self.need("subject")
        self.open("/person")
        self.wd.type(self.wait("input[name=subject]"), subject)
        self.wd.click(self.wait("button#person-submit"))
        self.wait("table#cockpit tbody tr")
        rows = self.wd.count("table#cockpit tbody tr")
        href = self.wd.prop(self.wait("a#cockpit-json"), "href")
        self.wd.get(href)
        self.wait("body")
        # Chromium shows JSON in a <pre> (maybe next to a pretty-printed copy)
        texts = self.wd.js("return [...document.querySelectorAll('pre')].map(p => p.textContent)"
                           ".concat([document.body.innerText])")
        for text in texts:
            try:
                doc = json.loads(text)
                break
            except ValueError:
                continue
        else:
            raise Fail(f"no JSON at {href}: {texts[-1][:200]!r}")
        exchanges = doc.get("exchanges") if isinstance(doc, dict) else None
        if not isinstance(exchanges, list) or not exchanges:
            raise Fail(f"no list \"exchanges\" with an item in the JSON at {href}: {text[:200]!r}")
        return f"{rows} rows, {len(exchanges)} exchanges in {href}"

    def verify(self):
        self.open("/pruefung")
        start = self.wait("button#verify-start")
        # the page may still show the result of an earlier run
        self.wd.js("document.querySelector('#verify-result')?.remove()")
        self.wd.click(start)
        result = self.wait("#verify-result.ok, #verify-result.broken, #verify-result.error",
                           timeout=120)
        text = self.wd.text(result).strip()
        if "ok" not in self.wd.js("return [...arguments[0].classList]", result):
            raise Fail(f"#verify-result is not ok: {text!r}")
        return text

    def xss(self):
        self.check_xss()
        if XSS_MARK in self.wd.js("return document.documentElement.outerHTML"):
            raise Fail(f"the page holds {XSS_MARK!r} unescaped {self.where()}")
        return f"no script from logged data ran on {len(self.pages)} pages"


STEPS = ["login", "overview", "search", "exchange", "package", "person", "verify", "xss"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--driver", required=True, help="chromedriver URL")
    p.add_argument("--base", required=True, help="console URL, https://127.0.0.1:PORT")
    p.add_argument("--out", required=True, help="folder for the screenshots")
    p.add_argument("--downloads", required=True, help="Chromium's download folder")
    p.add_argument("--subject", help="identifier of the data subject to look up")
    p.add_argument("--min-results", type=int, default=1)
    p.add_argument("--passphrase")
    p.add_argument("--expect-cn", help="the client certificate's CN #whoami must show")
    p.add_argument("steps", nargs="+", choices=STEPS, metavar="STEP")
    a = p.parse_args()
    a.out, a.downloads = os.path.abspath(a.out), os.path.abspath(a.downloads)
    os.makedirs(a.out, exist_ok=True)
    os.makedirs(a.downloads, exist_ok=True)

    wd = WebDriver(a.driver)
    console = Console(wd, a)
    profile = tempfile.mkdtemp(prefix="chromium-profile.", dir=a.out)
    step = a.steps[0]
    try:
        base = urllib.parse.urlsplit(a.base)
        wd.start(profile, a.downloads, f"{base.scheme}://{base.netloc}")
        for n, step in enumerate(a.steps, 1):
            shot = os.path.join(a.out, f"{n:02d}-{step}.png")
            try:
                if n > 1:
                    console.check_xss()  # the page the last step left, once more
                detail = getattr(console, step)()
            except Exception:
                with contextlib.suppress(Fail, OSError):
                    wd.screenshot(shot)  # the page as it failed, if there is one
                raise
            wd.screenshot(shot)
            print(f"ok {step}: {detail}", flush=True)
        return 0
    except (Fail, OSError, subprocess.SubprocessError, zipfile.BadZipFile) as e:
        print(f"FAIL {step}: {e}", file=sys.stderr)
        return 1
    finally:
        try:
            wd.quit()
        except (Fail, OSError):
            pass
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
