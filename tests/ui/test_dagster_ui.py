"""The Dagster UI in headless Chromium, over one completed run of the daily job.

One `alchemiser run` fills a fresh DAGSTER_HOME, `dagster-webserver` serves it, and Debian's
chromium (driven by Playwright, no browser download) checks what an operator sees: every
asset of the graph in the lineage view and the catalog, the run's partition materialized,
every asset check passed, the daily report's markdown rendered, and the README's rerun and
backfill path (Jobs -> daily_rebalance_job -> Materialize all… -> partition dialog). The
expected assets and checks come from the Definitions, so new ones are covered without editing
this file. Screenshots go to tests/artifacts/ (git-ignored).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from playwright.sync_api import Locator, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RENDER_TIMEOUT_MS = 60_000
SERVER_TIMEOUT_S = 120
VIEWPORT = {"width": 1920, "height": 1080}
# Dagster's "Join the community" dialog covers the page on 127.0.0.1 until dismissed once.
DISMISS_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', '\"1\"')"
# The asset node boxes of the lineage graph (full and zoomed-out "minimal" nodes alike).
ASSET_NODES = '[class*="assetNodeContainer"]'
NODE_LABELS_JS = """nodes => nodes.map(node => {
    const full = node.querySelector('[data-tooltip]');
    if (full) return full.getAttribute('data-tooltip');
    const name = node.querySelector('[class*="assetName"]');
    return (name ?? node).textContent.trim();
})"""


@dataclass(frozen=True)
class GraphSpec:
    """What the UI must show, read from the code's Definitions."""

    asset_keys: list[dg.AssetKey]
    groups: list[str]
    checks: dict[dg.AssetKey, list[str]]
    daily_job_assets: int  # how many assets the daily job materializes
    daily_job_run_tags: dict[str, str]  # the tags every run of the daily job carries


@dataclass(frozen=True)
class CompletedRun:
    env: dict[str, str]
    run_id: str
    partition: str
    headline: str
    report_markdown: str


def pipeline_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALCHEMISER_", "DAGSTER_"))}
    return {
        **env,
        "DAGSTER_HOME": str(base / "home"),
        "ALCHEMISER_MODE": "embedded",
        "ALCHEMISER_STORAGE": str(base / "storage"),
        "ALCHEMISER_SIM_STATE": str(base / "sim"),
        "ALCHEMISER_CONFIG": str(ROOT / "strategies" / "allocations.prod.json"),
    }


def ui_path(key: dg.AssetKey) -> str:
    return "/".join(key.path)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"ui-{name}.png", full_page=True)


def label_matches(name: str, label: str) -> bool:
    """A graph node label is the key's last part, middle-truncated with an ellipsis when long."""
    if label == name:
        return True
    head, sep, tail = label.partition("…")
    return bool(sep) and len(head) >= 3 and name.startswith(head) and name.endswith(tail)


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    if path is None:
        pytest.skip("chromium not installed: apt-get install chromium (Debian package 'chromium')")
    return path


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> GraphSpec:
    from alchemiser_dagster.definitions import build_definitions
    from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME

    base = tmp_path_factory.mktemp("defs")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in pipeline_env(base).items():
            if name.startswith("ALCHEMISER_"):
                mp.setenv(name, value)
        defs = build_definitions()
    asset_specs = defs.resolve_all_asset_specs()
    checks: dict[dg.AssetKey, list[str]] = {}
    for check in defs.resolve_asset_graph().asset_check_keys:
        checks.setdefault(check.asset_key, []).append(check.name)
    assert asset_specs and checks
    return GraphSpec(
        asset_keys=sorted(s.key for s in asset_specs),
        groups=sorted({s.group_name or "default" for s in asset_specs}),
        checks={key: sorted(names) for key, names in sorted(checks.items())},
        daily_job_assets=len(defs.resolve_job_def(DAILY_JOB_NAME).asset_layer.selected_asset_keys),
        daily_job_run_tags=dict(defs.resolve_job_def(DAILY_JOB_NAME).run_tags),
    )


@pytest.fixture(scope="module")
def completed_run(chromium: str, tmp_path_factory: pytest.TempPathFactory) -> CompletedRun:
    """A DAGSTER_HOME holding one successful run of the daily job, made by the CLI."""
    base = tmp_path_factory.mktemp("ui")
    env = pipeline_env(base)
    home = Path(env["DAGSTER_HOME"])
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [str(BIN / "alchemiser"), "run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, f"alchemiser run failed:\n{done.stdout}\n{done.stderr}"

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(home))
        with dg.DagsterInstance.get() as instance:
            runs = instance.get_runs()
            assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.SUCCESS
            event = instance.get_latest_materialization_event(dg.AssetKey("daily_report"))
    assert event is not None and event.asset_materialization is not None
    metadata = event.asset_materialization.metadata
    return CompletedRun(
        env=env,
        run_id=runs[0].run_id,
        partition=runs[0].tags["dagster/partition"],
        headline=str(metadata["headline"].value),
        report_markdown=str(metadata["report"].value),
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def webserver(completed_run: CompletedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """dagster-webserver over the run's DAGSTER_HOME; stopped (terminate, then kill) at the end."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("webserver") / "webserver.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
            cwd=ROOT,
            env=completed_run.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its code server is in the same group, stopped with it
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{base_url}/server_info", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dagster-webserver not up after {SERVER_TIMEOUT_S} s:\n{log_path.read_text()}")
            time.sleep(0.5)
        yield base_url
    finally:
        stop_process_group(proc)


def stop_process_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=15)
    except ProcessLookupError:
        pass


@pytest.fixture(scope="module")
def page(chromium: str, webserver: str) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, base_url=webserver)
            context.add_init_script(DISMISS_COMMUNITY_DIALOG)
            context.set_default_timeout(RENDER_TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()


@pytest.fixture(autouse=True)
def _generous_expect_timeout() -> None:
    expect.set_options(timeout=RENDER_TIMEOUT_MS)


def test_asset_graph_shows_every_asset(page: Page, spec: GraphSpec) -> None:
    # Global asset lineage, every group expanded (Alt+E, as the graph's settings menu says),
    # zoomed to fit: each asset is a node in the viewport, labelled with its key's last part.
    page.goto("/asset-groups")
    nodes = page.locator(ASSET_NODES)
    expect(page.locator("svg foreignObject").first).to_be_attached()
    page.keyboard.press("Alt+e")
    page.wait_for_url(re.compile(r"[?&]expanded="))
    expect(nodes).to_have_count(len(spec.asset_keys))
    for group in spec.groups:
        expect(page.locator("svg").get_by_text(group, exact=True).first).to_be_visible()
    for i in range(len(spec.asset_keys)):
        expect(nodes.nth(i)).to_be_in_viewport()
    page.wait_for_timeout(500)  # let the edges finish drawing for the screenshot
    shot(page, "asset-graph")

    labels: list[str] = nodes.evaluate_all(NODE_LABELS_JS)
    unmatched = list(labels)
    for key in spec.asset_keys:
        name = key.path[-1]
        label = next((lb for lb in unmatched if lb == name), None) or next(
            (lb for lb in unmatched if label_matches(name, lb)), None
        )
        assert label is not None, f"no node for {key.to_user_string()} in the graph; nodes: {labels}"
        unmatched.remove(label)

    # The catalog lists the full keys ("signals / s1_kmlm"), one row each (the name links to
    # the asset; its title attribute holds the full key even when the text is truncated).
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(1080, 400 + 80 * len(spec.asset_keys))})
    try:
        page.goto("/assets")
        for key in spec.asset_keys:
            expect(page.get_by_role("link").get_by_title(" / ".join(key.path), exact=True)).to_be_visible()
        # The status column shows "- partitions" until the partition health has loaded.
        expect(page.get_by_text("- partitions", exact=True)).to_have_count(0)
        shot(page, "asset-catalog")
    finally:
        page.set_viewport_size(VIEWPORT)


def test_partition_of_the_run_shows_materialized(page: Page, completed_run: CompletedRun) -> None:
    day = completed_run.partition
    page.goto(f"/assets/daily_report?view=partitions&partition={day}")
    # One run, so exactly one partition materialized: the run's session.
    expect(page.get_by_text("Materialized (1)", exact=True)).to_be_visible()
    expect(page.get_by_text("Failed (0)", exact=True)).to_be_visible()
    expect(page.get_by_text(day, exact=True).first).to_be_visible()
    expect(page.get_by_text("Materialized", exact=True)).to_be_visible()  # the partition's status
    expect(page.get_by_role("link", name=completed_run.run_id[:8], exact=True)).to_be_visible()
    expect(page.get_by_text(completed_run.headline, exact=True)).to_be_visible()
    shot(page, "daily_report-partitions")


def test_every_check_passed(page: Page, spec: GraphSpec) -> None:
    for key, names in spec.checks.items():
        page.goto(f"/assets/{ui_path(key)}?view=checks")
        expect(page.get_by_text(f"Checks ({len(names)})", exact=True)).to_be_visible()
        shot(page, f"checks-{'__'.join(key.path)}")
        search = page.get_by_placeholder("Filter checks")
        for name in names:
            search.fill(name)  # the list is virtualized: filter it down so the row is rendered
            row = page.locator('[class*="checkRow"]').filter(has=page.get_by_title(name, exact=True))
            expect(row, f"{key.to_user_string()}: {name}").to_have_count(1)
            expect(row, f"{key.to_user_string()}: {name}").to_contain_text("Succeeded")
            expect(row.get_by_role("img", name="check_circle")).to_be_visible()
        search.fill("")


def markdown_tables(markdown: str) -> list[list[str]]:
    """The header cells of each GFM table (the line above each delimiter row)."""
    lines = markdown.splitlines()
    delimiter = re.compile(r"^\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?$")
    return [
        [cell.strip() for cell in lines[i - 1].strip().strip("|").split("|")]
        for i, line in enumerate(lines)
        if i > 0 and "|" in line and "|" in lines[i - 1] and delimiter.match(line.strip())
    ]


def test_daily_report_markdown_renders(page: Page, completed_run: CompletedRun) -> None:
    day = completed_run.partition
    markdown = completed_run.report_markdown
    page.goto(f"/assets/daily_report?view=events&partition={day}")
    expect(page.get_by_text(f"Partition {day} materialized in run", exact=False)).to_be_visible()
    expect(page.get_by_text(completed_run.headline, exact=True)).to_be_visible()
    shot(page, "daily_report-materialization")

    # Markdown of 1,000 characters or more sits behind "[Show Markdown]", in a dialog.
    show = page.get_by_text("[Show Markdown]", exact=True)
    if show.count():
        show.click()
        report: Locator = page.get_by_role("dialog")
    else:
        report = page.locator(".dagster-markdown").first
    expect(report).to_be_visible()
    for level, title in re.findall(r"^(#{1,2}) +(.+?) *$", markdown, flags=re.MULTILINE):
        expect(report.get_by_role("heading", level=len(level), name=title, exact=True)).to_be_visible()

    tables = markdown_tables(markdown)
    assert tables, "the daily report has tables"
    expect(report.locator("table")).to_have_count(len(tables))
    for i, header in enumerate(tables):
        expect(report.locator("table").nth(i).locator("th")).to_have_text(header)

    # Embedded images (plots as data: URIs) are drawn, not just present.
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", markdown)
    rendered = report.locator("img")
    expect(rendered).to_have_count(len(images))
    for i in range(len(images)):
        expect(rendered.nth(i)).to_be_visible()
        assert rendered.nth(i).evaluate("img => img.complete && img.naturalWidth > 0"), f"image {i} not drawn"

    # The dialog scrolls inside a fixed overlay: grow the viewport so the whole report is captured.
    height = int(report.evaluate("e => e.scrollHeight"))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height + 200)})
    try:
        page.wait_for_timeout(300)
        shot(page, "daily_report-markdown")
    finally:
        page.set_viewport_size(VIEWPORT)


JOB_RUNS_QUERY = """
query JobRuns($job: PipelineSelector!, $filter: RunsFilter!) {
  pipelineOrError(params: $job) {
    __typename
    ... on Pipeline { runs { runId } }
  }
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results {
        runId
        status
        tags { key value }
        repositoryOrigin { repositoryLocationName repositoryName }
      }
    }
  }
}
"""


def graphql(base_url: str, query: str, variables: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.load(response)
    assert "errors" not in body, body
    data: dict[str, object] = body["data"]
    return data


def test_the_cli_run_is_one_of_the_job_s_runs(
    page: Page, webserver: str, spec: GraphSpec, completed_run: CompletedRun
) -> None:
    """`alchemiser run` is launched with the code location's origin: the webserver lists it
    among the job's runs (the job's Runs tab and "Latest run" filter on the location), with
    the tags a launch from the UI gives a run of that partition."""
    from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
    from alchemiser_dagster.pipeline.launch import LOCATION_NAME

    repository = "__repository__"
    data = graphql(
        webserver,
        JOB_RUNS_QUERY,
        {
            "job": {
                "pipelineName": DAILY_JOB_NAME,
                "repositoryName": repository,
                "repositoryLocationName": LOCATION_NAME,
            },
            # What the job's Runs tab asks for (the `.dagster/repository` tag is name@location).
            "filter": {
                "pipelineName": DAILY_JOB_NAME,
                "tags": [{"key": ".dagster/repository", "value": f"{repository}@{LOCATION_NAME}"}],
            },
        },
    )
    job = data["pipelineOrError"]
    assert isinstance(job, dict) and job["__typename"] == "Pipeline", job
    assert [r["runId"] for r in job["runs"]] == [completed_run.run_id]
    runs = data["runsOrError"]
    assert isinstance(runs, dict) and runs["__typename"] == "Runs", runs
    (run,) = runs["results"]
    assert run["runId"] == completed_run.run_id and run["status"] == "SUCCESS"
    assert run["repositoryOrigin"] == {"repositoryLocationName": LOCATION_NAME, "repositoryName": repository}
    tags = {t["key"]: t["value"] for t in run["tags"]}
    launch_tags = {
        **spec.daily_job_run_tags,
        "dagster/partition": completed_run.partition,
        "dagster/partition_set": f"{DAILY_JOB_NAME}_partition_set",
        "dagster/code_location": LOCATION_NAME,
    }
    assert launch_tags.items() <= tags.items(), tags

    page.goto(f"/locations/{LOCATION_NAME}/jobs/{DAILY_JOB_NAME}/runs")
    link = page.get_by_role("link", name=f"run {completed_run.run_id[:8]}")
    row = page.locator('[class*="rowGrid"]').filter(has=link)
    expect(row).to_have_count(1)
    for text in (f"partition: {completed_run.partition}", "Success"):
        expect(row).to_contain_text(text)
    # The header's "Latest run:" links to the CLI's run.
    latest = page.locator("xpath=//*[starts-with(normalize-space(.), 'Latest run:')]//a").first
    expect(latest).to_have_attribute("href", f"/runs/{completed_run.run_id}")
    shot(page, "job-runs-cli-run")


def select_partitions(dialog: Locator, selection: str) -> None:
    """Type into the dialog's partition field: a key, a list "a, b", or a range "[a...b]"."""
    field = dialog.locator("input[type=text]")
    field.fill(selection)
    field.press("Enter")


def launch_button(dialog: Locator) -> Locator:
    """The dialog's primary button, the one after "Cancel"; its label depends on the selection."""
    return dialog.get_by_role("button", name="Cancel", exact=True).locator("xpath=following::button[1]")


def test_rerun_and_backfill_from_the_job_page(
    page: Page, spec: GraphSpec, completed_run: CompletedRun
) -> None:
    """The README's path: Jobs -> daily_rebalance_job -> "Materialize all…" opens the partition
    dialog; one session is "Launch 1 run", several are "Launch backfill". The single run is
    launched: this instance has Dagster's default QueuedRunCoordinator and no daemon here, so
    it stays Queued (no process starts) and is deleted at the end, leaving one run as before."""
    from alchemiser_dagster.pipeline.jobs import DAILY_JOB_NAME
    from alchemiser_dagster.pipeline.partitions import nyse_sessions

    sessions = nyse_sessions.get_partition_keys()
    i = sessions.index(completed_run.partition)
    day, earlier = sessions[i - 1], sessions[i - 2]  # the two sessions before the run's

    # Link names start with their icon's name ("column_lineage Jobs", "job daily_rebalance_job info").
    page.goto("/overview")
    page.get_by_role("navigation").get_by_role("link", name="Jobs").click()
    page.get_by_role("link", name=DAILY_JOB_NAME).click()
    page.wait_for_url(re.compile(f"/jobs/{DAILY_JOB_NAME}$"))
    page.locator("button", has_text="Materialize all…").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    expect(dialog.get_by_text(f"Launch runs to materialize {spec.daily_job_assets} assets")).to_be_visible()
    expect(dialog.get_by_text("Partition selection", exact=True)).to_be_visible()

    select_partitions(dialog, f"[{earlier}...{day}]")
    expect(dialog.get_by_text("2 partitions", exact=True)).to_be_visible()
    expect(launch_button(dialog)).to_have_text("Launch backfill")
    expect(launch_button(dialog)).to_be_enabled()
    shot(page, "backfill-dialog")

    select_partitions(dialog, day)
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    expect(launch_button(dialog)).to_have_text("Launch 1 run")
    shot(page, "rerun-dialog")

    launch_button(dialog).click()
    toast = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))
    expect(toast).to_be_visible()
    short_id = toast.inner_text().split()[-1]
    expect(dialog).to_have_count(0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", completed_run.env["DAGSTER_HOME"])
        with dg.DagsterInstance.get() as instance:
            (run,) = [r for r in instance.get_runs() if r.run_id.startswith(short_id)]
            try:
                assert (run.job_name, run.tags["dagster/partition"]) == (DAILY_JOB_NAME, day)
                assert run.status == dg.DagsterRunStatus.QUEUED  # no daemon to dequeue it
                # The CLI's run carries every tag this UI launch got, but its session and the
                # UI's own marker.
                (cli_run,) = [r for r in instance.get_runs() if r.run_id == completed_run.run_id]
                ui_tags = {
                    k: v for k, v in run.tags.items() if k not in ("dagster/partition", "dagster/from_ui")
                }
                assert ui_tags.items() <= cli_run.tags.items(), (run.tags, cli_run.tags)
                page.goto("/runs")
                link = page.get_by_role("link", name=f"run {short_id}")
                row = page.locator('[class*="rowGrid"]').filter(has=link)
                expect(row).to_have_count(1)
                for text in (f"partition: {day}", DAILY_JOB_NAME, "Queued"):
                    expect(row).to_contain_text(text)
                shot(page, "rerun-queued")
            finally:
                instance.delete_run(run.run_id)
