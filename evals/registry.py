"""Find benchmark task folders and load their hooks lazily.

A task is a folder holding ``task.yaml`` (a small declarative config) and usually ``hooks.py``.
The registry walks ``evals/tasks/`` plus every user ``--include-path`` for ``task.yaml`` files;
nothing is imported until a hook is first used, so listing tasks never pulls in a heavy library.

``task.yaml`` keys::

    name: lvbench                       # the TASK argument of ``vidsleuth eval``
    description: one line
    hooks: hooks.py                     # file beside task.yaml, or a dotted module path
    load: load                          # (data, videos, options: dict) -> LoadResult
    prompt: vidsleuth.evals.prompting:multiple_choice   # (record) -> str
    scorer: exact_letter                # built-in name, or a hook (record, answer) -> bool
    prediction_format: uid_letter_json  # official submission form
    predictions_file: predictions.json
    categories: {KIR: key information retrieval, ...}   # report keys -> loader category names
    overall_key: Overall
    data_hint: what --data expects      # shown by ``vidsleuth eval list``

A hook reference is ``name`` (a function in the task's hooks module) or ``package.module:name``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from vidsleuth.errors import ConfigError
from vidsleuth.evals.schema import LoadResult, QARecord

BUILTIN_TASKS_DIR = Path(__file__).resolve().parent / "tasks"
# Names ``vidsleuth eval`` uses for its own subcommands; a task may not shadow them.
RESERVED_NAMES = frozenset({"run", "report", "list"})


def _load_yaml(path: Path) -> dict[str, Any]:
    import yaml  # small, but only needed when a task is read

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def import_ref(ref: str, *, module: ModuleType | None = None, where: str = "") -> Any:
    """Resolve ``package.module:attr`` or, with ``module`` given, a bare ``attr`` in it."""
    if ":" in ref:
        mod_name, _, attr = ref.partition(":")
        try:
            mod = importlib.import_module(mod_name)
        except ImportError as err:
            raise ConfigError(f"{where}cannot import {mod_name!r}: {err}") from err
    else:
        if module is None:
            raise ConfigError(f"{where}{ref!r} is not of the form package.module:name")
        mod, attr = module, ref
    try:
        return getattr(mod, attr)
    except AttributeError as err:
        raise ConfigError(f"{where}{mod.__name__} has no attribute {attr!r}") from err


def _exact_letter(record: QARecord, answer: str | None) -> bool:
    if answer is None or record.answer is None:
        return False
    return answer.strip().upper() == record.answer


BUILTIN_SCORERS: dict[str, Callable[[QARecord, str | None], bool]] = {"exact_letter": _exact_letter}


def write_uid_letter_json(predictions: Mapping[str, str], path: Path) -> None:
    """LVBench's submission form: one JSON object ``{uid: letter}``."""
    text = json.dumps(dict(sorted(predictions.items())), indent=1)
    path.write_text(text + "\n", encoding="utf-8")


def read_uid_letter_json(path: Path) -> dict[str, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(f"{path}: cannot read predictions ({err})") from err
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: predictions must be a JSON object uid -> letter")
    return {str(k): str(v).strip().upper() for k, v in data.items() if v is not None}


PREDICTION_FORMATS = {"uid_letter_json": (write_uid_letter_json, read_uid_letter_json)}


@dataclass
class Task:
    """A benchmark: its config plus lazily imported hooks."""

    name: str
    folder: Path
    config: dict[str, Any]
    _module: ModuleType | None = field(default=None, repr=False)

    @property
    def description(self) -> str:
        return str(self.config.get("description", ""))

    @property
    def categories(self) -> dict[str, str]:
        """Report key -> the category name the loader puts on records, in leaderboard order."""
        cats = self.config.get("categories") or {}
        return {str(k): str(v) for k, v in cats.items()}

    @property
    def overall_key(self) -> str:
        return str(self.config.get("overall_key", "Overall"))

    @property
    def predictions_file(self) -> str:
        return str(self.config.get("predictions_file", "predictions.json"))

    def hooks_module(self) -> ModuleType | None:
        """Import the hooks module on first use (file beside task.yaml, or a dotted path)."""
        if self._module is not None:
            return self._module
        ref = self.config.get("hooks")
        if not ref:
            return None
        ref = str(ref)
        if ref.endswith(".py"):
            path = (self.folder / ref).resolve()
            if not path.is_file():
                raise ConfigError(f"{self.folder / 'task.yaml'}: hooks file {path} does not exist")
            mod_name = f"vidsleuth_task_{self.name.replace('-', '_')}_hooks"
            spec = importlib.util.spec_from_file_location(mod_name, path)
            if spec is None or spec.loader is None:
                raise ConfigError(f"{path}: cannot be imported")
            module = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = module
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(ref)
        self._module = module
        return module

    def hook(self, key: str, default: str | None = None) -> Callable[..., Any]:
        ref = self.config.get(key, default)
        if ref is None:
            raise ConfigError(f"task {self.name!r} defines no {key!r} hook")
        where = f"{self.folder / 'task.yaml'}: {key}: "
        return import_ref(str(ref), module=self.hooks_module(), where=where)

    def load(self, data: Path, videos: Path | None = None, **options: Any) -> LoadResult:
        result = self.hook("load")(Path(data), Path(videos) if videos else None, options)
        if not isinstance(result, LoadResult):
            raise ConfigError(f"task {self.name!r}: load hook returned {type(result).__name__}")
        return result

    def prompt(self, record: QARecord) -> str:
        return str(self.hook("prompt", "vidsleuth.evals.prompting:multiple_choice")(record))

    def score(self, record: QARecord, answer: str | None) -> bool:
        ref = str(self.config.get("scorer", "exact_letter"))
        fn = BUILTIN_SCORERS.get(ref) or self.hook("scorer")
        return bool(fn(record, answer))

    def _format(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        name = str(self.config.get("prediction_format", "uid_letter_json"))
        if name not in PREDICTION_FORMATS:
            raise ConfigError(f"task {self.name!r}: unknown prediction_format {name!r}")
        return PREDICTION_FORMATS[name]

    def write_predictions(self, predictions: Mapping[str, str], path: Path) -> None:
        self._format()[0](predictions, path)

    def read_predictions(self, path: Path) -> dict[str, str]:
        return self._format()[1](path)


def _task_dirs(roots: Iterable[Path]) -> Iterable[Path]:
    for root in roots:
        root = Path(root)
        if (root / "task.yaml").is_file():
            yield root
        elif root.is_dir():
            for yml in sorted(root.rglob("task.yaml")):
                yield yml.parent


def find_tasks(include_paths: Iterable[Path] = ()) -> dict[str, Task]:
    """Every task under the built-in folder and the include paths (later paths may override)."""
    include_paths = list(include_paths)
    for p in include_paths:
        if not Path(p).exists():
            raise ConfigError(f"{p}: include path does not exist")
    tasks: dict[str, Task] = {}
    for folder in _task_dirs([BUILTIN_TASKS_DIR, *include_paths]):
        config = _load_yaml(folder / "task.yaml")
        name = str(config.get("name") or folder.name)
        if name in RESERVED_NAMES:
            raise ConfigError(f"{folder / 'task.yaml'}: task name {name!r} is reserved")
        tasks[name] = Task(name=name, folder=folder, config=config)
    return tasks


def get_task(name: str, include_paths: Iterable[Path] = ()) -> Task:
    tasks = find_tasks(include_paths)
    key = name if name in tasks else name.replace("-", "_")
    if key not in tasks:
        raise ConfigError(f"unknown task {name!r}; known: {', '.join(sorted(tasks)) or 'none'}")
    return tasks[key]
