"""Execute the book's notebooks into jupyter-cache, several kernels at once, before ``jupyter-book build``.

    python tools/execute_parallel.py <build folder> [--jobs 2] [--threads 1]

``make book`` (and ``make book-smoke``) call this first; the Sphinx build that follows finds every
notebook in ``<build folder>/.jupyter_cache`` and only renders it. It does exactly what myst-nb's
``execute_notebooks: cache`` does for one notebook (match the cache by the notebook's code; otherwise execute
it in its own folder with ``jupyter_cache.executors.utils.single_nb_execution`` and store the executed
notebook with its run time), but with ``--jobs`` kernels side by side.

Why: most of the book trains small MLPs and recurrent nets, for which a second thread in one process
gains little on 2 cores, while two processes with one thread each do twice the work. (Measured side by
side on this machine, one epoch of a VAE on 12,000 MNIST images: MLP 1.16 s with 2 threads, 1.29 s with 1
thread, and 1.28 s each for two 1-thread processes at once; the convolutional VAE 1.92 s, 3.44 s and 3.44 s.)

Notebooks that share trained models through the experiment cache run one after the other in the same lane
(``LANES``), so two kernels never train the same model at once (that would be safe, the cache writes are
atomic, but wasted); the lanes are handed out longest first. Every notebook of the table of contents that is
in no lane runs alone. The thread count each kernel gets is passed as ``THESIS_THREADS`` (see
``thesis_code.profiles``) and ``OMP_NUM_THREADS``.

A notebook that fails is not cached; the build that follows then executes it again itself and reports the
error in its usual way (with ``-W`` the build fails), so nothing is hidden by running it here first.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# Groups of notebooks (path prefixes, relative to the repository) that share cached models and so run in
# order in one lane; listed longest first (the per-notebook table of the last cold build, in the README).
LANES: list[tuple[str, ...]] = [
    ("book/01_foundations/", "book/02_vae/"),        # chapters 1-2 share the ch1-/ch2- models
    ("book/03_latent_tasks/3_4_",),
    ("book/04_experiments/4_1_",),
    ("book/03_latent_tasks/3_3_", "book/04_experiments/4_2_"),   # the sentence models
    ("book/03_latent_tasks/3_5_",),
    ("book/03_latent_tasks/3_6_",),
    ("book/03_latent_tasks/3_1_", "book/03_latent_tasks/3_2_"),  # the ch3- image models
]


def toc_notebooks(root: Path = ROOT) -> list[Path]:
    """The ``.ipynb`` files of ``_toc.yml``, in the order of the table of contents."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key, []) or []:
                    walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    if "root" in toc:
        files.append(toc["root"])
    walk(toc)
    out = []
    for f in files:
        p = root / (f if f.endswith(".ipynb") else f + ".ipynb")
        if p.exists() and p not in out:
            out.append(p)
    return out


def lanes(notebooks: list[Path], root: Path = ROOT) -> list[list[Path]]:
    """Split the notebooks into lanes: each group of ``LANES`` (in table-of-contents order inside it),
    then every other notebook alone."""
    rel = {nb: nb.relative_to(root).as_posix() for nb in notebooks}
    taken: set[Path] = set()
    out: list[list[Path]] = []
    for prefixes in LANES:
        lane = [nb for nb in notebooks if nb not in taken and rel[nb].startswith(prefixes)]
        taken.update(lane)
        if lane:
            out.append(lane)
    out += [[nb] for nb in notebooks if nb not in taken]
    return out


def _execute_lane(args) -> list[tuple[str, str | None, float, str | None]]:
    """Run in a worker process: execute the lane's notebooks in order, each in its own folder. Returns,
    per notebook, its path, the executed notebook as JSON, the seconds and the error text (or None)."""
    lane, timeout, threads = args
    import nbformat
    from jupyter_cache.executors.utils import single_nb_execution

    for var in ("THESIS_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)       # inherited by the kernels started below
    results = []
    for path in lane:
        nb = nbformat.read(path, as_version=4)
        try:
            result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout, allow_errors=False,
                                         meta_override=True)
        except Exception as exc:             # e.g. the kernel died: leave it to the build, go on
            results.append((path, None, 0.0, f"{type(exc).__name__}: {exc}"))
            continue
        err = None if result.err is None else f"{type(result.err).__name__}: {result.exc_string}"
        results.append((path, nbformat.writes(nb), result.time, err))
        print(f"  executed {os.path.relpath(path, ROOT)} in {result.time:.0f} s"
              + ("" if err is None else " (FAILED; the build will run it again and report)"), flush=True)
    return results


def store(cache, path: str, text: str, seconds: float):
    """Cache an executed notebook as myst-nb's cache mode does (``myst_nb.core.execute.cache``): staged by
    its path, keyed by the hash of its code, with the execution time beside it."""
    import nbformat
    from jupyter_cache.base import CacheBundleIn

    stage = cache.add_nb_to_project(path)
    return cache.cache_notebook_bundle(CacheBundleIn(nbformat.reads(text, as_version=4), stage.uri,
                                                     data={"execution_seconds": seconds}),
                                       check_validity=False, overwrite=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", help="the build folder whose .jupyter_cache the book build reads, e.g. _build")
    ap.add_argument("--jobs", type=int, default=2, help="kernels at once (1 = one after the other)")
    ap.add_argument("--threads", type=int, default=1, help="threads of each kernel")
    ap.add_argument("--timeout", type=int, default=None,
                    help="seconds a cell may take (default: execute.timeout of _config.yml)")
    a = ap.parse_args(argv)
    if a.jobs < 1 or a.threads < 1:
        ap.error("--jobs and --threads must be at least 1")
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    timeout = a.timeout or (config.get("execute") or {}).get("timeout", 3600)
    cache_path = str((Path(a.build) / ".jupyter_cache").resolve())

    import nbformat
    from jupyter_cache import get_cache

    # Only this process touches the cache's database (SQLite): it picks what needs executing, and stores
    # what the workers return, one record at a time.
    cache = get_cache(cache_path)

    def cached(path: Path) -> bool:
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
            return True
        except KeyError:
            return False

    work = [lane for lane in ([nb for nb in lane if not cached(nb)] for lane in lanes(toc_notebooks())) if lane]
    if not work:
        print("every notebook is in the cache already")
        return 0
    print(f"executing {sum(map(len, work))} notebooks in {len(work)} lanes, {a.jobs} at once, "
          f"{a.threads} thread(s) each", flush=True)
    start = time.perf_counter()
    failed = 0
    ctx = mp.get_context("spawn")       # fresh interpreters: no torch state forked from this process
    with ctx.Pool(a.jobs, maxtasksperchild=1) as pool:
        jobs = [(list(map(str, lane)), timeout, a.threads) for lane in work]
        for results in pool.imap_unordered(_execute_lane, jobs):
            for path, text, seconds, err in results:
                if err is not None:
                    failed += 1
                    print(err, file=sys.stderr)
                    continue
                store(cache, path, text, seconds)
    print(f"executed in {time.perf_counter() - start:.0f} s of wall clock"
          + (f"; {failed} notebook(s) failed and are left to the build" if failed else ""), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
