"""The event loop every bench process runs on: uvloop when installed, as `sendgate serve`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_loop(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run `main()` on uvloop if it is installed (the sidecar does), else on asyncio."""
    try:
        import uvloop  # noqa: PLC0415
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())
