"""How much the harness adds to an agent's run: the agent phase under cab-check ÷ a bare `docker run` of the same
image and argv against the same reference endpoint (median of N warm runs each), for aider and pi.

    python bench/agent_phase.py [--runs 5] [--tuis aider,pi] [--no-netns]

Local engine: the bare run sits on Docker's default bridge and reaches the reference model on the bridge's gateway;
cab-check runs the cell for real (its relay, proxy, files through the API). Engine 2 (a dockerd in its own network
namespace, from tests/integration/engines.py; root only): the same, with the bare run's reference model started
inside that namespace, since nothing there can reach this host. Figures go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import docker

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from cab_check import catalog, launch, workspace  # noqa: E402
from cab_check.asgi_server import BackgroundServer  # noqa: E402
from cab_check.models import CellRequest, PhaseFinished, PhaseStarted  # noqa: E402
from cab_check.reference_model import ReferenceModel  # noqa: E402
from cab_check.run import run_cell  # noqa: E402
from cab_check.sandbox import connect  # noqa: E402
from cab_check.sandbox.base import CONTAINER_HOME, CONTAINER_USER  # noqa: E402
from cab_check.sandbox.images import image_chain  # noqa: E402
from cab_check.settings import find_ca_bundle  # noqa: E402

TASK = "polyglot/rust-error-handling"
GOAL = 1.10
SERVE = (
    "import sys, uvicorn; from cab_check.catalog import get_task; "
    "from cab_check.reference_model import ReferenceModel; "
    "uvicorn.run(ReferenceModel.from_task(get_task(sys.argv[1])).app, host=sys.argv[2], port=int(sys.argv[3]), "
    "log_level='warning')"
)


def cab_agent_phase(tui: str, endpoint: str, engine: str | None) -> float:
    """Seconds from the agent phase's start to its end, as the engine reports them to a front end."""
    marks: dict[str, float] = {}

    def emit(event: object) -> None:
        if isinstance(event, (PhaseStarted, PhaseFinished)) and event.phase == "agent":
            marks[type(event).__name__] = time.perf_counter()

    result = run_cell(
        CellRequest(tui=tui, task=TASK, endpoint=endpoint, model="cab-reference", skip_handshake=True, engine=engine),
        emit=emit,
    )
    if not result.passed:
        raise SystemExit(f"{tui}: the cab-check cell did not pass: {result.notes}")
    return marks["PhaseFinished"] - marks["PhaseStarted"]


def bare_agent_phase(tui: str, image: str, endpoint: str, docker_host: str | None) -> float:
    """Seconds a plain `docker run --rm` of the image and argv takes against the reference endpoint."""
    spec = catalog.get_tui(tui)
    started = launch.plan(
        spec,
        launch.placeholders(
            prompt=catalog.get_task(TASK).prompt,
            model="cab-reference",
            proxy_url=endpoint.removesuffix("/v1"),
            token="sk-bare",
        ),
    )
    with tempfile.TemporaryDirectory(prefix="cab-bench-") as temp:
        workdir, seed, out = Path(temp, "work"), Path(temp, "seed"), Path(temp, "out")
        workspace.prepare_workdir(catalog.get_task(TASK).workdir, workdir)
        for relative, text in started.files.items():
            (seed / relative).parent.mkdir(parents=True, exist_ok=True)
            (seed / relative).write_text(text)
        out.mkdir()
        seed.mkdir(exist_ok=True)
        uid, gid = (int(n) for n in CONTAINER_USER.split(":"))
        for folder in (workdir, seed, out):
            for path in [folder, *folder.rglob("*")]:
                os.lchown(path, uid, gid)
        argv = [
            "docker",
            *(["-H", docker_host] if docker_host else []),
            "run",
            "--rm",
            "--user",
            CONTAINER_USER,
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "-e",
            f"HOME={CONTAINER_HOME}",
            "--tmpfs",
            f"{CONTAINER_HOME}:rw,exec,size=1g,mode=700,uid={uid},gid={gid}",
            "--tmpfs",
            "/tmp:rw,exec,size=2g,mode=1777",
            "-w",
            "/work",
            "-v",
            f"{workdir}:/work",
            "-v",
            f"{seed}:{launch.SEED_DIR}:ro",
            "-v",
            f"{out}:{launch.OUT_DIR}",
            *(arg for key, value in started.env.items() for arg in ("-e", f"{key}={value}")),
            "--entrypoint",
            launch.SEED_ENTRYPOINT[0],
            image,
            *launch.SEED_ENTRYPOINT[1:],
            *started.argv,
        ]
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(
                f"{tui}: the bare run failed ({done.returncode}): {shlex.join(argv)}\n{done.stderr[-2000:]}"
            )
        return elapsed


def median_of(runs: int, measure) -> tuple[float, list[float]]:
    measure()  # warm: images, page cache, the reference model's first answer
    samples = [measure() for _ in range(runs)]
    return statistics.median(samples), samples


def gateway(client: docker.DockerClient) -> str:
    """The default bridge's gateway: this host (or the engine's namespace) as its containers reach it. dockerd
    20.10 lists only the subnet, whose first address the gateway takes."""
    config = client.networks.get("bridge").attrs["IPAM"]["Config"][0]
    return config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))


def report(label: str, tui: str, cab: tuple[float, list[float]], bare: tuple[float, list[float]]) -> float:
    ratio = cab[0] / bare[0]
    print(
        f"{label:8} {tui:6} cab-check {cab[0]:6.2f} s  bare docker run {bare[0]:6.2f} s  ratio {ratio:4.2f}"
        f"  (cab {', '.join(f'{s:.2f}' for s in cab[1])}; bare {', '.join(f'{s:.2f}' for s in bare[1])})",
        flush=True,
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tuis", default="aider,pi")
    parser.add_argument("--no-netns", action="store_true", help="skip engine 2")
    args = parser.parse_args()
    tuis = args.tuis.split(",")

    local = connect()
    images = {tui: local.ensure_image(tui, catalog.get_tui(tui).root, find_ca_bundle(), print).tag for tui in tuis}
    for name, folder in (("rust", catalog.image_dir("rust")), ("relay", catalog.relay_dir())):
        local.ensure_image(name, folder, find_ca_bundle(), print)
    reference = ReferenceModel.from_task(catalog.get_task(TASK)).app
    print(f"median of {args.runs} warm runs; goal on the local engine: ratio <= {GOAL}")

    ratios = []
    with BackgroundServer(reference, gateway(docker.from_env())) as server:
        endpoint = f"{server.url}/v1"
        for tui in tuis:
            cab = median_of(args.runs, lambda tui=tui: cab_agent_phase(tui, endpoint, None))
            bare = median_of(args.runs, lambda tui=tui: bare_agent_phase(tui, images[tui], endpoint, None))
            ratios.append(report("local", tui, cab, bare))

    if not args.no_netns:
        from engines import NETNS, netns_dockerd

        with netns_dockerd() as engine, BackgroundServer(reference, "127.0.0.1") as server:
            folders = {
                **{t: catalog.get_tui(t).root for t in tuis},
                "rust": catalog.image_dir("rust"),
                "relay": catalog.relay_dir(),
            }
            engine.load(list(dict.fromkeys(tag for n, f in folders.items() for tag in image_chain(n, f))))
            inside = gateway(engine.client())
            port = 18000
            serving = subprocess.Popen(
                ["nsenter", f"--net=/run/netns/{NETNS}", sys.executable, "-c", SERVE, TASK, inside, str(port)]
            )
            try:
                time.sleep(2)
                for tui in tuis:
                    cab = median_of(args.runs, lambda tui=tui: cab_agent_phase(tui, f"{server.url}/v1", engine.url))
                    bare = median_of(
                        args.runs,
                        lambda tui=tui: bare_agent_phase(tui, images[tui], f"http://{inside}:{port}/v1", engine.url),
                    )
                    report("engine 2", tui, cab, bare)
            finally:
                serving.kill()
    return 0 if all(r <= GOAL for r in ratios) else 1


if __name__ == "__main__":
    shutil.which("docker") or sys.exit("the docker command is needed for the bare runs")
    sys.exit(main())
