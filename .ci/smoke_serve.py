"""Start `linli serve` from an installed wheel on the embedded defaults and wait for /healthz.

    python -I smoke_serve.py /path/to/venv/bin/linli

Exits 0 once /healthz answers 200 and the server stops cleanly on SIGTERM; 1 otherwise,
printing the server's output.
"""

import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main(linli: str) -> int:
    port = free_port()
    server = subprocess.Popen([linli, "serve", "--port", str(port)], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/healthz"
    deadline = time.monotonic() + TIMEOUT_S
    healthy = False
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                healthy = resp.status == 200
                print(f"{url}: {resp.status} {resp.read().decode()}")
                break
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.send_signal(signal.SIGTERM)
    try:
        output, _ = server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        output, _ = server.communicate()
    if not healthy or server.returncode != 0:
        print(f"linli serve from the wheel: healthy={healthy}, exit code {server.returncode}")
        print(output.decode(errors="replace"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
