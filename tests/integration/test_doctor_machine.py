"""cab doctor on this machine: the engine it finds, the images, and the isolation it measures there."""

from __future__ import annotations

from cab_check.cli import main


def test_doctor_reports_the_engine_images_and_isolation(capsys):
    code = main(["doctor"])
    out = " ".join(capsys.readouterr().out.split())
    assert "✓ engine Docker" in out and "(on this machine)" in out
    assert "images" in out and "disk" in out
    # Measured with a probe agent in a real run network, not assumed; no finding may fail on a machine that runs cells.
    assert "✓ isolation measured just now: an agent has only a loopback interface" in out
    assert code == 0, out
