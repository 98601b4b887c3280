"""Build the executed notebooks of the docs: docs/notebooks/NAME.py (percent format) -> NAME.ipynb.

    python scripts/make_notebooks.py            # every notebook (or name some: fashion_autoencoder)

Each source is a plain Python file whose ``# %%`` lines start code cells and ``# %% [markdown]`` lines
start markdown cells (comment lines, ``# `` removed), as Jupyter's jupytext, VS Code and PyCharm read
it. The notebook is run top to bottom in a fresh IPython kernel (nbclient) that runs this checkout's
``src`` with this Python, whatever kernels the machine has installed, in a temporary working folder;
the result is written with its outputs. tests/test_notebook_docs.py checks that the committed
notebooks' cells are what this script builds from the sources, and runs them.

The kernel helpers (``kernel_manager``, ``execute``) are also what the kernel tests use.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "docs" / "notebooks"
KERNEL = "convolab-checkout"
TIMEOUT = 600  # seconds per cell
# what a reader's kernel is called: the committed notebooks open with the usual Python 3 kernel
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def read_cells(path: Path) -> list[tuple[str, str]]:
    """``(kind, source)`` per cell of a percent-format file, kind ``"code"`` or ``"markdown"``."""
    cells: list[tuple[str, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# %%"):
            cells.append(("markdown" if "[markdown]" in line else "code", []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise ValueError(f"{path}: text before the first '# %%' cell: {line!r}")
    out = []
    for kind, lines in cells:
        if kind == "markdown":
            lines = [ln[2:] if ln.startswith("# ") else ln.lstrip("#") for ln in lines]
        text = "\n".join(lines).strip("\n")
        if text.strip():
            out.append((kind, text))
    return out


def build(path: Path) -> nbformat.NotebookNode:
    """The notebook of a source, not yet run."""
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    nb = nbformat.v4.new_notebook()
    nb.cells = [make[kind](text) for kind, text in read_cells(path)]
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return nb


@contextlib.contextmanager
def kernel_manager(env: dict[str, str] | None = None) -> Iterator[KernelManager]:
    """A kernel manager whose kernel is ``sys.executable -m ipykernel_launcher`` with this checkout's
    ``src`` first on ``PYTHONPATH`` (a kernel spec in a temporary folder: the machine's are not used)."""
    with tempfile.TemporaryDirectory() as folder:
        spec_dir = Path(folder) / KERNEL
        spec_dir.mkdir()
        path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH", "")) if p)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "convolab (this checkout)",
            "language": "python",
            "env": {"PYTHONPATH": path, **(env or {})},
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
        local = os.name == "posix"  # local sockets (ipc), no network port
        yield KernelManager(
            kernel_name=KERNEL,
            kernel_spec_manager=KernelSpecManager(kernel_dirs=[folder]),
            transport="ipc" if local else "tcp",
            ip=str(Path(folder) / "kernel") if local else "127.0.0.1",
        )


class RecordingClient(NotebookClient):
    """``NotebookClient`` that also keeps every message of the kernel, in order: ``(cell index, msg_type,
    content)`` (an output updated in place keeps only its last state in the notebook)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.messages: list[tuple[int, str, dict[str, Any]]] = []

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        self.messages.append((cell_index, msg["msg_type"], msg["content"]))
        return super().process_message(msg, cell, cell_index)


def execute(
    nb: nbformat.NotebookNode, cwd: Path, *, env: dict[str, str] | None = None, allow_errors: bool = False
) -> RecordingClient:
    """Run every cell of ``nb`` (in place) in a fresh kernel of this checkout, in ``cwd``."""
    with kernel_manager(env) as km:
        client = RecordingClient(
            nb,
            km=km,
            timeout=TIMEOUT,
            allow_errors=allow_errors,
            record_timing=False,
            resources={"metadata": {"path": str(cwd)}},
        )
        try:
            client.execute()
        finally:  # nbclient leaves a kernel manager it was given running: stop it, close its sockets
            if client.kc is not None:
                client.kc.stop_channels()
            km.shutdown_kernel(now=True)
            km.context.destroy(linger=0)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    return client


def make(name: str) -> Path:
    """Build, run and write ``docs/notebooks/NAME.ipynb``; its path."""
    nb = build(NOTEBOOKS / f"{name}.py")
    with tempfile.TemporaryDirectory() as cwd:
        execute(nb, Path(cwd))
    out = NOTEBOOKS / f"{name}.ipynb"
    nbformat.validate(nb)
    out.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return out


def main(names: list[str]) -> None:
    for name in names or sorted(p.stem for p in NOTEBOOKS.glob("*.py")):
        print("wrote", make(name).relative_to(ROOT))


if __name__ == "__main__":
    main(sys.argv[1:])
