# Sourced by scripts/test.sh and scripts/build-book.sh: makes .venv (once) and installs the
# pinned requirements into it. PYTHON picks the interpreter (default python3; the course is
# tested on 3.11).
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
# the kernel every book chapter and graded notebook runs in ("python3") must be this venv's
.venv/bin/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (lstm_course)" >/dev/null
# the kernel `nbgrader autograde` runs submissions in: memory/file-size caps and a file-system sandbox
# (lstm_course/grading/kernel.py; selected in nbgrader_config.py)
.venv/bin/python -m lstm_course.grading install-kernel --prefix .venv >/dev/null
export PATH="$PWD/.venv/bin:$PATH"
# the book's MathJax / RequireJS / ipywidgets assets, so the built site works offline
bash scripts/vendor-assets.sh
