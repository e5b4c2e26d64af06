"""Autograding for the course's nbgrader notebooks: one module per concern (see DESIGN.md for the flow).

Nothing here is imported by the chapters; instructors reach it through ``nbgrader_config.py`` and
``python -m lstm_course.grading install-kernel`` / ``python -m lstm_course.grading.shard``.

==================  =====================================================================================
``install.py``      the ``lstm-course-grader`` kernel spec (``python -m lstm_course.grading install-kernel``)
``kernel.py``       the kernel launcher: memory and file-size limits, Landlock sandbox, then ipykernel
``restore.py``      ``RestoreCellMetadata``: nbgrader metadata back into a notebook that lost it (Colab)
``static/``        static analysis of the student's cells (``ast``): constructs that can beat the judge
                    (the notebook scores 0) and constructs worth a look (advice only)
``execute.py``      ``GradingExecute``: runs the notebook in the grading kernel (feedback only), survives
                    dead/stuck kernels
``judge.py``        ``AddProbes`` / ``Judge``: the verdict, decided in nbgrader's process from what a separate
                    probe process returns as data on inputs the judge chose
``confine.py``      starts the probe process under limits and a Landlock sandbox without the course package
``probe_runner.py`` the probe process: standalone (no course package), runs the setup and the student's
                    cells, calls each graded function under PyTorch's operator recorder, signs the results
``protocol.py``     how probe inputs and results travel (``torch.save`` / ``torch.load(weights_only=True)``,
                    HMAC-signed lines, archives checked before they are read)
``checks/``         per notebook: the probe inputs and the verdict (judge side; references live here only)
``feedback.py``     ``HideHiddenTests``: feedback HTML without hidden-test source
``shard.py``        ``python -m lstm_course.grading.shard``: a class graded in parallel shards, merged
==================  =====================================================================================

This file imports nothing: the grading kernel runs ``python -m lstm_course.grading.kernel`` before its sandbox is
up, and must not pull nbgrader or torch in for that.
"""
