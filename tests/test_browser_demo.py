"""`make demo` in a real headless browser (Debian's chromium, driven by selenium through /usr/bin/chromedriver).

The test starts its own demo stack with `make demo` (own folder, own free ports, so a developer's `make run` is left
alone) and stops it with `make stop`. In the Airflow UI it logs in, sees the DAGs, triggers a backfill of a date
range from the DAG's Trigger > Backfill form, waits for the runs (REST API), then opens the Data health page and
checks that the range's runs, freshness and candles are what the warehouse holds.

The stack runs with `[scheduler] use_job_schedule = False`: the scheduler runs backfills and manual runs but creates
no scheduled ones, so unpausing the DAG for the backfill does not start its catch-up from the start date.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cryptoflow.local_postgres import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DAG_ID = "birdeye_5min"
SOL = "So11111111111111111111111111111111111111112"
DESIGN_DAGS = {"defillama_hourly", "defillama_daily", "artemis_daily", "helius_5min", "birdeye_5min", "candles",
               "maintenance_weekly"}
UI_WAIT_S = 60           # one UI element to appear (a busy 2-core machine renders slowly)
BACKFILL_WAIT_S = 420    # the backfill's runs to finish
ARTIFACTS = Path(tempfile.gettempdir()) / "cryptoflow-browser-test"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()),
    reason="needs Debian's chromium and chromium-driver (`make test` installs them as root: "
           "apt-get install chromium chromium-driver)")


def _stack_env(local: Path, env_file: Path, replay_port: int, ws_port: int) -> dict[str, str]:
    """The caller's environment without the test session's Airflow settings, plus the demo stack's overrides."""
    drop = ("AIRFLOW", "CRYPTOFLOW_", "WAREHOUSE_", "TEST_PG_", "PYTEST_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(CRYPTOFLOW_LOCAL=str(local), CRYPTOFLOW_ENV_FILE=str(env_file), REPLAY_PORT=str(replay_port),
               REPLAY_WS_PORT=str(ws_port), AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE="False")
    return env


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no file)"


class DemoStack:
    def __init__(self, base: Path):
        self.base = base
        self.local = base / "local"
        self.pg_port, self.airflow_port, replay_port, ws_port = (free_port() for _ in range(4))
        self.env_file = base / "demo.env"
        self.env_file.write_text(f"WAREHOUSE_PG_PORT={self.pg_port}\nAIRFLOW_PORT={self.airflow_port}\n")
        self.env = _stack_env(self.local, self.env_file, replay_port, ws_port)
        self.url = f"http://localhost:{self.airflow_port}"
        self.warehouse_dsn = f"postgresql://cryptoflow@127.0.0.1:{self.pg_port}/warehouse"
        self._token: str | None = None

    def make(self, target: str, timeout: float) -> subprocess.CompletedProcess:
        with open(self.base / f"make-{target}.log", "w") as log:
            return subprocess.run(["make", "--no-print-directory", target], cwd=ROOT, env=self.env, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout, check=False)

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{_tail(path)}" for name, path in (
            ("make demo", self.base / "make-demo.log"), ("airflow", self.local / "airflow-standalone.log"),
            ("replay", self.local / "replay.log")))

    @property
    def password(self) -> str:
        generated = self.local / "airflow" / "simple_auth_manager_passwords.json.generated"
        return json.loads(generated.read_text())["admin"]

    def api(self, path: str) -> dict:
        if self._token is None:
            request = urllib.request.Request(
                f"{self.url}/auth/token", data=json.dumps({"username": "admin", "password": self.password}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as answer:
                self._token = json.load(answer)["access_token"]
        request = urllib.request.Request(f"{self.url}/api/v2{path}", headers={"Authorization": f"Bearer {self._token}"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)


@pytest.fixture(scope="module")
def demo_stack():
    base = Path(tempfile.mkdtemp(prefix="cryptoflow-demo-test-"))
    os.chmod(base, 0o755)   # PostgreSQL runs as an unprivileged user when we are root
    stack = DemoStack(base)
    try:
        result = stack.make("demo", timeout=600)
        assert result.returncode == 0, f"make demo failed:\n{stack.logs()}"
        yield stack
    finally:
        stop = stack.make("stop", timeout=180)
        if stop.returncode != 0:
            print(f"make stop failed:\n{_tail(base / 'make-stop.log')}")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    os.environ["SE_OFFLINE"] = "true"   # belt and braces: with a driver path given, Selenium Manager never runs
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cryptoflow-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
                 "--disable-extensions", "--disable-sync", "--no-first-run", "--metrics-recording-only",
                 "--password-store=basic", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def backfill_range(now: datetime) -> tuple[datetime, datetime]:
    """Two 5-minute runs of an hour about two hours ago, clear of 15-minute and hourly candle closes (those would add
    Birdeye requests): [HH:15, HH:20) and [HH:20, HH:25)."""
    hour = (now - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    return hour + timedelta(minutes=15), hour + timedelta(minutes=20)


def test_backfill_from_the_ui_shows_up_on_the_data_health_page(demo_stack, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, UI_WAIT_S)
    ARTIFACTS.mkdir(exist_ok=True)

    def shot(name: str) -> None:
        browser.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def choose(select_id: str, value: str) -> None:
        """Pick ``value`` in a select of the page (it submits on change) and wait for the new page."""
        from selenium.webdriver.support.ui import Select

        page = browser.find_element(By.TAG_NAME, "html")
        if browser.find_element(By.ID, select_id).get_attribute("value") == value:
            return
        Select(browser.find_element(By.ID, select_id)).select_by_value(value)
        wait.until(ec.staleness_of(page))
        wait.until(lambda d: d.find_element(By.ID, select_id).get_attribute("value") == value)

    def visible(css: str):
        """A wait condition: the first displayed element matching ``css`` (closed pickers stay in the page)."""
        return lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), False)

    try:
        # log in with the simple auth manager's generated admin password
        browser.get(demo_stack.url + "/")
        wait.until(ec.visibility_of_element_located((By.NAME, "username"))).send_keys("admin")
        browser.find_element(By.NAME, "password").send_keys(demo_stack.password)
        browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/auth/login" not in d.current_url)

        # the DAGs are listed
        browser.get(demo_stack.url + "/dags")
        wait.until(ec.visibility_of_element_located((By.LINK_TEXT, DAG_ID)))
        listed = {a.text for a in browser.find_elements(By.CSS_SELECTOR, "a[href*='/dags/']")}
        shot("1-dags")
        assert DESIGN_DAGS <= listed, f"DAGs missing from the list: {DESIGN_DAGS - listed}"

        # trigger a backfill of the range from the DAG's Trigger > Backfill form
        start, end = backfill_range(datetime.now(UTC))
        browser.get(f"{demo_stack.url}/dags/{DAG_ID}")
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=trigger-dag-button]"))).click()
        wait.until(ec.element_to_be_clickable((By.XPATH, "//label[.//*[normalize-space()='Backfill']]"))).click()
        for index, moment in enumerate((start, end)):
            wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "[data-testid=datetime-input]")) == 2)
            browser.find_elements(By.CSS_SELECTOR, "[data-testid=datetime-input]")[index].click()
            date_input = wait.until(visible("input[placeholder='YYYY/MM/DD']"))
            date_input.send_keys(f"{moment:%Y/%m/%d}")
            time_input = wait.until(visible("input[placeholder='HH:mm']"))
            wait.until(lambda d, t=time_input: t.get_attribute("value"))   # the form fills in a default time
            time_input.send_keys(Keys.CONTROL, "a")
            time_input.send_keys(f"{moment:%H:%M}")
            browser.find_element(By.XPATH, "//*[normalize-space()='Date Range']").click()   # closes the picker
            wait.until(lambda d, i=index, m=moment: f"{m:%H:%M}" in
                       d.find_elements(By.CSS_SELECTOR, "[data-testid=datetime-input]")[i].text)
        wait.until(ec.visibility_of_element_located((By.XPATH, "//*[normalize-space()='2 runs will be triggered.']")))
        unpause = browser.find_element(By.XPATH, f"//label[.//*[contains(normalize-space(), 'Unpause {DAG_ID}')]]")
        assert unpause.get_attribute("data-state") == "checked"     # backfill runs wait while a DAG is paused
        shot("2-backfill-form")
        browser.find_element(By.XPATH, "//button[normalize-space()='Run Backfill']").click()

        # wait for the backfill's runs (the REST API says when)
        deadline = time.monotonic() + BACKFILL_WAIT_S
        runs: list[dict] = []
        while time.monotonic() < deadline:
            runs = demo_stack.api(f"/dags/{DAG_ID}/dagRuns?run_type=backfill")["dag_runs"]
            if len(runs) == 2 and all(r["state"] in ("success", "failed") for r in runs):
                break
            time.sleep(3)
        assert len(runs) == 2 and {r["state"] for r in runs} == {"success"}, (
            f"backfill runs after {BACKFILL_WAIT_S} s: {[(r['dag_run_id'], r['state']) for r in runs]}\n"
            f"{demo_stack.logs()}")
        assert sorted(r["data_interval_start"][:16] for r in runs) == [
            f"{start:%Y-%m-%dT%H:%M}", f"{end:%Y-%m-%dT%H:%M}"]

        # what the warehouse holds for the range
        with psycopg.connect(demo_stack.warehouse_dsn) as conn:
            candle_starts = [r[0] for r in conn.execute(
                """SELECT bucket_start FROM candles WHERE source = 'birdeye' AND token = %s AND interval = '1m'
                   ORDER BY bucket_start DESC LIMIT 60""", (SOL,))]
            [newest_candle] = conn.execute("SELECT max(bucket_start) FROM candles WHERE source = 'birdeye'").fetchone()
        assert candle_starts and all(start <= t < end + timedelta(minutes=5) for t in candle_starts)

        # the Data health page, from the Airflow navigation bar
        browser.get(demo_stack.url + "/")
        wait.until(ec.element_to_be_clickable((By.XPATH, "//a[normalize-space()='Data health']"))).click()
        frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe[title='Data health']")))
        browser.switch_to.frame(frame)
        wait.until(ec.presence_of_element_located((By.ID, "window-select")))
        choose("window-select", "6h")
        assert "the last 6h" in browser.find_element(By.TAG_NAME, "body").text
        # the token selector: another token's candles, then SOL's
        other = next(o.get_attribute("value") for o in browser.find_elements(By.CSS_SELECTOR, "#token-select option")
                     if o.get_attribute("value") != SOL)
        choose("token-select", other)
        assert other in browser.find_element(By.TAG_NAME, "body").text    # the candle section names the token
        choose("token-select", SOL)
        browser.switch_to.default_content()
        browser.set_window_size(1400, 3200)
        shot("3-data-health")
        browser.switch_to.frame(browser.find_element(By.CSS_SELECTOR, "iframe[title='Data health']"))

        # freshness: the newest loaded interval ends where the range's last run ends
        row = browser.find_element(By.CSS_SELECTOR, "#freshness-table tr[data-source=birdeye][data-dataset=ohlcv]")
        assert row.find_element(By.CSS_SELECTOR, "td.loaded").text == f"{end + timedelta(minutes=5):%Y-%m-%d %H:%M:%S}"
        assert row.find_element(By.CSS_SELECTOR, "td.newest").text == f"{newest_candle:%Y-%m-%d %H:%M:%S}"

        # the charts have the runs' points
        for chart in ("records_per_min", "error_rate", "latency_birdeye"):
            svg = browser.find_element(By.CSS_SELECTOR, f"svg[data-chart={chart}]")
            assert int(svg.get_attribute("data-points")) >= 1, chart
            assert svg.is_displayed()
        assert "birdeye" in browser.find_element(By.CSS_SELECTOR, "svg[data-chart=records_per_min]").get_attribute(
            "innerHTML")

        # recent runs: the range's two intervals
        runs_text = browser.find_element(By.ID, "recent-loads-table").text
        for a, b in ((start, end), (end, end + timedelta(minutes=5))):
            assert f"{a:%Y-%m-%d %H:%M:%S} → {b:%Y-%m-%d %H:%M:%S}" in runs_text

        # the latest SOL candles are the range's, exactly what the warehouse holds
        shown = [tr.get_attribute("data-bucket-start")
                 for tr in browser.find_elements(By.CSS_SELECTOR, "#candles-table tr[data-bucket-start]")]
        assert shown == [t.isoformat() for t in candle_starts]
        assert int(browser.find_element(By.CSS_SELECTOR, "svg[data-chart=candles]").get_attribute("data-points")) \
            == len(candle_starts)
    except Exception:
        browser.switch_to.default_content()
        shot("failure")
        raise
