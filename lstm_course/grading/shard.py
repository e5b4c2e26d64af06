"""Grade a class in parallel: shard the submissions, autograde each shard in its own course copy, merge.

nbgrader grades one notebook at a time, and several ``nbgrader autograde`` processes on one ``gradebook.db``
fail with ``database is locked`` (nbgrader issue #174). Here each shard is graded by nbgrader itself, unchanged,
in its own copy of the course directory with its own copy of the gradebook; the merge then writes the shards'
results into the course's ``gradebook.db`` through nbgrader's API (``nbgrader.api.Gradebook``) and copies their
graded notebooks into ``autograded/``, so that ``nbgrader generate_feedback`` and ``nbgrader export`` work
unchanged afterwards. From the course root (where ``nbgrader_config.py`` is), after ``generate_assignment``::

    python -m lstm_course.grading.shard run gates --jobs 4           # 4 shards in parallel on this machine, merged
    python -m lstm_course.grading.shard grade gates --shards 40 --index 7   # one shard (e.g. a job-array task)
    python -m lstm_course.grading.shard merge gates --shards 40            # after all the shards' tasks

Shard ``k`` of ``n`` holds every ``n``-th student (sorted ids under ``submitted/`` that handed in the
assignment, from the ``k``-th on). A shard is graded in ``<work>/<assignment>/shard-<k>-of-<n>/`` (work:
``grading-shards`` by default), rebuilt from scratch each time, and marked done only when ``autograde``
finished; ``merge`` takes the shards marked done, reports the others (exit status 1) and can be run again
when they are: a shard is rerun alone, and merging twice updates the same gradebook rows, never adds any.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DONE = "shard-done.json"


def students(course: Path, assignment: str) -> list[str]:
    """Sorted ids of the students with a submission of ``assignment`` under ``submitted/``."""
    root = course / "submitted"
    return sorted(p.name for p in root.iterdir() if (p / assignment).is_dir()) if root.is_dir() else []


def shard_students(course: Path, assignment: str, shards: int, index: int) -> list[str]:
    if shards < 1 or not 0 <= index < shards:
        raise ValueError(f"expected 0 <= index < shards, got index {index} of {shards} shards")
    return students(course, assignment)[index::shards]


def shard_dir(work: Path, assignment: str, shards: int, index: int) -> Path:
    return work / assignment / f"shard-{index}-of-{shards}"


def _nbgrader(*args: str, cwd: Path, log: Path) -> int:
    exe = Path(sys.executable).parent / "nbgrader"
    command = [str(exe) if exe.exists() else "nbgrader", *args]
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # nbgrader runs alembic
    env.setdefault("OMP_NUM_THREADS", "1")  # one core per shard: the notebooks' tensors are tiny
    with open(log, "w") as out:
        return subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT).returncode


def grade(course: Path, assignment: str, shards: int, index: int, work: Path) -> int:
    """Autograde shard ``index`` of ``shards`` in a fresh copy of the course; returns autograde's exit status.

    The copy holds the course's ``nbgrader_config.py`` and ``gradebook.db`` (the released assignment and the
    roster), ``solutions/<id>``, ``notebooks/<id>`` and the shard's students' ``submitted/<student>/<id>``.
    """
    for needed in ("nbgrader_config.py", "gradebook.db"):
        if not (course / needed).exists():
            raise FileNotFoundError(f"expected {course / needed}: run from the course root after "
                                    f"`nbgrader generate_assignment {assignment}`")
    mine = shard_students(course, assignment, shards, index)
    where = shard_dir(work, assignment, shards, index)
    if where.exists():
        shutil.rmtree(where)  # a rerun starts from scratch: nothing half-graded is kept
    where.mkdir(parents=True)
    shutil.copy2(course / "nbgrader_config.py", where / "nbgrader_config.py")
    shutil.copy2(course / "gradebook.db", where / "gradebook.db")
    for folder in ("solutions", "notebooks"):
        if (course / folder / assignment).is_dir():
            shutil.copytree(course / folder / assignment, where / folder / assignment)
    for student in mine:
        shutil.copytree(course / "submitted" / student / assignment, where / "submitted" / student / assignment)
    status = _nbgrader("autograde", assignment, "--force", cwd=where, log=where / "autograde.log") if mine else 0
    # autograde exits non-zero when some submission could not be graded at all (a zero is recorded for it):
    # the shard is still complete. It is marked done when every one of its students has a gradebook entry.
    if status:
        print(f"shard {index} of {shards}: autograde exited with {status}, some submission could not be graded (it "
              f"scores 0): see {where / 'autograde.log'}", file=sys.stderr)
    graded = _submitted_ids(where, assignment)
    if set(mine) <= graded:
        (where / DONE).write_text(json.dumps({"students": mine, "autograde_status": status}) + "\n")
    return status


def _submitted_ids(where: Path, assignment: str) -> set[str]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{where / 'gradebook.db'}") as gb:
        return {s.student.id for s in gb.find_assignment(assignment).submissions}


def merge(course: Path, assignment: str, shards: int, work: Path) -> list[int]:
    """Merge every finished shard into the course's gradebook and ``autograded/``; returns the unfinished ones."""
    from nbgrader.api import Gradebook

    missing = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as main:
        for index in range(shards):
            where = shard_dir(work, assignment, shards, index)
            if not (where / DONE).exists():
                missing.append(index)
                continue
            mine = json.loads((where / DONE).read_text())["students"]
            with Gradebook(f"sqlite:///{where / 'gradebook.db'}") as shard:
                for student in mine:
                    _merge_submission(shard, main, assignment, student)
            for student in mine:
                graded = where / "autograded" / student / assignment
                if graded.is_dir():
                    target = course / "autograded" / student / assignment
                    tmp = target.with_name(f".{assignment}.merging")
                    shutil.rmtree(tmp, ignore_errors=True)
                    shutil.copytree(graded, tmp)
                    if target.exists():
                        shutil.rmtree(target)
                    tmp.rename(target)
    return missing


def _merge_submission(shard, main, assignment: str, student: str) -> None:
    """Copy one student's submission of ``assignment`` from the shard's gradebook into the course's."""
    theirs = shard.find_submission(assignment, student)
    who = theirs.student
    main.update_or_create_student(student, first_name=who.first_name, last_name=who.last_name, email=who.email,
                                  lms_user_id=who.lms_user_id)
    ours = main.update_or_create_submission(assignment, student, timestamp=theirs.timestamp)
    for nb in theirs.notebooks:
        target = main.find_submission_notebook(nb.name, assignment, student)
        target.flagged = nb.flagged
        if nb.late_submission_penalty is not None or target.late_submission_penalty is not None:
            target.late_submission_penalty = nb.late_submission_penalty
        for grade in nb.grades:
            row = main.find_grade(grade.name, nb.name, assignment, student)
            row.auto_score, row.manual_score = grade.auto_score, grade.manual_score
            row.extra_credit, row.needs_manual_grade = grade.extra_credit, grade.needs_manual_grade
        for comment in nb.comments:
            row = main.find_comment(comment.name, nb.name, assignment, student)
            row.auto_comment, row.manual_comment = comment.auto_comment, comment.manual_comment
    del ours
    main.db.commit()


def run(course: Path, assignment: str, jobs: int, work: Path) -> int:
    """Grade ``jobs`` shards in parallel on this machine, then merge; returns 0, or 1 if a shard is unfinished."""
    with ThreadPoolExecutor(jobs) as pool:  # each thread waits on its own nbgrader process
        statuses = list(pool.map(lambda k: grade(course, assignment, jobs, k, work), range(jobs)))
    missing = merge(course, assignment, jobs, work)
    for k in missing:
        print(f"shard {k} of {jobs} did not finish (status {statuses[k]}): see "
              f"{shard_dir(work, assignment, jobs, k) / 'autograde.log'}, rerun it with "
              f"`python -m lstm_course.grading.shard grade {assignment} --shards {jobs} --index {k}`, then merge",
              file=sys.stderr)
    return 1 if missing else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lstm_course.grading.shard", description=__doc__.split("\n\n")[0])
    parser.add_argument("--course", type=Path, default=Path("."), help="the course root (default: %(default)s)")
    parser.add_argument("--work", type=Path, default=None, help="where shards are graded (default: <course>/grading-shards)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run", help="grade the class in JOBS parallel shards on this machine, then merge")
    p_run.add_argument("assignment")
    p_run.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p_grade = sub.add_parser("grade", help="autograde one shard in its own course copy (e.g. one job-array task)")
    p_grade.add_argument("assignment")
    p_grade.add_argument("--shards", type=int, required=True)
    p_grade.add_argument("--index", type=int, required=True, help="0-based (SLURM_ARRAY_TASK_ID, JOB_COMPLETION_INDEX)")
    p_merge = sub.add_parser("merge", help="merge every finished shard into gradebook.db and autograded/")
    p_merge.add_argument("assignment")
    p_merge.add_argument("--shards", type=int, required=True)
    args = parser.parse_args(argv)
    course = args.course.resolve()
    work = (args.work or course / "grading-shards").resolve()
    if args.command == "run":
        if args.jobs < 1:
            parser.error(f"expected --jobs >= 1, got {args.jobs}")
        return run(course, args.assignment, args.jobs, work)
    if args.command == "grade":
        try:
            status = grade(course, args.assignment, args.shards, args.index, work)
        except (ValueError, FileNotFoundError) as err:
            parser.error(str(err))
        done = (shard_dir(work, args.assignment, args.shards, args.index) / DONE).exists()
        return 0 if done else (status or 1)
    missing = merge(course, args.assignment, args.shards, work)
    if missing:
        print(f"not merged, unfinished: shard(s) {', '.join(map(str, missing))} of {args.shards}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main())
