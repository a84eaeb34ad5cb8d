"""A tiny name -> factory registry, shared by detectors and landmarkers (and later recognizers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ..errors import BackendError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._help: dict[str, str] = {}

    def register(self, name: str, help: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        def wrap(factory: Callable[..., T]) -> Callable[..., T]:
            self._factories[name] = factory
            self._help[name] = help or (factory.__doc__ or "").strip().splitlines()[0]
            return factory

        return wrap

    def create(self, name: str, **kwargs) -> T:
        try:
            factory = self._factories[name]
        except KeyError:
            raise BackendError(
                f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self._factories))}"
            ) from None
        return factory(**kwargs)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def describe(self) -> dict[str, str]:
        return dict(sorted(self._help.items()))
