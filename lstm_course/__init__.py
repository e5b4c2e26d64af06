"""lstm_course: the helper package of "LSTMs in PyTorch, from the hand-written cell to generation".

Small modules named for what they hold (see DESIGN.md for the symbol legend B, T, I, H, V):
``device``, ``vocab``, ``corpus``, ``data``, ``tagging``, ``dates``, ``cell``, ``numpy_cell``, ``models``,
``seq2seq``, ``optim``, ``training``, ``checkpoint``, ``sampling``, ``metrics``, ``viz``, ``diagrams``, ``cli``, ``notebook``;
for instructors, the ``grading`` subpackage (nbgrader autograding; see DESIGN.md). Import the module you
need, e.g. ``from lstm_course.models import CharLM``.
"""

__version__ = "0.1.0"
