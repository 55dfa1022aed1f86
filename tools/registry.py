"""The tool registry: one place that knows every tool the agent may call.

Tools arrive three ways, all checked at registration: the ``@tool`` decorator (built-ins and
user code), :meth:`ToolRegistry.register` with a :class:`~vidsleuth.tools.base.Tool`, and the
entry-point group ``vidsleuth.tools``, through which a third-party package adds tools without
touching this repository::

    # the third party's pyproject.toml
    [project.entry-points."vidsleuth.tools"]
    colour_probe = "my_pkg.tools"          # a module: every Tool defined in it
    # or "my_pkg.tools:colour_probe" (one Tool), or a function returning Tools

A second tool with a name already taken is refused (re-registering the *same* tool object is a
no-op, so importing a module twice is harmless).
"""

from __future__ import annotations

import importlib.metadata as md
import logging
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Any, overload

from pydantic import BaseModel

from vidsleuth.tools.base import Tool, ToolCallError, ToolContext, ToolDefinitionError, make_tool

ENTRY_POINT_GROUP = "vidsleuth.tools"
log = logging.getLogger(__name__)


class ToolRegistry:
    """Name -> :class:`Tool`.  ``call`` validates arguments against the schema before running."""

    def __init__(self, tools: Iterable[Tool[Any, Any]] = ()) -> None:
        self._tools: dict[str, Tool[Any, Any]] = {}
        self.problems: list[str] = []  # entry points that failed to load (reported, not fatal)
        for t in tools:
            self.register(t)

    def register(self, t: Tool[Any, Any]) -> Tool[Any, Any]:
        if not isinstance(t, Tool):
            raise ToolDefinitionError(f"only Tool objects can be registered, got {t!r}")
        have = self._tools.get(t.name)
        if have is t:
            return t
        if have is not None:
            raise ToolDefinitionError(
                f"tool name {t.name!r} is already registered (by {_origin(have)}); "
                f"refusing the one from {_origin(t)}"
            )
        self._tools[t.name] = t
        return t

    def unregister(self, name: str) -> None:
        self._tools.pop(name, None)

    def get(self, name: str) -> Tool[Any, Any]:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolCallError(
                f"unknown tool {name!r}; known: {', '.join(sorted(self._tools)) or 'none'}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool[Any, Any]]:
        return iter(sorted(self._tools.values(), key=lambda t: t.name))

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return sorted(self._tools)

    def schemas(self, names: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The model-facing descriptions (no runtime handles in them)."""
        wanted = self.names() if names is None else [n for n in names if n in self._tools]
        return [self._tools[n].schema() for n in wanted]

    def call(
        self, ctx: ToolContext, name: str, args: BaseModel | dict[str, Any] | None = None
    ) -> Any:
        return self.get(name)(ctx, args)

    def copy(self) -> ToolRegistry:
        reg = ToolRegistry(self._tools.values())
        reg.problems = list(self.problems)
        return reg

    # ------------------------------------------------------------------------- discovery
    def add_from(self, obj: Any, *, origin: str = "") -> list[Tool[Any, Any]]:
        """Register what an entry point (or any import) resolved to: a Tool, a module (all its
        Tool attributes), an iterable of Tools, or a zero-argument callable returning either."""
        if isinstance(obj, Tool):
            return [self.register(obj)]
        if isinstance(obj, ModuleType):
            found = [v for v in vars(obj).values() if isinstance(v, Tool)]
            if not found:
                raise ToolDefinitionError(f"{origin or obj.__name__}: the module defines no Tool")
            return [self.register(t) for t in found]
        if isinstance(obj, list | tuple | set | frozenset):
            return [t for item in obj for t in self.add_from(item, origin=origin)]
        if callable(obj):
            return self.add_from(obj(), origin=origin)
        raise ToolDefinitionError(f"{origin}: expected a Tool, a module or a callable, got {obj!r}")

    def load_entry_points(
        self,
        entry_points: Iterable[md.EntryPoint] | None = None,
        *,
        strict: bool = False,
    ) -> list[Tool[Any, Any]]:
        """Register the tools of every ``vidsleuth.tools`` entry point (installed packages, or
        the ``entry_points`` given).  A broken plug-in is recorded in :attr:`problems` and
        skipped, so it cannot take the agent down, unless ``strict``."""
        eps = md.entry_points(group=ENTRY_POINT_GROUP) if entry_points is None else entry_points
        added: list[Tool[Any, Any]] = []
        for ep in eps:
            origin = f"entry point {ep.name} = {ep.value}"
            try:
                added.extend(self.add_from(ep.load(), origin=origin))
            except Exception as err:
                if strict:
                    raise
                msg = f"{origin}: {type(err).__name__}: {err}"
                self.problems.append(msg)
                log.warning("skipping tool plug-in: %s", msg)
        return added


def _origin(t: Tool[Any, Any]) -> str:
    mod = getattr(t.fn, "__module__", "?")
    return f"{mod}.{getattr(t.fn, '__qualname__', t.name)}"


#: The process-wide registry ``@tool`` registers into (one registry, declared once).
REGISTRY = ToolRegistry()


@overload
def tool(fn: Callable[..., Any], /) -> Tool[Any, Any]: ...


@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    expensive: bool = False,
    role: str = "",
    registry: ToolRegistry | None = None,
) -> Callable[[Callable[..., Any]], Tool[Any, Any]]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    expensive: bool = False,
    role: str = "",
    registry: ToolRegistry | None = None,
) -> Any:
    """Turn ``def fn(ctx: ToolContext, inp: In) -> Out`` into a registered :class:`Tool`.

    Used bare (``@tool``) or with options (``@tool(name=..., expensive=True, role="look")``).
    The contract is validated here, so a broken tool fails when its module is imported.
    Registers into :data:`REGISTRY` unless another ``registry`` is given.
    """

    def wrap(f: Callable[..., Any]) -> Tool[Any, Any]:
        t = make_tool(f, name=name, description=description, expensive=expensive, role=role)
        return (registry if registry is not None else REGISTRY).register(t)

    return wrap(fn) if fn is not None else wrap


def default_registry(*, builtins: bool = True, plugins: bool = True) -> ToolRegistry:
    """A copy of :data:`REGISTRY` with the built-in tools whose layers are installed (importing
    :mod:`vidsleuth.tools.builtin` registers them), plus every plug-in's tools."""
    if builtins:
        from vidsleuth.tools import builtin  # noqa: F401 - registers on import
    reg = REGISTRY.copy()
    if not builtins:
        from vidsleuth.tools.builtin import BUILTIN_NAMES

        for n in BUILTIN_NAMES:
            reg.unregister(n)
    if plugins:
        reg.load_entry_points()
    return reg
