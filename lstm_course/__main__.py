"""``python -m lstm_course train|sample …``: see ``lstm_course.cli``."""
from lstm_course.cli import main

raise SystemExit(main())
