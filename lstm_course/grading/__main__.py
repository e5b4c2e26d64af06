"""``python -m lstm_course.grading install-kernel [--prefix PREFIX]``: see ``install.py``."""
from .install import main

if __name__ == "__main__":
    raise SystemExit(main())
