"""From inside an agent container: the proxy answers; the internet and the host's other services do not."""

from __future__ import annotations

import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from cab_check import host_fence, workspace
from cab_check.asgi_server import BackgroundServer
from cab_check.catalog import base_dir
from cab_check.docker_backend import DockerBackend
from cab_check.proxy import RecordingProxy, new_run_token
from cab_check.settings import find_ca_bundle

PROBE = """
import sys, urllib.request
def status(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        return str(urllib.request.urlopen(request, timeout=4).status)
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except Exception as exc:
        return "unreachable"
proxy, token, other = sys.argv[1:4]
print("proxy", status(proxy + "/v1/models", token))
print("registry", status("https://registry.npmjs.org/"))
print("host-other-port", status(other))
"""


def test_the_agent_reaches_the_proxy_and_nothing_else(docker_client, leftovers):
    run_id = "isolation-" + secrets.token_hex(3)
    docker = DockerBackend(run_id)
    image = docker.ensure_image("tui-base", base_dir("tui-base"), find_ca_bundle(), lambda _: None)
    token = new_run_token()
    # Stands for any service of the user's on this host, listening on every address.
    other = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "0.0.0.0"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        other_port = other.stdout.readline().split("port ")[1].split()[0]
        network, gateway, bridge = docker.create_internal_network()
        upstream = RecordingProxy("http://127.0.0.1:9/v1", None, token, on_call=lambda call: None)
        with BackgroundServer(upstream.app, gateway) as proxy, tempfile.TemporaryDirectory() as temp:
            take_down = host_fence.fence(bridge, proxy.port, run_id)
            assert take_down is not None, "CI runs as root with iptables: the host must be fenced"
            try:
                workdir = Path(temp)
                (workdir / "probe.py").write_text(PROBE)
                workspace.hand_to_container_user(workdir)
                run = docker.run_container(
                    image.tag, ["python3", "probe.py", proxy.url, token, f"http://{gateway}:{other_port}/"],
                    workdir=workdir, user=workspace.container_user(), timeout_s=60, network=network,
                )
            finally:
                take_down()
            upstream.close()
    finally:
        other.kill()
        docker.remove_run(run_id)

    seen = dict(line.split() for line in run.stdout.splitlines())
    assert seen["proxy"] != "unreachable", run.stdout + run.stderr  # it answered (the fake upstream is down: 502)
    assert seen["registry"] == "unreachable"
    assert seen["host-other-port"] == "unreachable"
    assert leftovers(run_id) == []
    assert host_fence.COMMENT_PREFIX + run_id not in subprocess.run(["iptables", "-S", "INPUT"], capture_output=True,
                                                                    text=True).stdout
