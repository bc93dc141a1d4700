r"""Runs the PyTorch reference's workloads on a GPU.

  python benchmarks/torch_device.py --bench=../shared/bench/torch_gan_bench.py \
      --model=dcgan64 [--steps=50] [--autocast]
  python benchmarks/torch_device.py \
      --bench=../shared/bench/torch_translation_bench.py --model=pix2pix256 \
      [--batch=1] [--size=256]

`../shared/bench/torch_gan_bench.py` and `torch_translation_bench.py` are
written for the CPU: their tensors are made on the default device. This script imports its models, training steps
and FLOP formula unchanged and runs them with CUDA as the default device, so
parameters, labels, noise and the pool of random real batches all live on
the GPU. Each timed step ends with `torch.cuda.synchronize()` (jaxgan's
timing blocks on every iteration too), and the JSON line has the reference's
keys (`sec_per_step_median`, `imgs_per_sec`, ...).

PyTorch's numerics are its defaults (plain eager, no torch.compile): its
convolutions may use TF32 (`torch.backends.cudnn.allow_tf32` is on by
default), its float32 matmuls do not unless --matmul_precision=high.
--autocast runs each step under `torch.autocast('cuda', torch.bfloat16)`, the
PyTorch counterpart of jaxgan's `--config.dtype=bfloat16`.
"""

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time

import torch


def load_reference(path):
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _time_steps(one_step, steps, warmup, batch, flops) -> dict:
  """Times `steps` calls of one_step() -> (loss_D, loss_G) after `warmup`
  untimed ones; the reference's JSON keys for them."""
  for _ in range(warmup):
    one_step()
  times = []
  for _ in range(steps):
    start = time.perf_counter()
    loss_d, loss_g = one_step()
    times.append(time.perf_counter() - start)
  loss_d, loss_g = float(loss_d), float(loss_g)
  if not (loss_d == loss_d and loss_g == loss_g):
    raise FloatingPointError(f'non-finite loss: D={loss_d} G={loss_g}')
  med, srt = statistics.median(times), sorted(times)
  return {
      'steps': steps, 'batch': batch,
      'matmul_precision': torch.get_float32_matmul_precision(),
      'cudnn_allow_tf32': torch.backends.cudnn.allow_tf32,
      'sec_per_step_median': med, 'imgs_per_sec': batch / med,
      'sec_per_step_p10': srt[int(0.1 * (len(srt) - 1))],
      'sec_per_step_p90': srt[int(0.9 * (len(srt) - 1))],
      'gflop_per_step': flops / 1e9, 'achieved_gflops': flops / med / 1e9,
      'final_loss_D': loss_d, 'final_loss_G': loss_g,
      'torch': torch.__version__,
  }


def run(ref, model, steps, warmup, seed, autocast):
  ref.seed_everything(seed)
  batch = ref.DEFAULT_BATCH[model]
  netG, netD, step, real_shape, noise_shape, (lo, hi) = ref.build(
      model, batch, 'none')
  netG.train()
  netD.train()
  n_pool = max(4, step.real_batches_per_step)
  gen = torch.Generator(device='cuda').manual_seed(seed + 1)
  pool = [torch.rand((batch,) + real_shape, generator=gen, device='cuda') *
          (hi - lo) + lo for _ in range(n_pool)]
  counter = [0]

  def next_real():
    x = pool[counter[0] % n_pool]
    counter[0] += 1
    return x

  if autocast and hasattr(step, 'criterion'):
    # Autocast refuses BCELoss on bf16 probabilities; the usual workaround
    # computes the loss in float32 outside autocast.
    bce = step.criterion

    def criterion(output, label):
      with torch.autocast('cuda', enabled=False):
        return bce(output.float(), label.float())
    step.criterion = criterion

  f_g, _ = ref.forward_flops(netG, torch.randn((batch,) + noise_shape))
  f_d, _ = ref.forward_flops(netD, pool[0])
  flops = ref.model_flops_per_step(model, f_g, f_d)

  def one_step():
    with torch.autocast('cuda', torch.bfloat16, enabled=autocast):
      out = step(next_real)
    torch.cuda.synchronize()
    return out

  return {'model': model, 'device': 'cuda',
          'gpu': torch.cuda.get_device_name(), 'autocast_bf16': autocast,
          **_time_steps(one_step, steps, warmup, batch, flops)}


def run_translation(ref, model, batch, size, steps, warmup, seed, autocast,
                    device='cuda'):
  """The same for torch_translation_bench.py's paired workloads (`device`
  'cpu' only for testing this function where there is no GPU)."""
  ref.seed_everything(seed)
  batch = batch or ref.DEFAULT_BATCH[model]
  size = size or ref.DEFAULT_SIZE[model]
  w = ref.build(model, batch, size)
  gen = torch.Generator(device=device).manual_seed(seed + 1)
  pool = [w.make_batch(gen) for _ in range(4)]
  f_g, _ = ref.forward_flops(w.netG, pool[0][0])
  f_d, _ = ref.forward_flops(w.netD, w.d_example(pool[0]))
  flops = w.kG * f_g + w.kD * f_d
  counter = [0]

  def one_step():
    counter[0] += 1
    with torch.autocast(device, torch.bfloat16, enabled=autocast):
      out = w.step(pool[counter[0] % len(pool)])
    if device == 'cuda':
      torch.cuda.synchronize()
    return out

  return {'model': model, 'size': size, 'device': device,
          'gpu': torch.cuda.get_device_name() if device == 'cuda' else None,
          'autocast_bf16': autocast,
          **_time_steps(one_step, steps, warmup, batch, flops)}


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  p.add_argument('--bench', required=True,
                 help='torch_gan_bench.py or torch_translation_bench.py')
  p.add_argument('--batch', type=int, help='translation workloads: the batch')
  p.add_argument('--size', type=int, help='translation workloads: the size')
  p.add_argument('--model', required=True)
  p.add_argument('--steps', type=int, default=100)
  p.add_argument('--warmup', type=int, default=10)
  p.add_argument('--seed', type=int, default=0)
  p.add_argument('--autocast', action='store_true')
  p.add_argument('--matmul_precision', default=None,
                 choices=('highest', 'high', 'medium'))
  args = p.parse_args(argv)
  if not torch.cuda.is_available():
    p.error('no CUDA device: the CPU runs use torch_gan_bench.py itself')
  if args.matmul_precision:
    torch.set_float32_matmul_precision(args.matmul_precision)
  ref = load_reference(args.bench)
  torch.set_default_device('cuda')
  if hasattr(ref, 'DEFAULT_SIZE'):  # torch_translation_bench.py
    result = run_translation(ref, args.model, args.batch, args.size,
                             args.steps, args.warmup, args.seed, args.autocast)
  else:
    result = run(ref, args.model, args.steps, args.warmup, args.seed,
                 args.autocast)
  print(json.dumps(result), flush=True)
  return 0


if __name__ == '__main__':
  sys.exit(main())
