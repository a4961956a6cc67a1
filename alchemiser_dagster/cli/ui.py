"""``alchemiser ui``: the Dagster UI and daemon (`dg dev`) that stop cleanly on SIGTERM.

`dg dev -w <workspace>` (what superseded `dagster dev`; the workspace may list one location
per account) shuts its webserver and daemon down on Ctrl-C (a KeyboardInterrupt), but a
SIGTERM (`docker stop`, systemd, `kill`) ends it at once and leaves both children running,
and started in the background it inherits SIGINT as ignored. This command runs it as a
child in its own session (default signal dispositions) and turns either signal into
the one interrupt `dg dev` handles, then waits for its orderly shutdown.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from alchemiser_dagster.project import HOME_VARIABLE, dagster_home, project_path
from alchemiser_dagster.signals import on_stop_signals


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(1, 65535), default=3000, show_default=True)
@click.option(
    "-w",
    "--workspace",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=lambda: project_path("workspace.yaml"),
    show_default="workspace.yaml in the project folder",
)
def ui(host: str, port: int, workspace: Path) -> None:
    """Serve the Dagster UI and run the daemon (schedules, sensors, queued runs) until stopped."""
    # The code server and its runs resolve default paths from the project: the workspace's folder.
    os.environ.setdefault(HOME_VARIABLE, str(workspace.resolve().parent))
    dagster_home()  # the project's instance (run history, dagster.yaml) unless DAGSTER_HOME is set
    dg = Path(sys.executable).with_name("dg")
    command = [str(dg), "dev", "-w", str(workspace), "-h", host, "-p", str(port)]
    stopping: list[int] = []
    child: subprocess.Popen[bytes] | None = None

    def stop(signum: int) -> None:
        if child is None:
            raise KeyboardInterrupt(signal.Signals(signum).name)
        if not stopping:
            click.echo("alchemiser ui: stopping the Dagster UI and daemon...", err=True)
            child.send_signal(signal.SIGINT)  # dg dev's orderly shutdown
        else:  # asked again while it shuts down: end its whole session now
            os.killpg(child.pid, signal.SIGKILL)
        stopping.append(signum)

    # Installed before the child starts: a handler (unlike an inherited SIG_IGN) is reset
    # to the default across exec, so `dg dev` installs its own interrupt handling.
    on_stop_signals(stop)
    child = subprocess.Popen(command, start_new_session=True)
    try:
        code = child.wait()
    except BaseException:
        child.kill()
        raise
    if stopping and code in (-signal.SIGINT, 128 + signal.SIGINT):
        code = 0  # stopped as asked
    sys.exit(code)
