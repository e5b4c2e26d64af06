"""Static checks on the chapter sources (fast: nothing is executed).

Every chapter must open the same way in Colab: its first code cell fetches the course repository
named in _config.yml, and numbers go through lstm_course.notebook.glue, which also works without
myst-nb (Colab has none).
"""
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# numbered chapters, including lettered ones slotted between two numbers (02b_…)
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]*_*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]


def test_there_are_ten_numbered_chapters_and_2b():
    assert [p.name.split("_")[0] for p in CHAPTERS] == ["01", "02", "02b"] + [f"{i:02d}" for i in range(3, 11)]


def test_every_chapter_starts_with_the_same_colab_setup_cell():
    firsts = {p.name: _code_cells(p)[0] for p in CHAPTERS}
    repo_url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    for name, cell in firsts.items():
        assert '"google.colab" in sys.modules' in cell, f"{name}: first code cell is not the Colab setup"
        assert repo_url in cell, f"{name}: the Colab cell clones another repository than _config.yml's {repo_url}"
    assert len(set(firsts.values())) == 1, "the Colab setup cells differ between chapters"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_is_committed_without_outputs_and_imports_glue_from_the_package(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] for c in code), "chapters are committed without outputs"
    source = "\n".join("".join(c["source"]) for c in code)
    assert "from myst_nb import glue" not in source, "use lstm_course.notebook.glue (works in Colab too)"
