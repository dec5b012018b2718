"""Fetch an official archive once into datasets/, verified against its published sha256."""

from __future__ import annotations

import contextlib
import os
import tempfile
import urllib.request
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from gemcli.console import err
from gemcli.errors import GemError
from gemcli.rundir import sha256_file

DATASETS_ENV = "GEM_DATASETS"


def datasets_root() -> Path:
    return Path(os.environ.get(DATASETS_ENV, "datasets"))


def download(urls: list[str], dest: Path, sha256: str | None) -> Path:
    """Download the first URL that works to `dest` (temporary name, then rename). Folders made for it
    are removed again when every URL fails."""
    made = [p for p in [dest.parent, *dest.parent.parents] if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in urls:
        fd, tmp = tempfile.mkstemp(prefix="." + dest.name + ".", suffix=".part", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                with Progress(
                    TextColumn("{task.description}", style="progress.description", markup=False),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    console=err,
                    transient=True,
                ) as bar:
                    task = bar.add_task(f"downloading {dest.name}", total=total)
                    while chunk := resp.read(1 << 20):
                        out.write(chunk)
                        bar.advance(task, len(chunk))
            got = sha256_file(Path(tmp))
            if sha256 and got != sha256:
                raise GemError(f"{url}: sha256 {got} does not match the published {sha256}")
            os.replace(tmp, dest)
            return dest
        except (OSError, GemError) as e:  # urllib errors are OSErrors
            errors.append(f"{url}: {e}")
            if os.path.exists(tmp):
                os.unlink(tmp)
    for p in made:  # innermost first; only if still empty
        with contextlib.suppress(OSError):
            p.rmdir()
    raise GemError(f"could not download {dest.name} ({'; '.join(errors)}); pass a local copy with --source")
