r"""ACGAN (Odena et al. 2017): a class-conditional generator and a
discriminator that also classifies real and generated images.

DCGAN networks; the discriminator does not see the class but predicts it
(an auxiliary softmax head on its last features). Both networks minimise the
class cross-entropy, weighted by config.loss.aux_weight (eq. 2 of the paper:
D maximises L_S + L_C, G maximises L_C - L_S). `:DATASET`:

  python -m jaxgan.main --config=configs/acgan.py:mnist --workdir=runs/acgan
  python -m jaxgan.sample --workdir=runs/acgan --mode=classes --out=acgan.png
"""

from jaxgan import config_lib


def get_config(arg=None):
  config = config_lib.set_dataset(config_lib.default_config(), arg)
  config.model.aux_classifier = True
  config.loss.aux_weight = 1.0
  config.num_samples = 100  # A 10 x 10 grid: one class per column.
  return config
