"""What carrying out a plan needs, whoever runs it (a pass, a request, a lifecycle verb):
one value handed to the executor and the creation pipeline, not a copied parameter list."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agenttower.model.lifecycle import Actor
from agenttower.settings import Settings
from agenttower.store.repo import Store


@dataclass(frozen=True)
class PassContext:
    store: Store
    logs_dir: Path
    settings: Settings
    clock: Callable[[], datetime]
    actor: Actor  # who asked: an operator's verb, or the controller's own pass
    sleep: Callable[[float], None] = time.sleep  # probe and retry waits (a session's end at its deadline)
