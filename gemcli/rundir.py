"""The run directory: where each stage reads and writes, manifests, and atomic writes.

Layout (see README):

    RUN_DIR/
      data/      train.parquet valid.parquet test.parquet meta.json manifest.json   (gem preprocess)
      graphs/ID/ adjacency.npz graph.json manifest.json                          (gem build-graph)
      models/ID/ config.json model.pt metrics.jsonl summary.json curves.png eval.json manifest.json
      sweeps/NAME/ results.csv results.md NAME.png points/...                    (gem sweep)

Every stage writes into a hidden temporary folder beside its final one and renames it into place
at the end, so an interrupted or failed command leaves nothing half-made.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gemcli.errors import ChangedFile, GemError
from gemcli.runtime import RUNTIME

if TYPE_CHECKING:
    from gemcli.meta import DataMeta

RUN_DIR_ENV = "GEM_RUN_DIR"
MARKER = ".gemcli-run"  # in every run directory; its mtime says when a command last used it


def is_run_dir(path: Path) -> bool:
    return (Path(path) / MARKER).is_file() or (Path(path) / "data" / "meta.json").is_file()


def last_used(path: Path) -> float:
    for f in (Path(path) / MARKER, Path(path) / "data" / "meta.json"):
        with contextlib.suppress(OSError):
            return f.stat().st_mtime
    return 0.0


STATE_DIR_ENV = "GEM_STATE_DIR"


def _state_file() -> Path:
    base = os.environ.get(STATE_DIR_ENV)
    if base:
        return Path(base) / "run_dirs.json"
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "gemcli" / "run_dirs.json"


def _remembered() -> dict[str, str]:
    """Working directory -> the run directory last used from it (only ever consulted from that directory)."""
    try:
        data = json.loads(_state_file().read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(run_dir: Path) -> None:
    """Mark RUN_DIR as used now (its .gemcli-run marker), and as the one last used from this working
    directory, so later commands run from here find it without --run-dir (and commands run elsewhere don't)."""
    marker = Path(run_dir) / MARKER
    with contextlib.suppress(OSError):
        if marker.is_file():
            os.utime(marker)
        else:
            atomic_write_text(marker, "gemcli run directory: commands run from its parent find it without --run-dir\n")
    with contextlib.suppress(OSError):
        cwd, target = str(Path.cwd().resolve()), str(Path(run_dir).resolve())
        known = _remembered()
        if known.get(cwd) != target:
            known[cwd] = target
            f = _state_file()
            f.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(f, json.dumps(known, indent=1) + "\n")


def found_run_dirs(cwd: Path | None = None) -> list[Path]:
    """Run directories found from the working directory: itself, its sub-folders and those of ./runs, and
    the one last used from it (wherever it is); most recently used first."""
    cwd = Path(cwd or Path.cwd())
    if is_run_dir(cwd):
        return [cwd]
    cands = []
    for parent in (cwd, cwd / "runs"):
        with contextlib.suppress(OSError):
            cands += [d for d in parent.iterdir() if d.is_dir() and not d.name.startswith(".") and is_run_dir(d)]
    last = _remembered().get(str(cwd.resolve()))
    if last and is_run_dir(Path(last)) and all(Path(last).resolve() != c.resolve() for c in cands):
        cands.append(Path(last))
    return sorted(cands, key=last_used, reverse=True)


def _relative(path: Path) -> Path:
    with contextlib.suppress(ValueError):
        return path.resolve().relative_to(Path.cwd().resolve())
    return path


def resolve(run_dir: Path | None, default: Path | None = None, announce: bool = True) -> Path:
    """--run-dir, else $GEM_RUN_DIR, else `default` (preprocess), else the run directory found from the
    working directory (itself, ./NAME, ./runs/NAME or the one last used from here; the most recently used
    of several). Says which on stderr, and why when it was not named."""
    from gemcli.console import err

    why = ""
    if run_dir is not None:
        chosen = Path(run_dir)
    elif os.environ.get(RUN_DIR_ENV):
        chosen, why = Path(os.environ[RUN_DIR_ENV]), " (from $GEM_RUN_DIR)"
    elif default is not None:
        chosen = default
    else:
        found = found_run_dirs()
        if not found:
            raise GemError(
                f"no run directory in {Path.cwd()} (none here, under ./ or ./runs/, none used from here before): "
                "pass --run-dir (or set GEM_RUN_DIR), or start with `gem preprocess DATASET`"
            )
        chosen = _relative(found[0])
        if len(found) > 1:
            others = ", ".join(str(_relative(f)) for f in found[1:4]) + (", ..." if len(found) > 4 else "")
            why = f" (the most recently used of {len(found)}; also {others}; --run-dir to choose)"
    if is_run_dir(chosen):
        remember(chosen)
        recover_stages(chosen)
    if announce:
        err.print(f"run directory: {chosen}{why}", highlight=False, soft_wrap=True)
    return chosen


def recover_stages(run_dir: Path) -> list[str]:
    """Finish what a killed stage swap left (staged_dir renames final -> .final.old, then new -> final):
    a `.X.old` whose X is missing is put back whole (the old stage); one whose X exists is removed.
    Returns what was put back (also said on stderr)."""
    from gemcli.console import err

    restored = []
    for parent in (Path(run_dir), Path(run_dir) / "graphs", Path(run_dir) / "data", Path(run_dir) / "models"):
        clean_temporaries(parent)
    for parent in (Path(run_dir), Path(run_dir) / "graphs"):
        with contextlib.suppress(OSError):
            for old in parent.glob(".*.old"):
                final = parent / old.name[1 : -len(".old")]
                if not old.is_dir() or not final.name:
                    continue
                if final.exists():
                    shutil.rmtree(old, ignore_errors=True)
                else:
                    os.replace(old, final)
                    restored.append(str(final))
                    err.print(
                        f"recovered {final}: a command was stopped while replacing it; the previous one is back",
                        highlight=False,
                        soft_wrap=True,
                    )
    return restored


TEMPORARY = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp(\.[a-z]+)?$")  # .NAME.PID.RANDOM.tmp[.SUFFIX]


def pid_alive(pid: int) -> bool:
    """Whether process `pid` still runs: not gone, and (Linux) not a zombie waiting to be reaped (which never runs
    again). Reaps nothing: a parent's bookkeeping of its children stays its own."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    return True


def clean_temporaries(folder: Path) -> int:
    """Remove the temporaries (files and folders) a killed command left in FOLDER: those named for a
    process that is gone. Returns how many."""
    n = 0
    with contextlib.suppress(OSError):
        for p in Path(folder).iterdir():
            m = TEMPORARY.match(p.name)
            if m and not pid_alive(int(m.group(1))):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                n += 1
    return n


@contextlib.contextmanager
def locked(path: Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on the file PATH while the block runs; a second command wanting the same lock
    stops at once with one line, or with `wait` waits for it (the lock goes with the process, however it ends)."""
    import fcntl

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666 & ~_umask())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise GemError(f"{what} is in use by another command (pid {pid}); wait for it to end") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def run_lock(folder: Path) -> Path:
    """The lock file of a run folder (or sweep point): .NAME.lock beside it, held while a command works on it."""
    return Path(folder).parent / f".{Path(folder).name}.lock"


def is_locked(path: Path) -> bool:
    """Whether a command holds the lock file PATH now (it is taken and given back at once otherwise)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing gives back a lock taken here
    return False


def listing(root: Path, marker: str) -> list[Path]:
    """The folders under ROOT that hold MARKER (runs: config.json, graphs: graph.json), oldest first by the
    marker's time; hidden folders (stages being written, .old) are left out. Runs and graphs alike."""
    if not Path(root).is_dir():
        return []
    found = [d for d in Path(root).iterdir() if not d.name.startswith(".") and (d / marker).is_file()]
    return sorted(found, key=lambda d: (d / marker).stat().st_mtime)


def data_dir(run_dir: Path) -> Path:
    d = Path(run_dir) / "data"
    if not (d / "meta.json").is_file():
        raise GemError(
            f"{run_dir}: no preprocessed data (no data/meta.json); run "
            f"`gem preprocess DATASET --run-dir {shlex.quote(str(run_dir))}` first"
        )
    return d


# ---------------------------------------------------------------- atomic writes


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call write(temporary name beside `path`), then rename it to `path`; no partial file on failure."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp" + path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    atomic_write(path, write)


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; on success it replaces `final` in one rename.

    On any exception (Ctrl-C included) the temporary folder is removed and `final` is untouched.
    Parent folders created for it are removed again if they end up empty.
    """
    final = Path(final)
    created: list[Path] = []
    p = final.parent
    while not p.exists():
        created.append(p)
        p = p.parent
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}.", suffix=".tmp", dir=final.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if final.exists():
            old = final.with_name("." + final.name + ".old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for c in created:  # innermost first
            with contextlib.suppress(OSError):
                c.rmdir()
        raise


# ---------------------------------------------------------------- manifests


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def library_versions() -> dict[str, str]:
    import numpy
    import polars
    import scipy

    import gemcli

    out = {
        "python": platform.python_version(),
        "gemcli": gemcli.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "polars": polars.__version__,
    }
    if "torch" in sys.modules:
        out["torch"] = sys.modules["torch"].__version__
    return out


def write_manifest(
    folder: Path,
    *,
    stage: str,
    options: dict[str, Any],
    inputs: dict[str, Path | str],
    seed: int | None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """manifest.json: command line, options, sha256 of inputs and outputs, versions, seed, time."""
    folder = Path(folder)

    def digest(v: Path | str) -> str:
        return v if isinstance(v, str) else sha256_file(v)

    files = [
        f
        for f in sorted(folder.iterdir())
        if f.is_file()
        and not f.name.startswith(".")
        and f.name != "manifest.json"
        and f.suffix in {".parquet", ".json", ".jsonl", ".npz", ".npy", ".pt"}
    ]
    outputs = {f.name: sha256_file(f) for f in files}
    manifest = {
        "stage": stage,
        "command": command_line(),
        "options": options,
        "inputs": {k: digest(v) for k, v in inputs.items()},
        "outputs": outputs,
        "output_sizes": {f.name: f.stat().st_size for f in files},
        "seed": seed,
        "versions": library_versions(),
        "host": platform.node(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    atomic_write_json(folder / "manifest.json", manifest)
    return manifest


def redact(text: str) -> str:
    """`text` with the passwords of URLs in it hidden (postgresql://user:SECRET@host/db -> user:***@): what is
    printed or stored never holds a credential."""
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def command_line() -> str:
    """The command being run, as typed (`gem ...`), credentials redacted: what manifests and result pages name."""
    return redact(" ".join(["gem", *sys.argv[1:]])) if sys.argv else "gem"


def record_output(path: Path, stage: str) -> None:
    """Add (or update) one file written by `stage` in its folder's manifest.json (created if missing): for the files a
    command rewrites as it goes (a sweep's or a search's results), so that what later commands read is checked
    (`verify`) like a stage's outputs. The caller holds the folder's lock."""
    path = Path(path)
    mpath = path.parent / "manifest.json"
    try:
        manifest = json.loads(mpath.read_text()) if mpath.is_file() else {}
    except ValueError:
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    manifest.setdefault("stage", stage)
    manifest["command"] = command_line()
    manifest.setdefault("outputs", {})[path.name] = sha256_file(path)
    manifest.setdefault("output_sizes", {})[path.name] = path.stat().st_size
    manifest["time"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    atomic_write_json(mpath, manifest)


HASH_BELOW = 512 << 20  # files smaller than this are hashed on every read; larger ones with --verify
_checked: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256 already checked by this process


def verify(path: Path) -> Path:
    """Check a file against the manifest.json of the stage that wrote it (in the same folder): its size
    always, its sha256 when it is under 512 MiB or --verify (GEM_VERIFY=1) asks. A file that differs stops
    the command with one line naming it; files no manifest lists pass (a stage still being written has no
    manifest yet). Returns the path."""
    path = Path(path)
    mpath = path.parent / "manifest.json"
    if not mpath.is_file():
        return path
    try:
        manifest = json.loads(mpath.read_text())
        want = manifest.get("outputs", {}).get(path.name)
        want_size = manifest.get("output_sizes", {}).get(path.name)
    except (OSError, ValueError, AttributeError):
        raise GemError(f"{mpath}: not a readable manifest; re-run the stage that wrote {path.parent}") from None
    if want is None:
        return path
    try:
        st = path.stat()
    except FileNotFoundError:
        raise GemError(
            f"{path}: missing, though {mpath} lists it; re-run `{manifest.get('command', 'its stage')}`"
        ) from None
    made_by = f"`{manifest.get('command', 'gem')}`"
    if want_size is not None and st.st_size != want_size:
        raise ChangedFile(
            f"{path} has changed since {made_by} wrote it ({st.st_size:,} bytes, recorded {want_size:,}); "
            "restore it or run that command again"
        )
    if st.st_size < HASH_BELOW or RUNTIME.verify_all:
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        got = _checked.get(key) or sha256_file(path)
        if got != want:
            raise ChangedFile(
                f"{path} has changed since {made_by} wrote it (sha256 {got[:12]}..., recorded "
                f"{want[:12]}...); restore it or run that command again"
            )
        _checked[key] = got
    return path


def read_meta(run_dir: Path) -> DataMeta:
    """RUN_DIR/data/meta.json, checked against the data's manifest, as a typed DataMeta (gemcli/meta.py)."""
    from gemcli.meta import DataMeta

    path = verify(data_dir(run_dir) / "meta.json")
    return DataMeta.from_dict(read_json(path), path)


def read_verified_json(path: Path) -> Any:
    """A JSON file that a stage wrote, checked against that stage's manifest first (`verify`): what a command reads to
    print or decide something."""
    return read_json(verify(path))


def input_file(path: Path, what: str = "file") -> Path:
    """An input the user named, checked to be a regular file: one line for a missing one, a folder, or a device or
    pipe (which would read for ever, or once)."""
    path = Path(path)
    if not path.exists():
        raise GemError(f"{path}: no such file")
    if path.is_dir():
        raise GemError(f"{path}: a folder, not a {what}")
    if not path.is_file():
        raise GemError(f"{path}: not a regular file (a device or a pipe); give a {what}")
    return path


READ_LIMIT = 256 << 20  # a JSON or TOML file read whole: at most this many bytes (a device or a huge file is refused)


def read_bounded_text(path: Path, limit: int = READ_LIMIT, what: str = "file") -> str:
    """A text file read whole, but never more than `limit` bytes: a longer one (or an endless device such as
    /dev/zero) is one line naming it, not an out-of-memory kill."""
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise GemError(f"{path}: larger than {limit:,} bytes; not a {what} gemcli wrote or reads")
    return data.decode("utf-8", errors="strict")


def read_json(path: Path) -> Any:
    try:
        return json.loads(read_bounded_text(Path(path), what="JSON file"))
    except FileNotFoundError:
        raise GemError(f"{path}: not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GemError(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise GemError(f"{path}: nested too deeply to be a file gemcli wrote") from None
