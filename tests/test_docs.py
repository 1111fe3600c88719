"""The notebooks' prose names only what exists: every backticked name in a markdown cell resolves to something of
spine_nb (a module, a name in one, an attribute of one of its classes, a `RunConfig` or `Arch` field, a parameter of one
of its functions, a string its code uses), of a library it uses, or is a file, a command or a word listed below."""
import builtins, importlib, importlib.util, inspect, json, re, shutil, sys
from pathlib import Path
from conftest import ROOT

MODULES = ["core", "spider", "phantom", "labels", "metrics", "models", "config", "data", "infer", "train", "run",
           "predict", "sweep", "analysis", "viewer", "cli", "demo", "bench", "budget", "nnunet"]
LIBRARIES = ["torch", "torch.func", "torch.nn.functional", "signal", "torch.utils.data", "torch.backends", "monai.data", "monai.transforms",
             "monai.networks.nets", "monai.losses", "monai.inferers", "monai.utils", "numpy", "pandas", "SimpleITK",
             "ipywidgets", "distributed", "papermill", "fastcore.basics", "json", "fcntl", "hashlib", "os",
             "dynamic_network_architectures.architectures.unet", "spine_nb.nnunet_trainers.spine_nb_trainers",
             "nnunetv2.training.nnUNetTrainer.variants.training_length.nnUNetTrainer_Xepochs"]
FILE = re.compile(r".*\.(json|csv|pt|pth|md|png|py|ipynb|part|txt|mha|sha256)$")
# words the prose uses that are not names in code: environment variables, placeholders in commands, JSON
WORDS = {"CUDA_VISIBLE_DEVICES", "PATH", "PYTHONPATH", "OUT", "RUNS", "null", "loss.item()", "step()", "key",
         "nbdev_clean", "nbdev_export", "nbdev_test", "nnunetv2", "slow"}

def backticked_names() -> dict:
    "Every identifier-like backticked token of every notebook's markdown (code blocks left out): token -> notebook."
    found = {}
    for nb in sorted((ROOT/"nbs").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "markdown": continue
            text = re.sub(r"```.*?```", "", "".join(cell["source"]), flags=re.S)
            for t in re.findall(r"`([^`\n]+)`", text):
                t = t.strip()
                if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*(\(\))?", t): found.setdefault(t, nb.name)
    return found

def known() -> tuple[dict, set]:
    "spine_nb's modules, and every name, attribute, field, parameter and string literal of its code."
    mods = {m: importlib.import_module(f"spine_nb.{m}") for m in MODULES}
    names = set(mods)
    for mod in mods.values():
        for k, v in vars(mod).items():
            names.add(k)
            if inspect.isclass(v) and v.__module__.startswith("spine_nb"): names |= set(dir(v))
            if callable(v):
                try: names |= set(inspect.signature(v).parameters)
                except (TypeError, ValueError): pass
        source = Path(mod.__file__).read_text()
        names |= set(re.findall(r"[\"']([A-Za-z_][A-Za-z0-9_.]*)[\"']", source))      # strings, dotted ones too
        names |= set(re.findall(r"\b([A-Za-z_][A-Za-z0-9_]*)=", source))                  # keyword arguments
    names |= set(mods["config"].RunConfig.__dataclass_fields__) | set(mods["models"].Arch.__dataclass_fields__)
    return mods, names

def _attrs(obj, dotted: str) -> bool:
    "Whether `obj.a.b...` exists."
    try:
        for p in dotted.split("."): obj = getattr(obj, p)
        return True
    except AttributeError: return False

def _dotted(t: str) -> bool:
    "Whether `t` is an importable module, or a module followed by attributes."
    parts = t.split(".")
    for i in range(len(parts), 0, -1):
        try: mod = importlib.import_module(".".join(parts[:i]))
        except ImportError: continue
        return i == len(parts) or _attrs(mod, ".".join(parts[i:]))
    return False

def resolves(token: str, mods: dict, names: set) -> bool:
    t = token.removesuffix("()")
    if len(t) == 1 or FILE.match(t) or token in WORDS or t in names or hasattr(builtins, t): return True
    if shutil.which(t) or (Path(sys.executable).parent/t).exists(): return True       # a command
    head, _, rest = t.partition(".")
    if _dotted(t) or (head in mods and _dotted(f"spine_nb.{t}")): return True
    if rest and any(hasattr(m, head) and _attrs(getattr(m, head), rest) for m in mods.values()): return True
    libs = []
    for lib in LIBRARIES:
        try: libs.append(importlib.import_module(lib))
        except ImportError: continue                    # an optional extra that is not installed
    return any(_attrs(lib, t) for lib in libs)

def test_every_backticked_name_exists():
    mods, names = known()
    missing = {t: nb for t, nb in backticked_names().items() if not resolves(t, mods, names)}
    assert not missing, f"backticked names in the notebooks' prose that exist nowhere: {missing}"
