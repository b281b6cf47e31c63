"""Helpers that pool workers and Ray tasks import by name (tests only; kept light: no pytest, no ray)."""

from experiments.training.engine import Trainer

#: the run that :class:`FailingTrainer` interrupts
FAIL_NAME = "cnn1-alg1-s0"


class FailingTrainer(Trainer):
    """A :class:`Trainer` that raises right after the epoch-1 checkpoint of the run named :data:`FAIL_NAME`
    (an interrupted run: checkpoint on disk, no result)."""

    def save_checkpoint(self):
        super().save_checkpoint()
        if self.epoch == 1 and self.cfg.name == FAIL_NAME:
            raise RuntimeError(f"injected failure in {self.cfg.name} after epoch 1")
