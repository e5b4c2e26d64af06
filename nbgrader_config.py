"""nbgrader configuration: run the instructor commands from the repository root.

    nbgrader generate_assignment gates      # solutions/gates -> notebooks/gates (student version)
    nbgrader autograde gates                # grades submitted/<student>/gates
    nbgrader generate_feedback gates        # feedback/<student>/gates, without the hidden tests
    python -m lstm_course.grading.shard run gates --jobs 4   # autograde in 4 parallel shards, merged

See book/grading-a-class.md for the whole workflow, the limits below and the threat model.
"""
from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
                                    IgnorePattern, LimitOutput, OverwriteCells, OverwriteKernelspec, SaveAutoGrades)

from lstm_course.grading.execute import GradingExecute
from lstm_course.grading.feedback import HideHiddenTests
from lstm_course.grading.judge import AddProbes, Judge
from lstm_course.grading.restore import RestoreCellMetadata

c = get_config()  # noqa: F821  (provided by nbgrader when it loads this file)

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# LMS downloads for `nbgrader zip_collect <id>`: files named <id>_<student>_attempt_<YYYYMMDD-HHMMSS>_<notebook>,
# e.g. gates_ada_attempt_20250301-100000_gates.ipynb, in downloaded/<id>/archive/ (zips or files). (The
# timestamp style of nbgrader's docs, 2025-03-01-10-30-00, is parsed as 10:00: "-30-00" reads as a UTC offset.)
# nbgrader matches this against the file's whole path, so it skips the folders first: a course under
# /home/jane_doe/ or a zip named gates_submissions.zip must not change what the file name says.
c.FileNameCollectorPlugin.named_regexp = (
    r"^(?:.*/)?(?P<assignment>[^_/]+)_(?P<student_id>[^_/]+)_attempt_(?P<timestamp>[0-9]{8}-[0-9]{6})"
    r"_(?P<file_id>[^/]+)$")

# Submissions whose cells lost nbgrader's metadata (Colab can drop it) get it back from the released
# notebook when the cells match unambiguously; otherwise they are graded as they are, with the reason logged.
c.Autograde.sanitize_preprocessors = [
    ClearOutput, RestoreCellMetadata, DeduplicateIds, OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
]

# --- Grading limits (student code is untrusted; see the guide's threat model) -----------------------
# nbgrader's Execute step, replaced by GradingExecute: same behaviour plus a grading kernel under
# resource limits and a file-system sandbox, recovery from dead kernels, and an output cap.
#
# The verdict (lstm_course/grading/judge.py): AddProbes draws secret inputs in this process; GradingExecute runs the
# notebook in the grading kernel for the student's feedback (its test cells decide nothing); Judge runs the setup cell
# and the student's own cells in a fresh, sandboxed probe process that cannot read the course package or this
# directory, calls each graded function there on the secret inputs while PyTorch's profiler records the operators it
# runs, reads the signed results (data, never code), recomputes every reference here and fails each test cell whose
# function it found wrong -- or that ran PyTorch's own LSTM (or autograd in `backward`). Static analysis of the
# student's cells (lstm_course/grading/static/) fails the whole notebook only for code that can beat that judge
# ("TAMPER" in the log); everything else it notices is advice ("REVIEW" in the log, a note in the feedback).
c.Autograde.autograde_preprocessors = [
    AddProbes, GradingExecute, Judge, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]
# Seconds per cell. detaching's visible train_tbptt test, one of the slowest graded cells, took 3.8 s on 2 cores
# under load average 6 (2026-12-03; most of it torch's first optimizer.step()); 30 s leaves room for a busier
# machine, and bounds what an endless loop or a sleep costs: one timeout per cell.
c.GradingExecute.timeout = 30
# Every submission runs in this kernel, whatever kernel its metadata names (installed into .venv by
# scripts/setup-env.sh: `python -m lstm_course.grading install-kernel`).
c.GradingExecute.kernel_name = "lstm-course-grader"
c.GradingExecute.memory_limit = 4 * 2**30  # bytes a kernel may allocate (RLIMIT_DATA)
c.GradingExecute.file_size_limit = 2**30  # largest file a kernel may write (RLIMIT_FSIZE)
c.GradingExecute.sandbox = True  # Landlock: no access to solutions/, the gradebook, other students
c.GradingExecute.max_output_chars = 100_000  # output kept per cell (a 50 MB print is cut here)
# The probe process (one per submission): seconds per cell and per graded function, data memory, and the sandbox
# (Landlock, Linux >= 5.13; without it the judge refuses to grade unless probe_sandbox is False).
c.Judge.probe_timeout = 30
c.Judge.probe_memory = 4 * 2**30
c.Judge.probe_sandbox = True
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# --- Feedback ----------------------------------------------------------------------------------------
# `nbgrader generate_feedback <id>` writes the graded notebook as HTML. nbgrader's own steps are GetGrades and
# CSSHTMLHeaderPreprocessor; HideHiddenTests, between them, replaces each hidden-test region by a line giving the
# test cell's name, points and result, and removes every output line that quotes hidden-test source (tracebacks,
# or a student's print(In)). Error messages stay. So feedback can go out as soon as grades do.
c.GenerateFeedback.preprocessors = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
