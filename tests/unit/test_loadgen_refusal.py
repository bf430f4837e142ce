"""No stand, no traffic: the loadgen and the probe refuse before sending anything."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_stand_env(tmp_path):
    """A state root with no stand in it: what `stand down` leaves."""
    import os

    return {**os.environ, "PGAB_STATE_DIR": str(tmp_path / "state")}


def run(argv, env, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


LOCUST = ["-m", "locust", "-f", str(REPO / "loadgen" / "select.py"), "--headless", "-u", "1", "-t", "5s"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "loadgen: no stand is up"),
        (["--pg-protocol", "simple"], "loadgen: no stand is up"),  # the option exists; the refusal still comes first
        (
            ["--host", "postgresql://bench:x@198.18.2.0/bench"],
            "loadgen: refusing to send traffic to 198.18.2.0: no stand is running (run `stand up` first)",
        ),
        (["--host", "postgresql://bench:x@10.20.30.40/bench"], "loadgen: refusing to send traffic to 10.20.30.40"),
    ],
)
def test_locust_refuses_without_a_stand(no_stand_env, tmp_path, extra, message):
    result = run([*LOCUST, "--pg-records", str(tmp_path / "records"), *extra], no_stand_env, tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "All users spawned" not in result.stderr
    assert not list((tmp_path / "records").glob("*")) if (tmp_path / "records").exists() else True


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "probe: no stand is up"),
        (["--protocol", "simple"], "probe: no stand is up"),
        (["--host", "postgresql://bench:x@198.18.2.0/bench"], "probe: refusing to send traffic to 198.18.2.0"),
    ],
)
def test_probe_refuses_without_a_stand(no_stand_env, tmp_path, extra, message):
    result = run(["-m", "loadgen.probe", "--duration", "1", "--out", str(tmp_path), *extra], no_stand_env, REPO)
    assert result.returncode == 1
    assert message in result.stderr
    assert list(tmp_path.glob("probe-*")) == []


def test_the_probes_loop_binds_every_connection_to_the_stands_link():
    """The probe's loop (stand.safety.BoundLoop): through `lo` to a loopback listener; through a link that is gone,
    ENODEV at once."""
    import asyncio
    import errno
    import socket

    from stand.safety import BoundLoop

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        async def connect():
            transport, _ = await asyncio.get_running_loop().create_connection(asyncio.Protocol, "127.0.0.1", port)
            transport.close()

        with asyncio.Runner(loop_factory=lambda: BoundLoop("lo")) as runner:
            runner.run(connect())
        with asyncio.Runner(loop_factory=lambda: BoundLoop("pgab-gone0")) as runner, pytest.raises(OSError) as gone:
            runner.run(connect())
    assert gone.value.errno == errno.ENODEV


def _deployment_file(tmp_path: Path, host: str, allowed: tuple[str, ...]) -> Path:
    """The settings `bench run --inventory` gives a client machine, for a target and the addresses it checked."""
    from stand.client import DeploymentSettings, deployment_settings
    from stand.model import topology

    settings = deployment_settings(topology.load("seed"), "secret").with_url(f"postgresql://{host}/bench")
    path = tmp_path / "deployment.json"
    path.write_text(DeploymentSettings(settings, allowed).to_json())
    return path


@pytest.mark.parametrize(
    ("host", "allowed", "message"),
    [
        ("198.18.2.0", ("198.18.2.1",), "refusing to send traffic to 198.18.2.0: not an address of the deployment"),
        ("198.19.200.1", ("198.19.200.1",), "refusing to send traffic to 198.19.200.1: only the default route leads"),
    ],
)
def test_on_a_deployments_client_the_load_and_the_probe_refuse_what_the_runner_did_not_check(
    no_stand_env, tmp_path, host, allowed, message
):
    deployment = _deployment_file(tmp_path, host, allowed)
    locust = run(
        [*LOCUST, "--pg-records", str(tmp_path / "records"), "--pg-deployment", str(deployment)], no_stand_env, tmp_path
    )
    assert locust.returncode == 1 and f"loadgen: {message}" in locust.stderr, locust.stderr[-2000:]
    assert "All users spawned" not in locust.stderr
    probe = run(
        ["-m", "loadgen.probe", "--duration", "1", "--out", str(tmp_path), "--deployment", str(deployment)],
        no_stand_env,
        REPO,
    )
    assert probe.returncode == 1 and f"probe: {message}" in probe.stderr, probe.stderr
    assert list(tmp_path.glob("probe-*")) == []
