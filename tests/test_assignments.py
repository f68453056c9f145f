"""`gan-lab assignments build|grade`: nbgrader releases stubs, keeps solutions for the instructor, and
grades a folder of submissions into one CSV row per student and assignment."""
import contextlib
import csv
import io
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from gan_lab.cli import main
from gan_lab.cli.assignments import SOURCE_DIR, build, find_sources, grade, parse_source
from gan_lab.utils import GanLabError

ASSIGNMENTS = sorted(p.stem for p in SOURCE_DIR.glob("*.py"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    assert main(["assignments", "build", "--out", str(out)]) == 0
    return out


def _cells(path):
    nb = nbformat.read(str(path), as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"]


def _run_in_process(path):
    """Execute a notebook's code cells in one namespace: {grade_id: exception or None}."""
    namespace, results = {}, {}
    for cell in _cells(path):
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell.source, grade_id, "exec"), namespace)
            results[grade_id] = None
        except Exception as exc:        # a failing cell, as the grader would see it
            results[grade_id] = exc
    return results


def test_every_part_of_the_course_has_an_assignment():
    # one per theory chapter (01-04) and per model the package has a chapter or module for
    assert len(ASSIGNMENTS) >= 5
    for prefix in ("01_", "02_", "03_", "04_"):
        assert any(a.startswith(prefix) for a in ASSIGNMENTS), prefix
    assert any("singan" in a for a in ASSIGNMENTS)


def test_build_writes_release_and_instructor_copies(built):
    for aid in ASSIGNMENTS:
        release = built / "release" / aid / f"{aid}.ipynb"
        instructor = built / "instructor" / aid / f"{aid}.ipynb"
        assert release.is_file() and instructor.is_file()
        released, source = release.read_text(), instructor.read_text()
        # solutions and hidden tests stay with the instructor; stubs are left for the student
        assert "### BEGIN SOLUTION" in source and "### BEGIN SOLUTION" not in released
        assert "raise NotImplementedError()" in released
        assert "HIDDEN TESTS" not in released
        grade_cells = [c for c in _cells(release) if c.metadata["nbgrader"]["grade"]]
        assert grade_cells and all(c.metadata["nbgrader"]["locked"] for c in grade_cells)
        assert all("checksum" in c.metadata["nbgrader"] for c in grade_cells)   # nbgrader's, for autograde
        assert all(not c.get("outputs") for c in _cells(release))


@pytest.mark.parametrize("aid", ASSIGNMENTS)
def test_reference_solutions_pass_and_released_stubs_fail(built, aid):
    solved = _run_in_process(built / "instructor" / aid / f"{aid}.ipynb")
    assert all(exc is None for exc in solved.values()), {k: repr(v) for k, v in solved.items() if v}
    stubbed = _run_in_process(built / "release" / aid / f"{aid}.ipynb")
    tests = [c.metadata["nbgrader"]["grade_id"] for c in _cells(built / "release" / aid / f"{aid}.ipynb")
             if c.metadata["nbgrader"]["grade"]]
    assert all(stubbed[t] is not None for t in tests), {t: stubbed[t] for t in tests}


def _plant(notebook: Path, target: Path, sources: dict):
    """Copy a notebook, replacing the source of the cells named in ``sources`` (grade id -> code)."""
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in sources:
            cell.source = sources[grade_id]
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(target))


@pytest.mark.slow
def test_grade_end_to_end(built, tmp_path):
    """alice hands in the reference solutions, bob the untouched release, carol two planted mistakes
    and an emptied test cell; nbgrader restores the test, runs the hidden tests, and grades."""
    subs = tmp_path / "submitted"
    graded = ["01_the_game", "06_vaegan_kl"]
    for aid in graded:
        (subs / "alice" / aid).mkdir(parents=True)
        shutil.copy(built / "instructor" / aid / f"{aid}.ipynb", subs / "alice" / aid / f"{aid}.ipynb")
    (subs / "bob").mkdir()
    shutil.copy(built / "release" / "01_the_game" / "01_the_game.ipynb", subs / "bob" / "01_the_game.ipynb")  # flat
    # carol: the KL averaged over latent dimensions; the saturating loss where the non-saturating one is
    # asked, and its test cell emptied (nbgrader restores locked test cells from the source)
    _plant(built / "instructor" / "06_vaegan_kl" / "06_vaegan_kl.ipynb", subs / "carol" / "06_vaegan_kl" / "mine.ipynb",
           {"kl": "def kl_normal(mu, logvar):\n    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).mean()\n"})
    _plant(built / "instructor" / "01_the_game" / "01_the_game.ipynb", subs / "carol" / "01_the_game.ipynb",
           {"g_loss": "def g_loss_nonsaturating(d_fake):\n    return -F.softplus(d_fake).mean()\n",
            "test_g_loss": "pass"})

    out = tmp_path / "grades.csv"
    assert main(["assignments", "grade", str(subs), "--out", str(out), "--source", str(built)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 3 * len(ASSIGNMENTS)                     # one row per student and assignment
    by = {(r["student"], r["assignment"]): r for r in rows}
    for aid in graded:
        alice = by["alice", aid]
        assert alice["status"] == "graded" and float(alice["score"]) == float(alice["max_score"]) > 0, alice
    bob = by["bob", "01_the_game"]                                  # the untouched release: every test fails
    assert bob["status"] == "graded" and float(bob["score"]) == 0.0
    assert bob["failed_tests"].split() == ["test_d_loss", "test_g_loss", "test_equilibrium"]
    assert by["bob", "06_vaegan_kl"]["status"] == "missing"
    # the KL test fails, and the Monte Carlo test too (it compares with her formula): 0 of 6
    kl = by["carol", "06_vaegan_kl"]
    assert kl["status"] == "graded" and float(kl["score"]) == 0 and "test_kl" in kl["failed_tests"].split()
    # only the generator-loss test fails: 5 of 7 points, though she emptied that test cell
    game = by["carol", "01_the_game"]
    assert game["failed_tests"].split() == ["test_g_loss"]
    assert float(game["score"]) == float(game["max_score"]) - 2
    assert by["carol", "08_singan"]["status"] == "missing" and float(by["carol", "08_singan"]["score"]) == 0
    assert by["alice", "08_singan"]["status"] == "missing"


def test_bad_input_is_a_clear_error(built, tmp_path):
    with pytest.raises(GanLabError, match="does not exist"):
        grade(tmp_path / "nowhere", tmp_path / "g.csv", str(built))
    (tmp_path / "subs" / "dave").mkdir(parents=True)
    (tmp_path / "subs" / "dave" / "01_the_game.ipynb").write_text("print('not a notebook')")
    with pytest.raises(GanLabError, match="is not a Jupyter notebook"):
        grade(tmp_path / "subs", tmp_path / "g.csv", str(built))
    assert not (tmp_path / "g.csv").exists()
    (tmp_path / "subs" / "dave" / "01_the_game.ipynb").unlink()
    shutil.copy(built / "release" / "01_the_game" / "01_the_game.ipynb", tmp_path / "subs" / "dave" / "homework.ipynb")
    with pytest.raises(GanLabError, match="no assignment called 'homework'"):
        grade(tmp_path / "subs", tmp_path / "g.csv", str(built))
    with pytest.raises(GanLabError, match="not empty"):
        build(built)
    with pytest.raises(GanLabError, match="not a folder"):
        find_sources(str(tmp_path / "missing"))


def test_bad_input_on_the_command_line_is_one_line(tmp_path, capsys):
    assert main(["assignments", "grade", str(tmp_path / "nowhere"), "--out", str(tmp_path / "g.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-lab: error:") and len(err.strip().splitlines()) == 1


def test_source_format_errors_name_the_line(tmp_path):
    bad = tmp_path / "x.py"
    bad.write_text("# %% markdown\n# hi\n# %% solution id=a\ndef f():\n    pass\n# %% tests id=t points=1\nf()\n")
    with pytest.raises(GanLabError, match=r"x.py:3: a solution cell needs"):
        parse_source(bad)
    bad.write_text("import os\n# %% tests id=t points=1\n")
    with pytest.raises(GanLabError, match=r"x.py:1: text before the first cell header"):
        parse_source(bad)
    bad.write_text("# %% tests id=t\nassert True\n")
    with pytest.raises(GanLabError, match="points=N"):
        parse_source(bad)


@pytest.mark.slow
def test_build_check_runs_the_instructor_copies_and_stops_on_a_failing_one(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    (src / "01_wrong.py").write_text(
        "# %% markdown\n# # A reference solution with a bug\n"
        "# %% solution id=f\ndef f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n"
        "# %% tests id=test_f points=1\nassert f(1) == 1, 'f must be the identity'\n")
    assert main(["assignments", "build", "--out", str(tmp_path / "out"), "--source", str(src), "--check"]) == 2
    err = capsys.readouterr().err
    assert "the instructor copy of 01_wrong fails" in err and "f must be the identity" in err
