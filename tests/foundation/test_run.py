"""`sjukfall run` (what `make run` calls): the whole stack up, answering, and gone on Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from domain.calendar import STOCKHOLM
from infra.embedded import free_port

SJUKFALL = Path(sys.executable).parent / "sjukfall"


def start(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([str(SJUKFALL), "run"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for_lines(proc: subprocess.Popen[str], prefix: str, timeout: float = 90) -> list[str]:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"sjukfall run ended early: {proc.stderr.read() if proc.stderr else ''}")
        lines.append(line.rstrip())
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no line starting with {prefix!r} within {timeout}s: {lines}")


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


@pytest.fixture
def stack_env(tmp_path: Path) -> dict[str, str]:
    ports = {name: free_port() for name in ("API", "TEMPORAL", "TEMPORAL_UI", "POSTGRES",
                                            "FK_SIMULATOR", "INBOX")}
    return dict(os.environ, SJUKFALL_API_PORT=str(ports["API"]),
                SJUKFALL_TEMPORAL_PORT=str(ports["TEMPORAL"]),
                SJUKFALL_TEMPORAL_UI_PORT=str(ports["TEMPORAL_UI"]),
                SJUKFALL_POSTGRES_PORT=str(ports["POSTGRES"]),
                SJUKFALL_FK_SIMULATOR_PORT=str(ports["FK_SIMULATOR"]),
                SJUKFALL_INBOX_PORT=str(ports["INBOX"]),
                SJUKFALL_DATA_DIR=str(tmp_path / "data"), SJUKFALL_JWT_SECRET="x" * 32)


def test_run_serves_then_stops_everything_and_keeps_the_data(stack_env: dict[str, str]) -> None:
    api = f"http://127.0.0.1:{stack_env['SJUKFALL_API_PORT']}"
    ports = [int(v) for k, v in stack_env.items() if k.startswith("SJUKFALL_") and k.endswith("_PORT")]
    token = subprocess.run([str(SJUKFALL), "token", "--role", "physician", "--unit", "vc-1"],
                           env=stack_env, capture_output=True, text=True, check=True).stdout.strip()
    auth = {"Authorization": f"Bearer {token}"}

    proc = start(stack_env)
    try:
        lines = wait_for_lines(proc, "Ctrl-C")
        assert any(line.startswith(f"API       {api}") for line in lines)
        assert any(line.startswith(f"Console   {api}/console") for line in lines)
        assert "Logga in" in httpx.get(f"{api}/console/sign-in").text
        assert any("UI: http://127.0.0.1:" in line for line in lines)
        assert any(line.startswith("FK        http://127.0.0.1:") for line in lines)
        assert any(line.startswith("Inbox     http://127.0.0.1:") for line in lines)
        assert httpx.get(f"{api}/healthz").status_code == 200
        assert httpx.get(f"{api}/readyz").json()["status"] == "ready"
        ui = httpx.get(f"http://127.0.0.1:{stack_env['SJUKFALL_TEMPORAL_UI_PORT']}/")
        assert ui.status_code == 200
        # a case whose day 8 passed without a certificate: the patient is reminded, through
        # the development inbox that stands in for every recipient
        day_one = (datetime.now(STOCKHOLM) - timedelta(days=9)).date()
        opened = httpx.post(f"{api}/cases", headers=auth, timeout=30, json={
            "patient_id": "191212121212", "unit_id": "vc-1", "sick_period_start": str(day_one)})
        assert opened.status_code == 201, opened.text
        inbox = f"http://127.0.0.1:{stack_env['SJUKFALL_INBOX_PORT']}/"
        deadline = time.monotonic() + 20
        while not httpx.get(inbox).json() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [n["kind"] for n in httpx.get(inbox).json()] == ["certificate_required_day_8"]
        children = children_of(proc.pid)
        assert len(children) >= 2  # PostgreSQL and the Temporal dev server
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
    assert proc.returncode == 0
    time.sleep(0.5)
    assert not any(listening(p) for p in ports)
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)

    again = start(stack_env)  # the second run reuses the data
    try:
        wait_for_lines(again, "Ctrl-C")
        listed = httpx.get(f"{api}/cases", headers=auth, timeout=30).json()
        assert opened.json()["case_id"] in [c["case_id"] for c in listed["items"]]
    finally:
        again.send_signal(signal.SIGINT)
        again.wait(60)


def test_run_names_the_port_that_is_taken(stack_env: dict[str, str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(stack_env["SJUKFALL_API_PORT"])))
        taken.listen()
        proc = start(stack_env)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert f"port {stack_env['SJUKFALL_API_PORT']} (API) is already in use" in err


def test_ctrl_c_stops_the_stack_within_seconds_whatever_is_in_flight(
        stack_env: dict[str, str]) -> None:
    """A request that never finishes (a client sending half a body) and a case at work must
    not keep `make run` alive after Ctrl-C."""
    proc = start(stack_env)
    try:
        wait_for_lines(proc, "Ctrl-C")
        children = children_of(proc.pid)
        stalled = socket.create_connection(("127.0.0.1", int(stack_env["SJUKFALL_API_PORT"])))
        stalled.sendall(b"POST /cases HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100\r\n\r\n{\"patient_id\":")
        time.sleep(0.5)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
        took = time.monotonic() - stopped_at
        stalled.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert took < 12, f"took {took:.1f} s to stop"
    assert proc.returncode == 0
    time.sleep(0.5)
    assert all(not Path(f"/proc/{pid}").exists() for pid in children)
