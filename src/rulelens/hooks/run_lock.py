"""One ``kedro run`` per project data folder: the hook around :mod:`rulelens.run_lock`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl

from rulelens.modeling import placement
from rulelens.param_blocks import declared

logger = logging.getLogger(__name__)


class RunLockHook:
    """One ``kedro run`` per project data folder (:mod:`rulelens.run_lock`): the lock is taken
    before any other hook or node starts and dropped after every other hook has finished. Under
    torchrun / accelerate launch the processes of one launch are one run: rank 0 holds the lock."""

    def __init__(self) -> None:
        self.project_path: Path | None = None
        self.dataset: str | None = None  # the globals' dataset, read in after_context_created
        self.env: str | None = None
        self.lock = None

    @hook_impl
    def after_context_created(self, context) -> None:
        self.project_path = Path(context.project_path)
        self.env = context.env
        self.dataset = str(declared(context.config_loader["globals"], "dataset", "conf/base/globals.yml"))

    @hook_impl(tryfirst=True)
    def before_pipeline_run(self, run_params: dict[str, Any], pipeline, catalog) -> None:
        import atexit

        from rulelens import run_lock

        if self.project_path is None:
            return
        if not placement.is_main_process():  # torchrun / accelerate: one launch, one lock, held by rank 0
            logger.info("Rank %d: the run lock is rank 0's", placement.process_rank())
            return
        path = run_lock.lock_path(self.project_path, self.dataset)
        record = run_lock.holder_record(env=run_params.get("env") or self.env)
        self.lock = run_lock.acquire(
            path,
            record,
            how_to_run_elsewhere=(
                f"an environment whose globals name another dataset (this one writes data/*/{self.dataset}), "
                "or another copy of the project"
            ),
        )
        atexit.register(self.lock.release)  # a hook that fails before the run starts still lets go

    @hook_impl(trylast=True)
    def after_pipeline_run(self) -> None:
        self._release()

    @hook_impl(trylast=True)
    def on_pipeline_error(self) -> None:
        self._release()

    def _release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
