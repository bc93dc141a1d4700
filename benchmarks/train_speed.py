r"""Times the full training iteration, as the trainer runs it, after compiling.

  python -m benchmarks.train_speed
  python -m benchmarks.train_speed --models=dcgan64 --torch_python=VENV/bin/python
  python -m benchmarks.train_speed --models=mlp_mnist --steps_per_dispatch=1,10
  python -m benchmarks.train_speed --models=pix2pix256,pix2pix32_b16

One iteration is what `Trainer.step` runs, on one device: for the noise GANs
n_critic critic updates and one generator update, for pix2pix one D and one
G update (`families.paired`). Per workload and setting the table gives:

  img/s        batch / median seconds per iteration, on a fixed uint8 batch
               already in host memory (transfer to the device included);
  s/iter       the median of --repeats timed iterations, and p10-p90;
  compile      seconds of the first call (trace + compile + one iteration);
  GFLOP/iter   the model FLOPs of one iteration (see `model_flops`);
  GFLOP/s      achieved: GFLOP/iter / median, and that as a share of the
               machine's peak, a large float32 matmul timed in the same run
               (on an accelerator also the share of its bfloat16 peak);
  XLA GFLOP    XLA's own count for the compiled iteration (cost analysis);
  mem MiB      XLA's buffer assignment for the iteration: arguments, outputs
               not aliased to donated inputs, and temporaries;
  e2e img/s    iterations fed by the real input pipeline (`batch_iterator`
               on the workload's dataset; for pix2pix `PairedData` on an
               aligned folder of random A|B images, resized, cropped and
               flipped as in training) instead of a fixed batch;
  data img/s   the input pipeline alone, drained as fast as it goes.

With --torch_python (a Python that has torch, e.g. the benchmark venv of
benchmarks/README.md), each workload's jaxgan timing alternates with a run of
the PyTorch reference (--torch_bench, default ../shared/bench/torch_gan_bench.py
beside the checkout; for pix2pix --torch_translation_bench, its
torch_translation_bench.py --model pix2pix256 at the workload's batch and
size) of the same workload, --rounds times (each jaxgan round after one
untimed dispatch, as each reference run after its warm-up steps), and the
table adds
PyTorch's s/iter and the speedup (PyTorch s/iter / jaxgan s/iter). On a GPU
the reference runs on CUDA through `torch_device.py` (under bf16 autocast
with --dtype=bfloat16). --json appends every row as one JSON line.
"""

if __name__ == '__main__':
  # Before jax loads: glibc reads its tunables at start (jaxgan/hugepages.py).
  from jaxgan import hugepages  # pylint: disable=g-import-not-at-top
  hugepages.reexec()

import copy
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time
from typing import Callable, NamedTuple

from absl import app
from absl import flags
import jax
import jax.extend
import jax.numpy as jnp
import ml_collections
import numpy as np

from configs import (context_encoder, cyclegan, dcgan, gan_mlp, pix2pix,
                     sngan, srgan, wgan_gp)
from jaxgan import families
from jaxgan.families import gan as gan_family
from jaxgan.families.paired import inpainting
from jaxgan import hugepages
from jaxgan import input_pipeline
from jaxgan.networks import conv_forms
from jaxgan.networks import layers
from jaxgan import train
from jaxgan import writers

# The noise GAN workloads of the README's table; pix2pix256 and pix2pix32_b16
# by --models.
DEFAULT_MODELS = 'mlp_mnist,dcgan32_mnist,dcgan64,wgan_gp32'

FLAGS = flags.FLAGS
flags.DEFINE_list('models', DEFAULT_MODELS,
                  'Workloads to time, of: mlp_mnist, dcgan28, dcgan32_mnist, '
                  'dcgan64, wgan_gp28, wgan_gp32, sngan32, pix2pix256, '
                  'pix2pix32_b16, srgan96, context_encoder128, cyclegan256.')
flags.DEFINE_list('conv_impl', ['auto'], "Convolution formulations ('auto', "
                  "'conv', 'matmul').")
flags.DEFINE_list('steps_per_dispatch', ['1'],
                  'Iterations per compiled call (lax.scan over steps).')
flags.DEFINE_string('dtype', 'float32', "Compute dtype: 'float32' or "
                    "'bfloat16' (parameters stay float32).")
flags.DEFINE_integer('repeats', 0, 'Timed iterations (0: a per-model default).')
flags.DEFINE_integer('rounds', 1, 'Alternations of jaxgan and PyTorch runs.')
flags.DEFINE_string('torch_python', os.environ.get('JAXGAN_TORCH_PYTHON'),
                    'A Python with torch to run the PyTorch reference; unset: '
                    'jaxgan only.')
flags.DEFINE_string('torch_bench', os.path.join(
    os.path.dirname(__file__), '..', '..', 'shared', 'bench',
    'torch_gan_bench.py'), 'The PyTorch reference of the noise GANs.')
flags.DEFINE_string('torch_translation_bench', os.path.join(
    os.path.dirname(__file__), '..', '..', 'shared', 'bench',
    'torch_translation_bench.py'), 'The PyTorch reference of pix2pix.')
flags.DEFINE_bool('pipeline', True, 'Also time the input pipeline (data-only '
                  'and end to end).')
flags.DEFINE_string('json', None, 'Also append one JSON line per row here.')



class Workload(NamedTuple):
  """One timed training setting."""
  family: str  # 'gan' (noise GAN), 'paired' (pix2pix) or 'unpaired'.
  config: Callable[[], ml_collections.ConfigDict]
  shape: tuple  # One training image (paired: the source's and the target's).
  batch: int
  latent: int | None  # The noise GAN's latent size.
  repeats: int
  torch_model: str | None  # The PyTorch reference's --model, if it has one.


def _pix2pix_config():
  # The authors' pix2pix (unet_<size>, 70x70 PatchGAN, vanilla GAN + 100 L1)
  # on an aligned A|B folder; the jitter keeps their 286/256 ratio.
  return pix2pix.get_config('aligned')


WORKLOADS = {
    'mlp_mnist': Workload('gan', gan_mlp.get_config, (28, 28, 1), 128, 64,
                          200, 'mlp_mnist'),
    'dcgan28': Workload('gan', dcgan.get_config, (28, 28, 1), 64, 100, 20,
                        None),
    'dcgan32_mnist': Workload('gan', dcgan.get_config, (32, 32, 1), 64, 100,
                              20, 'dcgan32_mnist'),
    'dcgan64': Workload('gan', dcgan.get_config, (64, 64, 3), 64, 100, 5,
                        'dcgan64'),
    'wgan_gp28': Workload('gan', wgan_gp.get_config, (28, 28, 1), 64, 100, 5,
                          None),
    'wgan_gp32': Workload('gan', wgan_gp.get_config, (32, 32, 3), 64, 100, 5,
                          'wgan_gp32'),
    # Miyato et al.'s CIFAR-10 SNGAN (configs/sngan.py): ResNet G and D,
    # spectral norm, hinge, n_dis 5, batch 64, latent 128.
    'sngan32': Workload('gan', lambda: sngan.get_config('sngan'),
                        (32, 32, 3), 64, 128, 3, None),
    # The paper's setting: 256x256, batch 1 (unet_256, 54.4 M parameters).
    'pix2pix256': Workload('paired', _pix2pix_config, (256, 256, 3), 1, None,
                           10, 'pix2pix256'),
    # A batch that keeps 2 CPU cores busy (unet_32, configs/pix2pix.py:
    # cifar10_colorization's size and batch, 3 -> 3 channels).
    'pix2pix32_b16': Workload('paired', _pix2pix_config, (32, 32, 3), 16,
                              None, 20, 'pix2pix256'),
    # Ledig et al.'s SRGAN (MSE content + 1e-3 BCE), 24 -> 96, batch 16: the
    # shape is the HR crop's, the LR source is made from it in the step.
    'srgan96': Workload('paired', lambda: srgan.get_config('srgan'),
                        (96, 96, 3), 16, None, 5, 'srgan96'),
    # Pathak et al.'s context encoder as the reference's context_encoder128:
    # 128x128, the 64x64 centre hole and patch (overlap 0), batch 16.
    'context_encoder128': Workload('paired', lambda: _context_encoder_config(),  # pylint: disable=unnecessary-lambda
                                   (128, 128, 3), 16, None, 5,
                                   'context_encoder128'),
    # Zhu et al.'s CycleGAN with the authors' defaults: two resnet_9blocks,
    # two 70x70 PatchGANs with instance norm, the pools; 256x256, batch 1.
    'cyclegan256': Workload('unpaired',
                            lambda: cyclegan.get_config('unaligned'),
                            (256, 256, 3), 1, None, 5, 'cyclegan256'),
}


def _context_encoder_config():
  config = context_encoder.get_config('authors128')
  config.data.hole_size = 64
  config.data.overlap = 0
  return config


def workload_config(name: str, conv_impl='auto', dtype='float32',
                    batch_size=None):
  """The workload's config and its data's shapes (`Trainer`'s spec); a
  `batch_size` overrides the workload's batch."""
  w = WORKLOADS[name]
  config = w.config()
  config.model.conv_impl = conv_impl
  config.train.batch_size = batch_size or w.batch
  config.dtype = dtype
  if w.family == 'gan':
    config.model.latent_dim = w.latent
    return config, w.shape
  size = w.shape[0]
  config.data.crop_size = size
  if w.family == 'unpaired':
    config.data.load_size = size * 286 // 256
    return config, {'A': w.shape, 'B': w.shape,
                    'num_examples': PAIRED_EXAMPLES}
  source = w.shape
  if config.data.name == 'super_resolution':
    lr = size // config.data.scale
    source = (lr, lr, w.shape[-1])
  elif config.data.name == 'inpainting':
    config.data.load_size = size
  else:
    config.data.load_size = size * 286 // 256
  return config, {'source': source, 'target': w.shape,
                  'num_examples': PAIRED_EXAMPLES}


def forward_flops(fn, *args) -> int:
  """2 x the multiply-adds of every dot and convolution in fn's jaxpr.

  Normalisations and activations are not counted (nor by PyTorch). A
  convolution counts 2 x output elements x kernel taps x input channels; a
  transposed one (a dilated input) 2 x input elements x kernel taps x output
  channels, what PyTorch's hooks count for ConvTranspose2d, not the zeros of
  the dilated input.
  """
  total = 0

  def walk(jaxpr):
    nonlocal total
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == 'conv_general_dilated':
        dims = eqn.params['dimension_numbers']
        rhs = eqn.invars[1].aval.shape  # rhs_spec: (out, in, *window)
        window = int(np.prod([rhs[d] for d in dims.rhs_spec[2:]]))
        if any(d != 1 for d in eqn.params['lhs_dilation']):
          total += (2 * int(np.prod(eqn.invars[0].aval.shape)) * window *
                    rhs[dims.rhs_spec[0]])
        else:
          total += (2 * int(np.prod(eqn.outvars[0].aval.shape)) * window *
                    rhs[dims.rhs_spec[1]])
      elif eqn.primitive.name == 'dot_general':
        (lhs_c, _), (lhs_b, rhs_b) = eqn.params['dimension_numbers']
        lhs, rhs = (v.aval.shape for v in eqn.invars)
        rhs_c = eqn.params['dimension_numbers'][0][1]
        rhs_free = [d for i, d in enumerate(rhs) if i not in rhs_c and
                    i not in rhs_b]
        total += 2 * int(np.prod(lhs)) * int(np.prod(rhs_free))
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        walk(sub)

  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return total


def model_flops(name: str) -> dict:
  """Forward FLOPs of G and D, and the model FLOPs of one iteration.

  The iteration count uses the PyTorch references' formulas: a backward
  pass costs two forward passes (input and weight gradients), one through a
  network whose weights get no update one (input gradients only). A
  DCGAN/MLP GAN iteration is 3 F_G + 9 F_D (G forward and backward once, the
  fake batch shared by the critic and generator updates; D forward and
  backward on real, fake, and fake again for G's loss); WGAN-GP's is
  n_critic (F_G + 10 F_D) + 3 F_G + 2 F_D, the gradient penalty's double
  backward through a critic without normalisation costing 4 F_D; with
  n_critic > 1 and no penalty (SNGAN) n_critic (F_G + 6 F_D) + 3 F_G + 2 F_D;
  pix2pix's 3 F_G + 8 F_D (D updated on the real and the fake pair, then G's
  loss through D without D's weight gradients), F_D being D on one batch of
  pairs.

  These are the model's nominal FLOPs, the same for every formulation, so
  both networks are counted on XLA's native convolutions (not the extra
  border cells of the 'matmul' form's space-to-depth convolutions).
  """
  w = WORKLOADS[name]
  config, spec = workload_config(name, conv_impl='conv')
  family = families.get(w.family)(config, spec)
  state = jax.eval_shape(family.init, jax.random.key(0))
  b = config.train.batch_size
  if w.family == 'paired':
    source = jnp.zeros((b,) + spec['source'])
    target = jnp.zeros((b,) + spec['target'])
    f_g = forward_flops(
        lambda p, s, x: family.generate(p, s, x, train=False)[0],
        state.g_params, state.g_state, source)
    if config.data.name == 'inpainting':  # D sees the predicted patch.
      target = inpainting.region(config.data, target)
    f_d = forward_flops(
        lambda p, s, x, y: family.discriminate(p, s, x, y)[0],
        state.d_params, state.d_state, source, target)
    per_iter = 3 * f_g + 8 * f_d
  elif w.family == 'unpaired':
    x = jnp.zeros((b,) + spec['A'])
    f_g = forward_flops(
        lambda p, s, x: family.generate('G_A', p, s, x, train=False)[0],
        state.g_params, state.g_state, x)
    f_d = forward_flops(
        lambda p, s, x: family.discriminate('D_A', p, s, x)[0],
        state.d_params, state.d_state, x)
    # The reference's: six backpropagated G passes (cycles and identities),
    # D_A(fake_B) and D_B(fake_A) frozen, both D's on real + pooled fake.
    per_iter = 18 * f_g + 16 * f_d
  else:
    z = jnp.zeros((b, gan_family.latent_size(config)))
    x = jnp.zeros((b,) + spec)
    f_g = forward_flops(lambda p, s, z: family.generate(p, s, z)[0],
                        state.g_params, state.g_state, z)
    f_d = forward_flops(lambda p, s, x: family.discriminate(p, s, x)[0],
                        state.d_params, state.d_state, x)
    n = config.train.n_critic
    if config.loss.penalty == 'gradient_penalty':
      per_iter = n * (f_g + 10 * f_d) + 3 * f_g + 2 * f_d
    elif n > 1:  # Each critic update draws its own fakes (SNGAN's n_dis).
      per_iter = n * (f_g + 6 * f_d) + 3 * f_g + 2 * f_d
    else:
      per_iter = 3 * f_g + 9 * f_d
  return {'fwd_gflop_G': f_g / 1e9, 'fwd_gflop_D': f_d / 1e9,
          'gflop_per_iter': per_iter / 1e9}


def peak_gflops(n: int = 4096, repeats: int = 5, dtype=jnp.float32) -> float:
  """GFLOP/s of an n x n matmul on the default device (random operands).

  At default precision, as the models run: on a GPU a float32 matmul may use
  TF32 on the tensor cores, as XLA's default precision allows.
  """
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), dtype)
  dot = jax.jit(jnp.dot)
  dot(a, b).block_until_ready()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    dot(a, b).block_until_ready()
    times.append(time.perf_counter() - start)
  return 2 * n**3 / float(np.median(times)) / 1e9


def _gan_dataset(shape):
  """The workload's training data: MNIST (embedded split) for grey
  workloads; RGB ones get random images held in memory, which go through
  the same in-memory fetch as tfds datasets and image folders."""
  if shape[-1] == 1:
    return input_pipeline.embedded_mnist(shape[:2])
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (10_000,) + shape, np.uint8)
  return input_pipeline._in_memory('random', images, np.zeros(10_000), 0,  # pylint: disable=protected-access
                                   None)


# Random A|B images written for the paired input pipeline's timing.
PAIRED_EXAMPLES = 64


def _paired_data(config, folder):
  """An aligned A|B folder of random images at the workload's load size,
  read by the family's own input pipeline (resize, crop, flip)."""
  config = copy.deepcopy(config)
  sr = config.data.name == 'super_resolution'
  single = sr or config.data.name == 'inpainting'  # Images, not A|B pairs.
  # Super-resolution crops HR images (BSD100's are 481x321).
  size = 4 * config.data.crop_size // 3 if sr else config.data.load_size
  train_dir = pathlib.Path(folder) / 'train'
  train_dir.mkdir(parents=True)
  rng = np.random.default_rng(0)
  for i in range(PAIRED_EXAMPLES):
    writers.save_image(str(train_dir / f'{i:03d}.png'),
                       rng.integers(0, 256, (size, (1 if single else 2) *
                                             size, 3), np.uint8))
  config.data.data_dir = str(train_dir if sr else folder)
  config.data.eval_set = ''
  return families.get('paired').create_data(config)


def _unpaired_data(config, folder):
  """trainA/ and trainB/ folders of random images at the load size."""
  config = copy.deepcopy(config)
  rng = np.random.default_rng(0)
  size = config.data.load_size
  for domain in ('trainA', 'trainB'):
    (pathlib.Path(folder) / domain).mkdir(parents=True)
    for i in range(PAIRED_EXAMPLES):
      writers.save_image(str(pathlib.Path(folder) / domain / f'{i:03d}.png'),
                         rng.integers(0, 256, (size, size, 3), np.uint8))
  config.data.data_dir = str(folder)
  return families.get('unpaired').create_data(config)


class JaxganRun:
  """One workload compiled once, timed as often as asked."""

  def __init__(self, name, conv_impl, steps_per_dispatch, dtype,
               batch_size=None):
    self.name, self.k = name, steps_per_dispatch
    self.family = WORKLOADS[name].family
    self.config, self.spec = workload_config(name, conv_impl, dtype,
                                             batch_size)
    self.trainer = train.Trainer(self.config, self.spec,
                                 devices=jax.devices()[:1])
    self.state = self.trainer.init_state()
    rng = np.random.default_rng(0)
    batch = self.config.train.batch_size
    if self.family == 'gan':
      shapes = {'image': (self.config.train.n_critic, batch) + self.spec}
    elif self.family == 'unpaired':
      shapes = {d: (batch,) + self.spec[d] for d in ('A', 'B')}
    else:  # Inpainting's batches hold the images alone.
      keys = (('target',) if self.config.data.name == 'inpainting' else
              ('source', 'target'))
      shapes = {k: (batch,) + self.spec[k] for k in keys}
    self.batches = [{k: rng.integers(0, 256, v, np.uint8)
                     for k, v in shapes.items()} for _ in range(self.k)]
    start = time.perf_counter()
    self._run(self.batches)
    # The first call also chooses the convolution forms (timed, or from the
    # cache): counted apart.
    report = self.trainer.conv_forms
    self.tuning_s = report.seconds if report else 0.0
    self.forms = report.forms if report else {}
    self.compile_s = time.perf_counter() - start - self.tuning_s
    self.memory_mib = self._memory_mib()

  def _run(self, batches):
    if self.k == 1:
      self.state, metrics = self.trainer.step(self.state, batches[0])
    else:
      self.state, metrics = self.trainer.steps(self.state, batches)
    jax.block_until_ready(metrics)
    return metrics

  def compiled_iteration(self):
    """The compiled executable of one iteration (`Trainer.step`)."""
    trainer = self.trainer
    lead = trainer.family.batch_axis
    return trainer._step.lower(  # pylint: disable=protected-access
        self.state, trainer._inputs(self.batches[0], lead), None).compile()  # pylint: disable=protected-access

  def _memory_mib(self):
    trainer = self.trainer
    # XLA counts a scan's body once: its count is taken of one iteration.
    one = self.compiled_iteration()
    if self.k == 1:
      compiled = one
    else:
      stacked = {k: np.stack([b[k] for b in self.batches])
                 for k in self.batches[0]}
      compiled = trainer._steps.lower(  # pylint: disable=protected-access
          self.state, trainer._inputs(stacked, trainer.family.batch_axis + 1),  # pylint: disable=protected-access
          None).compile()
    self.xla_gflop = one.cost_analysis().get('flops', float('nan')) / 1e9
    m = compiled.memory_analysis()
    total = (m.argument_size_in_bytes + m.output_size_in_bytes -
             m.alias_size_in_bytes + m.temp_size_in_bytes)
    return total / 2**20

  def time(self, repeats) -> np.ndarray:
    """Seconds per iteration of `repeats` dispatches."""
    times = []
    for _ in range(repeats):
      start = time.perf_counter()
      self._run(self.batches)
      times.append((time.perf_counter() - start) / self.k)
    return np.array(times)

  def time_pipeline(self, iterations) -> tuple[float, float]:
    """(data-only img/s, end-to-end img/s) with the real input pipeline."""
    with tempfile.TemporaryDirectory() as folder:
      if self.family == 'gan':
        dataset = _gan_dataset(self.spec)
        batches = lambda: input_pipeline.batch_iterator(dataset, self.config)  # pylint: disable=unnecessary-lambda-assignment
      elif self.family == 'unpaired':
        data = _unpaired_data(self.config, folder)
        batches = lambda: self.trainer.family.batches(data, 0)  # pylint: disable=unnecessary-lambda-assignment
      else:
        data = _paired_data(self.config, folder)
        batches = lambda: data.batches(0)  # pylint: disable=unnecessary-lambda-assignment
      batch = self.config.train.batch_size
      it = batches()
      next(it)
      start = time.perf_counter()
      for _ in range(iterations * self.k):
        next(it)
      data_only = batch * iterations * self.k / (time.perf_counter() - start)
      it = batches()
      self._run([next(it) for _ in range(self.k)])
      start = time.perf_counter()
      for _ in range(iterations):
        self._run([next(it) for _ in range(self.k)])
      e2e = batch * iterations * self.k / (time.perf_counter() - start)
    return data_only, e2e


def run_torch(name, repeats) -> dict:
  """One run of the PyTorch reference; its JSON result.

  On the CPU the reference script itself runs (--torch_bench for the noise
  GANs, --torch_translation_bench for pix2pix, at the workload's batch and
  size); on a GPU `torch_device.py` runs its models and steps with CUDA as
  the default device, under bf16 autocast when jaxgan computes in bfloat16.
  """
  w = WORKLOADS[name]
  bench, args = FLAGS.torch_bench, ['--model', w.torch_model]
  if w.family in ('paired', 'unpaired'):
    bench = FLAGS.torch_translation_bench
    args += ['--batch', str(w.batch), '--size', str(w.shape[0])]
  if jax.default_backend() == 'cpu':
    cmd = [FLAGS.torch_python, bench] + args + ['--no_flop_counter']
  else:
    cmd = [FLAGS.torch_python,
           os.path.join(os.path.dirname(__file__), 'torch_device.py'),
           '--bench', bench] + args
    if FLAGS.dtype == 'bfloat16':
      cmd.append('--autocast')
  if repeats:
    cmd += ['--steps', str(repeats)]
  # PyTorch runs as started, without the tunable jaxgan's commands add.
  out = subprocess.run(cmd, capture_output=True, text=True, check=False,
                       env=hugepages.without_tunable(os.environ))
  if out.returncode:
    raise RuntimeError(f'{" ".join(cmd)} failed:\n{out.stderr[-2000:]}')
  return json.loads(out.stdout.strip().splitlines()[-1])


def _busy_cpu_seconds():
  with open('/proc/stat') as f:
    fields = [int(v) for v in f.readline().split()[1:]]
  return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / (
      os.sysconf('SC_CLK_TCK'))


def _own_cpu_seconds():
  r = resource.getrusage(resource.RUSAGE_SELF)
  return r.ru_utime + r.ru_stime


def _print_row(r):
  fmt = lambda v, spec: format(v, spec) if v is not None else '-'  # pylint: disable=unnecessary-lambda-assignment
  print(f'{r["model"]:<14} {r["conv_impl"]:<6} {r["steps_per_dispatch"]:>3} '
        f'{r["imgs_per_sec"]:>8.1f} {r["sec_per_iter_median"]:>8.4f} '
        f'{r["sec_per_iter_p10"]:>7.4f}-{r["sec_per_iter_p90"]:<7.4f} '
        f'{r["compile_and_first_call_s"]:>7.1f} {r["gflop_per_iter"]:>8.2f} '
        f'{r["achieved_gflops"]:>8.1f} {100 * r["share_of_peak"]:>5.1f}% '
        + (f'(bf16 peak: {100 * r["share_of_bf16_peak"]:.2f}%) '
           if r['share_of_bf16_peak'] is not None else '') +
        f'{r["xla_gflop_per_iter"]:>7.2f} {r["xla_memory_mib"]:>8.1f} '
        f'{fmt(r["e2e_imgs_per_sec"], ">9.1f")} '
        f'{fmt(r["data_only_imgs_per_sec"], ">10.0f")} '
        f'{fmt(r["torch_sec_per_iter"], ">10.4f")} '
        f'{fmt(r["speedup_vs_torch"], ">6.2f")}x', flush=True)
  if r['other_cpu_frac'] > 0.1:
    print(f'  warning: other processes used {100 * r["other_cpu_frac"]:.0f}%'
          ' of the CPUs while this row was timed; it is no baseline.',
          flush=True)
  if FLAGS.json:
    with open(FLAGS.json, 'a') as f:
      f.write(json.dumps(r) + '\n')


def main(argv):
  del argv
  unknown = sorted(set(FLAGS.models) - set(WORKLOADS))
  if unknown:
    raise app.UsageError(f'unknown --models {unknown}: choose from '
                         f'{sorted(WORKLOADS)}')
  if FLAGS.torch_python:
    for flag in ('torch_bench', 'torch_translation_bench'):
      if not os.path.exists(FLAGS[flag].value):
        raise app.UsageError(f'--{flag} {FLAGS[flag].value} does not exist')
  on_cpu = jax.default_backend() == 'cpu'
  # An accelerator needs a larger matmul to reach its peak; its bf16 peak is
  # what mixed precision is measured against.
  peak = peak_gflops(4096 if on_cpu else 8192)
  peak_bf16 = None if on_cpu else peak_gflops(8192, dtype=jnp.bfloat16)
  device = jax.devices()[0]
  cpu = conv_forms.machine()['cpu']
  print(f'device: {device.device_kind} ({jax.default_backend()}, '
        f'{os.cpu_count()} CPUs: {cpu.get("model_name") or cpu["processor"]}, '
        f'family {cpu.get("family")} model {cpu.get("model")}'
        f'{", AVX-512" if cpu.get("avx512f") else ""}), XLA_FLAGS='
        f'{os.environ.get("XLA_FLAGS", "")!r}, jax {jax.__version__}; '
        'float32 matmul peak '
        f'{peak:.1f} GFLOP/s' + (f', bfloat16 {peak_bf16:.1f} GFLOP/s'
                                 if peak_bf16 else ''), flush=True)
  header = (f'{"model":<14} {"impl":<6} {"k":>3} {"img/s":>8} {"s/iter":>8} '
            f'{"p10-p90":>15} {"compile":>7} {"GFLOP/it":>8} {"GFLOP/s":>8} '
            f'{"%peak":>6} {"XLA GF":>7} {"mem MiB":>8} {"e2e img/s":>9} '
            f'{"data img/s":>10} {"torch s/it":>10} {"speedup":>7}')
  print(header, flush=True)
  for name in FLAGS.models:
    flops = model_flops(name)
    repeats = FLAGS.repeats or WORKLOADS[name].repeats
    runs = [JaxganRun(name, impl, int(k), FLAGS.dtype)
            for impl in FLAGS.conv_impl for k in FLAGS.steps_per_dispatch]
    jax_times = [[] for _ in runs]
    torch_results = []
    busy = own = wall = 0.0
    for _ in range(FLAGS.rounds):
      for i, run in enumerate(runs):
        # One untimed dispatch a round, as the PyTorch reference's warm-up
        # steps in each of its runs: the first iteration after the other
        # framework's run took 1.6x as long (srgan96, benchmarks/README.md
        # "Huge pages").
        run.time(1)
        b0, o0, w0 = _busy_cpu_seconds(), _own_cpu_seconds(), time.time()
        jax_times[i].append(run.time(max(1, repeats // run.k)))
        busy += _busy_cpu_seconds() - b0
        own += _own_cpu_seconds() - o0
        wall += time.time() - w0
      if FLAGS.torch_python and WORKLOADS[name].torch_model:
        torch_results.append(run_torch(name, FLAGS.repeats))
    # CPU used by other processes while jaxgan was timed: a busy machine
    # makes no baseline.
    other = max(0.0, busy - own) / (wall * (os.cpu_count() or 1))
    torch_s = (float(np.median([r['sec_per_step_median']
                                for r in torch_results]))
               if torch_results else None)
    for run, times in zip(runs, jax_times):
      times = np.concatenate(times)
      median = float(np.median(times))
      data_only = e2e = None
      if FLAGS.pipeline:
        data_only, e2e = run.time_pipeline(max(1, repeats // run.k))
      row = {
          'model': name, 'conv_impl': layers.resolve_conv_impl(
              run.config.model.conv_impl), 'steps_per_dispatch': run.k,
          'dtype': FLAGS.dtype, 'batch': run.config.train.batch_size,
          'family': run.family, 'n_critic': run.config.train.get('n_critic'),
          'iterations': len(times) * run.k,
          'sec_per_iter_median': median,
          # Each dispatch's, in order (rounds one after another).
          'sec_per_iter_each': [round(float(t), 4) for t in times],
          'sec_per_iter_p10': float(np.percentile(times, 10)),
          'sec_per_iter_p90': float(np.percentile(times, 90)),
          'imgs_per_sec': run.config.train.batch_size / median,
          'compile_and_first_call_s': run.compile_s,
          'conv_tuning_s': run.tuning_s, 'conv_forms': run.forms,
          **flops,
          'achieved_gflops': flops['gflop_per_iter'] / median,
          'peak_gflops': peak,
          'share_of_peak': flops['gflop_per_iter'] / median / peak,
          'peak_bf16_gflops': peak_bf16,
          'share_of_bf16_peak': (flops['gflop_per_iter'] / median / peak_bf16
                                 if peak_bf16 else None),
          'xla_gflop_per_iter': run.xla_gflop,
          'xla_memory_mib': run.memory_mib,
          'e2e_imgs_per_sec': e2e, 'data_only_imgs_per_sec': data_only,
          'other_cpu_frac': other,
          'torch_sec_per_iter': torch_s,
          'torch_runs': torch_results,
          'speedup_vs_torch': torch_s / median if torch_s else None,
          'traces': run.trainer.trace_count,
          'backend': jax.default_backend(), 'device': device.device_kind,
          'jax': jax.__version__, 'cpu': conv_forms.machine()['cpu'],
          'xla_flags': os.environ.get('XLA_FLAGS', ''),
      }
      _print_row(row)
  sys.stdout.flush()


if __name__ == '__main__':
  app.run(main)
