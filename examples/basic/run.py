"""Start the example API and devproxy in front of it; Ctrl+C stops both.

    python examples/basic/run.py
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    api = subprocess.Popen([sys.executable, str(HERE / "api.py")])
    try:
        command = [sys.executable, "-m", "devproxy", "up", "-c", str(HERE / "devproxy.yaml")]
        return subprocess.call(command, env=os.environ)
    except KeyboardInterrupt:
        return 0
    finally:
        api.terminate()
        api.wait(timeout=5)


if __name__ == "__main__":
    sys.exit(main())
