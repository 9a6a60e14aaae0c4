"""The README's run command starts a real server on a fresh instance (SQLite, no other server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from lti_tool.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "KEYS_DIR": str(tmp_path / "keys"),
        "PORT": str(port),
    }
    with (tmp_path / "server.log").open("ab") as log:
        return subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_for(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> requests.Response:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited early with status {proc.returncode}")
        try:
            return requests.get(url, timeout=2)
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def test_run_command_serves_health_and_keys_and_keeps_them(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = start(tmp_path, port)
    try:
        health = wait_for(f"{base}/healthz", proc)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        jwks = requests.get(f"{base}/.well-known/jwks.json", timeout=5).json()
        assert len(jwks["keys"]) == 1
        kid = jwks["keys"][0]["kid"]
    finally:
        stop(proc)
    assert (tmp_path / "instance" / "bottega.sqlite3").exists()

    proc = start(tmp_path, port)  # a restart keeps the same key
    try:
        wait_for(f"{base}/healthz", proc)
        again = requests.get(f"{base}/.well-known/jwks.json", timeout=5).json()
        assert [k["kid"] for k in again["keys"]] == [kid]
    finally:
        stop(proc)
