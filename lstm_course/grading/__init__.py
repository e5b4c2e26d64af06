"""Autograding for the course's nbgrader notebooks: one module per concern (see DESIGN.md for the flow).

Nothing here is imported by the chapters; instructors reach it through ``nbgrader_config.py`` and
``python -m lstm_course.grading install-kernel`` / ``python -m lstm_course.grading.shard``.

==================  =====================================================================================
``install.py``      the ``lstm-course-grader`` kernel spec (``python -m lstm_course.grading install-kernel``)
``kernel.py``       the kernel launcher: memory and file-size limits, Landlock sandbox, then ipykernel
``restore.py``      ``RestoreCellMetadata``: nbgrader metadata back into a notebook that lost it (Colab)
``static.py``       static analysis of the student's cells (``ast``): constructs that tamper with grading,
                    PyTorch's own LSTM (the judge fails the tests they affect and logs them for review)
``execute.py``      ``GradingExecute``: runs the notebook in the grading kernel, survives dead/stuck kernels
``judge.py``        ``AddProbes`` / ``Judge``: the verdict, decided in nbgrader's process from results the
                    kernel hands back as data on inputs the judge chose
``protocol.py``     how probe inputs and results travel (``torch.save`` / ``torch.load(weights_only=True)``)
``checks/``         per notebook: the probe inputs, the probe (runs in the kernel) and the verdict (judge)
``feedback.py``     ``HideHiddenTests``: feedback HTML without hidden-test source
``shard.py``        ``python -m lstm_course.grading.shard``: a class graded in parallel shards, merged
==================  =====================================================================================

This file imports nothing: the grading kernel runs ``python -m lstm_course.grading.kernel`` before its sandbox is
up, and must not pull nbgrader or torch in for that.
"""
