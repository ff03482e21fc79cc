"""Start the example API and devproxy in front of it; Ctrl+C (or SIGTERM) stops both.

    python examples/basic/run.py
"""

import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    api = subprocess.Popen([sys.executable, str(HERE / "api.py")])
    proxy = subprocess.Popen([sys.executable, "-m", "devproxy", "up",
                              "-c", str(HERE / "devproxy.yaml")])

    def stop(signum: int, _frame: object) -> None:
        proxy.send_signal(signal.SIGINT)  # devproxy finishes open requests, then exits

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        return proxy.wait()
    finally:
        api.terminate()
        api.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
