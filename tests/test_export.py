"""Outputs that respect what is at the path: symlinks, FIFOs, devices, read-only files,
the model's own source, /dev/stdout, new directories; and where bench results go when a
write fails."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cnnstat import export
from cnnstat.errors import ExportError
from tests.cli.helpers import run
from tests.expected import LENET5_PARAMS

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures" / "custom_models.py"


def cli(*args: str, shell: str | None = None, env: dict[str, str] | None = None, cwd=None):
    """cnnstat in a fresh process (for what a shell does to stdout), from this checkout."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    command = [sys.executable, "-m", "cnnstat", *args]
    if shell is not None:
        quoted = " ".join(f"'{a}'" for a in command)
        return subprocess.run(
            ["bash", "-c", f"{quoted} {shell}"],
            capture_output=True,
            text=True,
            env=environ,
            cwd=cwd,
        )
    return subprocess.run(command, capture_output=True, text=True, env=environ, cwd=cwd)


def assert_one_line_error(code: int, err: str) -> None:
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err


# --- what is at the path decides how it is written -----------------------------------


def test_symlink_writes_its_target_and_stays_a_link(capsys, tmp_path):
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    code, _, _ = run(capsys, "summary", "lenet5", "-o", str(link))
    assert code == 0
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert json.loads(target.read_text())["totals"]["params"] == LENET5_PARAMS
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.json", "real.json"]


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.md"
    link.symlink_to(tmp_path / "sub" / "made.md")
    export.write_atomic(link, "# hi\n")
    assert link.is_symlink()
    assert (tmp_path / "sub" / "made.md").read_text() == "# hi\n"


def test_fifo_is_written_through(capsys, tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    code, _, err = run(capsys, "summary", "lenet5", "-o", str(fifo))
    reader.join(timeout=60)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still a FIFO, not a file put in its place
    regular = tmp_path / "regular.csv"
    assert run(capsys, "summary", "lenet5", "-o", str(regular))[0] == 0
    assert received[0] == regular.read_bytes()  # the whole report came through the pipe
    assert received[0].startswith(b"index,name,type")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe.csv", "regular.csv"]


def test_character_device_is_written_through():
    export.write_atomic(Path("/dev/null"), "nothing\n")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_read_only_file_is_refused_even_as_root(capsys, tmp_path):
    target = tmp_path / "keep.json"
    target.write_text("precious")
    target.chmod(0o444)
    code, _, err = run(capsys, "summary", "lenet5", "-o", str(target))
    assert_one_line_error(code, err)
    assert code == 2
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.json"]


def test_read_only_directory_is_refused_before_any_work(capsys, tmp_path, monkeypatch):
    import cnnstat.analysis

    def no_work(*args, **kwargs):
        raise AssertionError("the analysis ran although the output cannot be written")

    monkeypatch.setattr(cnnstat.analysis, "analyze", no_work)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code, _, err = run(capsys, "summary", "lenet5", "-o", str(locked / "r.json"))
    assert_one_line_error(code, err)
    assert code == 2 and list(locked.iterdir()) == []


def test_the_models_own_source_file_is_refused(capsys, tmp_path):
    source = tmp_path / "net.py"
    source.write_text(FIXTURES.read_text())
    before = source.read_text()
    for command in (["summary"], ["memory"]):
        code, _, err = run(
            capsys, *command, f"{source}:TinyNet", "-i", "1x32x32", "-f", "json", "-o", str(source)
        )
        assert_one_line_error(code, err)
        assert code == 2
    link = tmp_path / "alias.py"
    link.symlink_to(source)
    code, _, err = run(
        capsys, "compare", "--models", f"lenet5,{source}:TinyNet", "-f", "json", "-o", str(link)
    )
    assert code == 2
    assert source.read_text() == before


def test_missing_output_directories_are_created(capsys, tmp_path):
    target = tmp_path / "new" / "deep" / "lenet5.md"
    code, _, _ = run(capsys, "summary", "lenet5", "-o", str(target))
    assert code == 0
    assert target.read_text().startswith("# lenet5")


def test_a_file_in_the_way_of_a_directory_is_an_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ExportError):
        export.check_writable(tmp_path / "file" / "r.json")


def test_proc_is_refused_up_front(capsys):
    code, _, err = run(capsys, "summary", "lenet5", "-o", "/proc/x.json")
    assert_one_line_error(code, err)
    assert code == 2


def test_dash_is_stdout(capsys):
    code, out, _ = run(capsys, "summary", "lenet5", "-o", "-", "-f", "json")
    assert code == 0
    assert json.loads(out)["totals"]["params"] == LENET5_PARAMS
    assert not Path("-").exists()


def test_dev_stdout_is_the_descriptor_not_a_file(tmp_path):
    piped = cli("summary", "lenet5", "-f", "json", "-o", "/dev/stdout")
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["totals"]["params"] == LENET5_PARAMS
    log = tmp_path / "log.txt"
    log.write_text("first line\n")
    appended = cli("summary", "lenet5", "-o", "/dev/stdout", "-f", "csv", shell=f">> '{log}'")
    assert appended.returncode == 0, appended.stderr
    csv = cli("summary", "lenet5", "-f", "csv").stdout
    assert csv.startswith("index,name,type")
    # appended at the descriptor's offset, not truncated, not replaced
    assert log.read_text() == "first line\n" + csv


def test_report_lectures_refuses_a_read_only_directory_before_the_analysis(
    capsys, tmp_path, monkeypatch
):
    import cnnstat.lectures

    def no_work(*args, **kwargs):
        raise AssertionError("the reports were computed although they cannot be written")

    monkeypatch.setattr(cnnstat.lectures, "lecture_reports", no_work)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code, _, err = run(capsys, "report", "lectures", "--output-dir", str(locked))
    assert_one_line_error(code, err)
    assert code == 2


def test_report_lectures_creates_its_directory(capsys, tmp_path, monkeypatch):
    import cnnstat.lectures

    monkeypatch.setattr(
        cnnstat.lectures, "lecture_reports", lambda on_step=None: {"zoo.md": "# zoo\n"}
    )
    target = tmp_path / "new" / "dir"
    code, _, err = run(capsys, "report", "lectures", "--output-dir", str(target))
    assert code == 0, err
    assert (target / "zoo.md").read_text() == "# zoo\n"


# --- bench: the table first, then the file; a failed write says where they went -------


def test_bench_on_a_full_disk_saves_the_results_elsewhere(tmp_path):
    done = cli(
        "bench", "lenet5", "--mode", "forward", "--warmup", "1", "--iters", "2",
        "--min-time", "0.01", "-f", "json", "-o", "/dev/full", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "lenet5" in done.stdout  # the table was shown before the write was tried
    rescued = list(tmp_path.glob("cnnstat-bench-*.json"))
    assert len(rescued) == 1
    assert str(rescued[0].name) in done.stderr  # the error names where the results are
    results = json.loads(rescued[0].read_text())["results"]
    assert [(r["model"], r["status"]) for r in results] == [("lenet5", "ok")]


def test_fallback_goes_to_the_temporary_directory_when_cwd_is_read_only(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    spare = tmp_path / "spare"
    spare.mkdir()
    monkeypatch.chdir(locked)
    monkeypatch.setattr(export.tempfile, "gettempdir", lambda: str(spare))
    with pytest.raises(ExportError) as exc:
        export.write_with_fallback(Path("/dev/full"), b"{}\n", "bench", export.Format.json)
    saved = list(spare.glob("cnnstat-bench-*.json"))
    if os.geteuid() != 0:  # root can still create files in a 0555 directory
        assert len(saved) == 1 and str(saved[0]) in str(exc.value)
        assert saved[0].read_bytes() == b"{}\n"


# --- the terminal's streams: specific messages, exit 2, never a traceback --------------


@pytest.mark.parametrize(
    "args, shell, env",
    [
        pytest.param(["summary", "lenet5"], ">&-", None, id="closed-stdout"),
        pytest.param(["models"], "> /dev/full", None, id="models-full-disk"),
        pytest.param(["summary", "lenet5", "-f", "json"], "> /dev/full", None, id="json-full"),
        pytest.param(["summary", "lenet5"], "", {"PYTHONIOENCODING": "ascii"}, id="ascii"),
    ],
)
def test_stdout_failures_are_one_line_errors_with_status_2(args, shell, env):
    done = cli(*args, shell=shell, env=env)
    assert done.returncode == 2, done.stderr
    assert_one_line_error(done.returncode, done.stderr)


def test_closed_stdout_does_not_stop_a_report_written_to_a_file(tmp_path):
    target = tmp_path / "r.json"
    done = cli("summary", "lenet5", "-o", str(target), shell=">&-")
    assert done.returncode == 0, done.stderr
    assert json.loads(target.read_text())["totals"]["params"] == LENET5_PARAMS


def test_internal_errors_have_their_own_status(capsys, monkeypatch):
    from cnnstat import calculator

    def bug(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(calculator, "layer_costs", bug)
    code, _, err = run(capsys, "conv", "--input", "8x8x3", "--filters", "4", "--kernel", "3")
    assert code not in (0, 1, 2)  # not success, not a verdict, not the user's mistake
    assert_one_line_error(code, err)
