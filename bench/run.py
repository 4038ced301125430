"""Entry point: ``python bench/run.py [--quick] [--no-peers] [--no-speed] ...``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
