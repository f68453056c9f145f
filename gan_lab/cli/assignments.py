"""``gan-lab assignments build|grade``: the course's assignments, released and graded by nbgrader.

The assignments are written in ``assignments/*.py`` (a small cell format described in
``assignments/README.md``): one file per assignment, with nbgrader's solution regions
(``### BEGIN SOLUTION`` ... ``### END SOLUTION``) and hidden tests. This module turns each file
into an nbgrader *source* notebook (cell metadata of nbgrader's schema 3), then hands the work to
nbgrader's own converters in a temporary course directory:

* ``build`` runs :class:`nbgrader.converters.GenerateAssignment` (solutions replaced by stubs,
  hidden tests removed, checksums of the locked cells) and writes ``OUT/release/`` (for students)
  and ``OUT/instructor/`` (the source notebooks, with solutions and hidden tests).
* ``grade`` copies the submitted notebooks into the course's ``submitted/`` folder and runs
  :class:`nbgrader.converters.Autograde` (locked and test cells restored from the source, hidden
  tests put back, every notebook executed), then reads the scores from nbgrader's gradebook into
  a CSV with one row per student and assignment.

nbgrader and the library are imported when a command runs, so ``gan-lab --help`` stays fast.
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import shutil
import tempfile
import warnings
from pathlib import Path

from gan_lab.cli.common import positive_int
from gan_lab.utils import GanLabError

#: where the assignment sources live in a checkout of the repository
SOURCE_DIR = Path(__file__).resolve().parents[2] / "assignments"

_HEADER = re.compile(r"^# %%(?:\s+(markdown|code|solution|tests))?((?:\s+\w+=\S+)*)\s*$")
_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CSV_FIELDS = ["student", "assignment", "score", "max_score", "status", "failed_tests"]


def register_cli(subparsers) -> argparse.ArgumentParser:
    """Add ``assignments`` with sub-commands build and grade."""
    parser = subparsers.add_parser("assignments", help="course assignments: build the release, grade submissions "
                                                       "(nbgrader)")
    sub = parser.add_subparsers(dest="assignments_cmd", required=True)
    b = sub.add_parser("build", help="write the student release (stubs) and the instructor copy (solutions)")
    b.add_argument("--out", required=True, help="folder for release/ and instructor/")
    b.add_argument("--source", default=None, help=f"folder of assignment sources (default: {SOURCE_DIR})")
    b.add_argument("--only", action="append", default=[], metavar="NAME", help="build only this assignment "
                                                                                 "(repeatable)")
    b.add_argument("--check", action="store_true", help="then run every instructor copy in a fresh kernel (all "
                                                        "cells must pass) and print how long each took")
    b.set_defaults(func=cmd_build)
    g = sub.add_parser("grade", help="autograde a folder of submissions into a CSV")
    g.add_argument("submissions", help="SUBMISSIONS/STUDENT/ASSIGNMENT/*.ipynb or SUBMISSIONS/STUDENT/ASSIGNMENT.ipynb")
    g.add_argument("--out", default="grades.csv", help="the CSV to write (one row per student and assignment)")
    g.add_argument("--source", default=None, help="the assignment sources, or the --out folder of a build "
                                                  f"(default: {SOURCE_DIR})")
    g.add_argument("--timeout", type=positive_int, default=300, help="seconds a notebook cell may run (default 300)")
    g.set_defaults(func=cmd_grade)
    return parser


# -- the source format ----------------------------------------------------------------------------

def _strip_comment(line: str) -> str:
    if line.startswith("# "):
        return line[2:]
    return "" if line.strip() == "#" else line


def parse_source(path: Path):
    """An assignment file -> an nbgrader source notebook (nbformat 4.5, nbgrader metadata schema 3).

    A file is a sequence of cells, each opened by a header line:

    * ``# %% markdown``: text, each line commented (``# ``);
    * ``# %%`` or ``# %% code``: code the student reads and runs (locked: restored before grading);
    * ``# %% solution id=NAME``: code with a ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region;
    * ``# %% tests id=NAME points=N``: an autograded test cell, optionally with a
      ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` region.
    """
    import nbformat

    text = path.read_text(encoding="utf-8")
    cells, current = [], None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _HEADER.match(line)
        if match:
            kind = match.group(1) or "code"
            attrs = dict(a.split("=", 1) for a in match.group(2).split())
            current = {"kind": kind, "attrs": attrs, "lines": [], "line": number}
            cells.append(current)
        elif current is None:
            if line.strip():
                raise GanLabError(f"{path}:{number}: text before the first cell header; start the file with "
                                  f"'# %% markdown' (see assignments/README.md)")
        else:
            current["lines"].append(line)
    if not cells:
        raise GanLabError(f"{path}: no cells; an assignment is a series of '# %% ...' cells "
                          f"(see assignments/README.md)")

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = dict(_KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    seen = set()
    for index, cell in enumerate(cells):
        lines = cell["lines"]
        while lines and not lines[-1].strip():
            lines.pop()
        kind, attrs, where = cell["kind"], cell["attrs"], f"{path}:{cell['line']}"
        grade_id = attrs.get("id", f"{kind}-{index}")
        if grade_id in seen:
            raise GanLabError(f"{where}: the cell id {grade_id!r} is used twice; give each cell its own id=")
        seen.add(grade_id)
        source = "\n".join(lines)
        meta = {"grade": False, "solution": False, "locked": True, "grade_id": grade_id, "schema_version": 3,
                "task": False}
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell("\n".join(_strip_comment(x) for x in lines),
                                                          id=grade_id))
            continue
        if kind == "solution":
            if "### BEGIN SOLUTION" not in source or "### END SOLUTION" not in source:
                raise GanLabError(f"{where}: a solution cell needs a '### BEGIN SOLUTION' ... "
                                  f"'### END SOLUTION' region")
            meta.update(solution=True, locked=False)
        elif kind == "tests":
            try:
                points = float(attrs["points"])
            except (KeyError, ValueError):
                raise GanLabError(f"{where}: a tests cell needs points=N (a number)") from None
            meta.update(grade=True, points=points)
        nb.cells.append(nbformat.v4.new_code_cell(source, id=grade_id, metadata={"nbgrader": meta}))
    if not any(c.metadata.get("nbgrader", {}).get("grade") for c in nb.cells):
        raise GanLabError(f"{path}: no '# %% tests' cell, so nothing would be graded")
    return nb


def find_sources(source: str | None) -> dict[str, object]:
    """assignment id -> source notebook, from assignment files or from a build's instructor/ folder."""
    import nbformat

    folder = Path(source) if source else SOURCE_DIR
    if not folder.is_dir():
        raise GanLabError(f"the assignment sources {folder} are not a folder; give --source with the repository's "
                          f"assignments/ folder or the --out folder of 'gan-lab assignments build'")
    if (folder / "instructor").is_dir():
        folder = folder / "instructor"
    notebooks = {}
    if folder.name == "instructor":
        for path in sorted(folder.glob("*/*.ipynb")):
            notebooks[path.parent.name] = _read_notebook(path, nbformat)
    else:
        for path in sorted(folder.glob("*.py")):
            notebooks[path.stem] = parse_source(path)
    if not notebooks:
        raise GanLabError(f"no assignments in {folder}: expected NAME.py sources (or instructor/NAME/NAME.ipynb "
                          f"from a build)")
    return notebooks


def _read_notebook(path: Path, nbformat):
    try:
        nb = nbformat.read(str(path), as_version=4)
        nbformat.validate(nb)
        return nb
    except Exception as exc:       # JSON errors, schema errors, binary junk: all mean 'not a notebook'
        raise GanLabError(f"{path} is not a Jupyter notebook ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); "
                          f"replace it with the .ipynb file saved from Jupyter, or remove it") from None


# -- nbgrader, in a temporary course directory ------------------------------------------------------

def _nbgrader_config(root: Path, timeout: int = 300):
    from traitlets.config import Config

    c = Config()
    c.CourseDirectory.root = str(root)
    c.CourseDirectory.course_id = "gan_lab"
    c.Execute.timeout = timeout
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    return c


def _quiet_nbgrader():
    import logging

    for name in ("traitlets", "nbgrader", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _generate(root: Path, notebooks: dict, config) -> None:
    """Write the source notebooks under ROOT/source and run nbgrader's GenerateAssignment on each."""
    import nbformat
    from nbgrader.converters import GenerateAssignment
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory

    _quiet_nbgrader()
    for aid, nb in notebooks.items():
        target = root / "source" / aid / f"{aid}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(target))
    for aid in notebooks:
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id = aid
        try:
            GenerateAssignment(coursedir=coursedir, config=config).start()
        except NbGraderException as exc:
            raise GanLabError(f"nbgrader could not generate assignment {aid}: {exc}; check its cells "
                              f"(solution regions, ids)") from None


def build(out: Path, source: str | None = None, only: list[str] | None = None) -> dict[str, Path]:
    """Write OUT/release/NAME/NAME.ipynb (stubs) and OUT/instructor/NAME/NAME.ipynb (solutions) per assignment."""
    notebooks = find_sources(source)
    if only:
        unknown = sorted(set(only) - set(notebooks))
        if unknown:
            raise GanLabError(f"--only {', '.join(unknown)}: no such assignment; known: {', '.join(notebooks)}")
        notebooks = {k: v for k, v in notebooks.items() if k in only}
    for name in ("release", "instructor"):
        if (out / name).exists() and any((out / name).iterdir()):
            raise GanLabError(f"{out / name} exists and is not empty; choose another --out or remove it (a build "
                              f"never overwrites a release students may have)")
    with tempfile.TemporaryDirectory(prefix="gan-lab-course-") as tmp:
        root = Path(tmp)
        _generate(root, notebooks, _nbgrader_config(root))
        written = {}
        for aid in notebooks:
            for name, folder in (("release", root / "release" / aid), ("instructor", root / "source" / aid)):
                target = out / name / aid
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copytree(folder, target, dirs_exist_ok=True)
            written[aid] = out / "release" / aid / f"{aid}.ipynb"
    return written


def _submissions(folder: Path, known: dict) -> dict[tuple[str, str], Path]:
    """(student, assignment) -> the submitted notebook; every file checked to be a notebook."""
    import nbformat

    if not folder.is_dir():
        raise GanLabError(f"the submissions folder {folder} does not exist; give a folder with one sub-folder per "
                          f"student (STUDENT/ASSIGNMENT/*.ipynb or STUDENT/ASSIGNMENT.ipynb)")
    found = {}
    students = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not students:
        raise GanLabError(f"{folder} has no student folders; put each student's notebooks in {folder}/STUDENT/")
    for student in students:
        candidates = [p for p in student.glob("*.ipynb")] + [p for p in student.glob("*/*.ipynb")
                                                              if not p.parent.name.startswith(".")]
        for path in sorted(candidates):
            aid = path.stem if path.parent == student else path.parent.name
            if aid not in known:
                raise GanLabError(f"{path}: no assignment called {aid!r}; name the notebook (or its folder) after "
                                  f"one of: {', '.join(known)}")
            if (student.name, aid) in found:
                raise GanLabError(f"{student} holds two notebooks for {aid} ({found[student.name, aid].name}, "
                                  f"{path.name}); keep one")
            _read_notebook(path, nbformat)
            found[student.name, aid] = path
    return found


def grade(submissions: Path, out: Path, source: str | None = None, timeout: int = 300) -> list[dict]:
    """Autograde every submitted notebook; write OUT (CSV) and return its rows."""
    from nbgrader.api import Gradebook
    from nbgrader.converters import Autograde
    from nbgrader.converters.base import NbGraderException
    from nbgrader.coursedir import CourseDirectory
    from sqlalchemy.exc import SAWarning

    from gan_lab.utils import atomic_write

    notebooks = find_sources(source)
    found = _submissions(submissions, notebooks)
    if not found:
        raise GanLabError(f"no notebooks in {submissions}; expected STUDENT/ASSIGNMENT/*.ipynb or "
                          f"STUDENT/ASSIGNMENT.ipynb with ASSIGNMENT one of: {', '.join(notebooks)}")
    if out.suffix.lower() != ".csv":
        raise GanLabError(f"--out {out}: give a .csv file name")
    students = sorted({s for s, _ in found} | {p.name for p in submissions.iterdir()
                                               if p.is_dir() and not p.name.startswith(".")})
    with tempfile.TemporaryDirectory(prefix="gan-lab-course-") as tmp:
        root = Path(tmp)
        config = _nbgrader_config(root, timeout)
        _generate(root, notebooks, config)
        for (student, aid), path in found.items():
            target = root / "submitted" / student / aid / f"{aid}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        for (student, aid) in sorted(found):
            coursedir = CourseDirectory(config=config)
            coursedir.assignment_id, coursedir.student_id = aid, student
            try:
                with warnings.catch_warnings():     # nbgrader 0.9's gradebook trips SQLAlchemy's autoflush warning
                    warnings.simplefilter("ignore", SAWarning)
                    Autograde(coursedir=coursedir, config=config).start()
            except NbGraderException as exc:
                raise GanLabError(f"nbgrader could not grade {student}/{aid}: {exc}") from None
        rows = []
        with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "gan_lab") as gb:
            for student in students:
                for aid in notebooks:
                    assignment = gb.find_assignment(aid)
                    if (student, aid) not in found:
                        rows.append(dict(student=student, assignment=aid, score=0.0,
                                         max_score=assignment.max_score, status="missing", failed_tests=""))
                        continue
                    submission = gb.find_submission(aid, student)
                    failed = [g.name for nb in submission.notebooks for g in nb.grades
                              if (g.score or 0) < g.max_score]
                    rows.append(dict(student=student, assignment=aid, score=submission.score,
                                     max_score=submission.max_score, status="graded", failed_tests=" ".join(failed)))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write(out, lambda fh: fh.write(buffer.getvalue().encode()))
    return rows


def check_instructor_copies(out: Path, names, timeout: int = 600) -> dict[str, float]:
    """Execute each instructor notebook in a fresh kernel (as the grader would); seconds per assignment."""
    import time

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    seconds = {}
    for aid in names:
        path = out / "instructor" / aid / f"{aid}.ipynb"
        nb = nbformat.read(str(path), as_version=4)
        start = time.perf_counter()
        try:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": str(path.parent)}}).execute()
        except CellExecutionError as exc:
            raise GanLabError(f"the instructor copy of {aid} fails: {str(exc).strip().splitlines()[-1][:200]}; fix "
                              f"assignments/{aid}.py") from None
        seconds[aid] = time.perf_counter() - start
    return seconds


def cmd_build(args) -> int:
    out = Path(args.out)
    written = build(out, args.source, args.only)
    print(f"{len(written)} assignments: {', '.join(written)}")
    print(f"student release -> {out / 'release'}; instructor copy -> {out / 'instructor'}")
    if args.check:
        seconds = check_instructor_copies(out, written)
        print("instructor copies run in a fresh kernel (seconds, kernel start included):")
        for aid, s in seconds.items():
            print(f"  {aid:<28} {s:6.1f}")
    return 0


def cmd_grade(args) -> int:
    rows = grade(Path(args.submissions), Path(args.out), args.source, args.timeout)
    students = sorted({r["student"] for r in rows})
    print(f"graded {sum(r['status'] == 'graded' for r in rows)} notebooks of {len(students)} students -> {args.out}")
    for r in rows:
        print(f"  {r['student']:>12}  {r['assignment']:<28} {r['score']:g}/{r['max_score']:g}  {r['status']}")
    return 0
