"""scripts/set-repository.py: one setting (_config.yml's repository) for the launch buttons, the
chapters' Colab setup cells and the assignments' Colab links. Runs on a copy of the book's files."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "set-repository.py"
_spec = importlib.util.spec_from_file_location("set_repository", SCRIPT)
setrepo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(setrepo)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "_config.yml", tmp_path / "_config.yml")
    (tmp_path / "book").mkdir()
    for path in list((ROOT / "book").glob("*.ipynb")) + list((ROOT / "book").glob("*.md")):
        shutil.copy(path, tmp_path / "book" / path.name)
    return tmp_path


def test_the_repository_agrees_with_its_config():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    url, branch = setrepo.read_setting()
    assert url == yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f"uses {url} ({branch})" in proc.stdout


def test_setting_a_new_repository_rewrites_every_place(copy: Path):
    before = {p.name: p.read_text(encoding="utf-8") for p in copy.rglob("*") if p.is_file()}
    changed = setrepo.set_repository("https://github.com/someone/my-lstm-course/", "gh-pages-src", root=copy)
    assert (copy / "_config.yml") in changed and len(changed) >= 11  # config + 10 chapters (+ pages with links)
    config = yaml.safe_load((copy / "_config.yml").read_text(encoding="utf-8"))
    assert config["repository"] == {"url": "https://github.com/someone/my-lstm-course", "branch": "gh-pages-src"}
    assert setrepo.disagreements(copy) == []
    for path in sorted((copy / "book").glob("*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        setup = next(c for c in nb["cells"] if c["cell_type"] == "code")
        assert ('COURSE_REPOSITORY, COURSE_BRANCH = "https://github.com/someone/my-lstm-course", "gh-pages-src"'
                in "".join(setup["source"]))
        # only that line changed: the rest of the notebook is byte for byte what it was
        old_url, old_branch = setrepo.read_setting(ROOT)
        restored = path.read_text(encoding="utf-8").replace(
            '\\"https://github.com/someone/my-lstm-course\\", \\"gh-pages-src\\"', f'\\"{old_url}\\", \\"{old_branch}\\"')
        assert restored == before[path.name]
    assignments = (copy / "book" / "assignments.md").read_text(encoding="utf-8")
    assert "colab.research.google.com/github/someone/my-lstm-course/blob/gh-pages-src/notebooks/gates" in assignments
    assert "lstm-course/lstm-course" not in assignments
    # a second run changes nothing
    assert setrepo.set_repository("https://github.com/someone/my-lstm-course", "gh-pages-src", root=copy) == []


def test_check_lists_each_place_that_disagrees(copy: Path):
    nb_path = copy / "book" / "03_nn_lstm.ipynb"
    nb_path.write_text(nb_path.read_text(encoding="utf-8").replace("lstm-course/lstm-course", "old/fork"), encoding="utf-8")
    page = copy / "book" / "assignments.md"
    page.write_text(page.read_text(encoding="utf-8").replace("/blob/main/notebooks/gates", "/blob/dev/notebooks/gates"),
                    encoding="utf-8")
    other = copy / "book" / "07_sampling.ipynb"
    other.write_text(other.read_text(encoding="utf-8").replace('lstm-course\\", \\"main\\"', 'lstm-course\\", \\"dev\\"'),
                     encoding="utf-8")
    found = setrepo.disagreements(copy)
    assert len(found) == 3, found
    assert found[0].startswith("book/03_nn_lstm.ipynb: the setup cell clones https://github.com/old/fork")
    assert found[1].startswith("book/07_sampling.ipynb: the setup cell clones https://github.com/lstm-course/lstm-course (dev)")
    assert "assignments.md: a Colab link to lstm-course/lstm-course (dev)" in found[2]


def test_check_against_the_repository_the_workflow_runs_in():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--check", "--expect", "https://github.com/someone/else"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "expected https://github.com/someone/else (run: python scripts/set-repository.py https://github.com/someone/else" in proc.stderr


@pytest.mark.parametrize("url", ["github.com/a/b", "https://gitlab.com/a/b", "https://github.com/a", "https://github.com/a/b c"])
def test_rejects_what_is_not_a_github_repository(copy: Path, url: str):
    before = (copy / "_config.yml").read_text(encoding="utf-8")
    with pytest.raises(SystemExit, match="expected a repository URL like https://github.com/OWNER/REPO, got"):
        setrepo.set_repository(url, "main", root=copy)
    assert (copy / "_config.yml").read_text(encoding="utf-8") == before


def test_a_chapter_without_the_setup_line_stops_before_anything_is_written(copy: Path):
    nb_path = copy / "book" / "05_bidirectional_taggers.ipynb"
    nb_path.write_text(nb_path.read_text(encoding="utf-8").replace("COURSE_REPOSITORY, COURSE_BRANCH =", "X ="),
                       encoding="utf-8")
    before = (copy / "_config.yml").read_text(encoding="utf-8")
    with pytest.raises(SystemExit, match="05_bidirectional_taggers.ipynb to hold a COURSE_REPOSITORY line"):
        setrepo.set_repository("https://github.com/a/b", "main", root=copy)
    assert (copy / "_config.yml").read_text(encoding="utf-8") == before


def test_pages_workflow_checks_the_setting_then_builds_and_publishes_the_site():
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    steps = workflow["jobs"]["build"]["steps"]
    runs = [s.get("run", "") for s in steps]
    check = next(i for i, r in enumerate(runs) if "scripts/set-repository.py --check" in r)
    build = next(i for i, r in enumerate(runs) if r.strip() == "bash scripts/build-book.sh")
    assert check < build, "the repository setting is checked before the (long) build"
    assert '--expect "https://github.com/${GITHUB_REPOSITORY}"' in runs[check]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"
    assert workflow["jobs"]["deploy"]["steps"][0]["uses"].startswith("actions/deploy-pages")
    guide = (ROOT / "book" / "instructor-guide.md").read_text(encoding="utf-8")
    assert ".github/workflows/pages.yml" in guide and "scripts/set-repository.py" in guide
