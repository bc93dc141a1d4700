"""The progressive family's evaluation during training (`eval_every`)."""

import numpy as np

from jaxgan import evaluate
from jaxgan.families import progressive


class ProgressiveEvaluator(evaluate.TrainingEvaluator):
  """FID (and the reference's other metrics) of `config.eval.num_samples`
  samples of the state's generator (its phase and alpha; the EMA's with
  `config.eval.use_ema`) at the data's resolution; lower is better."""
  higher_is_better = False

  def __init__(self, config, dataset, workdir: str, write: bool = True):
    super().__init__(config, dataset, workdir, write)
    self.z = progressive.fixed_noise(config, config.eval.num_samples,
                                     stream=2**31 - 2)

  def evaluate(self, step: int, predict, chunk: int = 500) -> dict:
    samples = [predict({'z': self.z[i:i + chunk]}, self.config.eval.use_ema)
               for i in range(0, len(self.z), chunk)]
    return self(step, np.concatenate(samples))
