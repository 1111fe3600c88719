"""Run notebooks as nbdev_test does (nbdev's `test_nb`), each in a process of its own, forked from one that has imported
torch, MONAI and spine_nb once: a notebook starts in a second instead of the ten an import of torch and MONAI takes on
two cores (nbdev_test's own workers are forked the same way). Protocol: a notebook path per line on stdin; for each, a
line `DONE <exit code> <seconds>` on stdout, its output in `<path>.log` under the folder given as the argument."""
import os, sys, time
from pathlib import Path

def warm_up():
    "What nearly every notebook imports, imported before any fork (no thread pool is started by an import)."
    import numpy, pandas, scipy.stats, seaborn, SimpleITK, nibabel, torch, monai  # noqa: F401
    import monai.networks.nets, monai.losses, monai.inferers, monai.transforms  # noqa: F401
    import spine_nb.analysis, spine_nb.train, spine_nb.sweep, spine_nb.viewer  # noqa: F401
    from nbdev.test import test_nb  # noqa: F401
    from nbdev.config import get_config  # noqa: F401

def run_one(nb: Path, log: Path) -> int:
    "Fork; the child runs `nb` with its output in `log`; the child's exit code (0: passed)."
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            from nbdev.test import test_nb
            from nbdev.config import get_config
            ok, _ = test_nb(nb, skip_flags=get_config().tst_flags.split(), basepath=get_config().config_path,
                            do_print=True)
            code = 0 if ok else 1
        except BaseException as e:
            print(f"{type(e).__name__}: {e}", file=sys.stderr)
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

if __name__ == "__main__":
    logs = Path(sys.argv[1])
    warm_up()
    print("READY", flush=True)
    for line in sys.stdin:
        nb = Path(line.strip())
        t0 = time.time()
        code = run_one(nb, logs/f"{nb.name}.log")
        print(f"DONE {code} {time.time() - t0:.1f}", flush=True)
