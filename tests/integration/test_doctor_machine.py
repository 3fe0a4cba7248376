"""cab doctor on this machine: the engine it finds, the images, and the isolation it can give."""

from __future__ import annotations

from cab_check.cli import main


def test_doctor_reports_the_engine_images_and_isolation(capsys):
    code = main(["doctor"])
    out = " ".join(capsys.readouterr().out.split())
    assert "✓ docker engine" in out and "reachable" in out
    assert "images" in out and "disk" in out
    # CI runs as root with iptables, where the host is fenced; no finding may fail on a machine that runs cells.
    assert "✓ isolation internal network per run; the host is fenced to the proxy port" in out
    assert code == 0, out
