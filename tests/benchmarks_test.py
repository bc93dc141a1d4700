"""The speed benchmark's FLOP accounting, checked against hand counts."""

import json

import numpy as np
import pytest

from benchmarks import cyclegan_table
from benchmarks import sr_figure
from benchmarks import step_anatomy
from benchmarks import torch_device
from benchmarks import train_speed


def test_mlp_flops_are_twice_the_multiply_adds():
  flops = train_speed.model_flops('mlp_mnist')
  batch = 128
  g = 2 * batch * (64 * 128 + 128 * 256 + 256 * 512 + 512 * 1024 + 1024 * 784)
  d = 2 * batch * (784 * 512 + 512 * 256 + 256 * 128 + 128 * 1)
  assert flops['fwd_gflop_G'] * 1e9 == g
  assert flops['fwd_gflop_D'] * 1e9 == d
  assert abs(flops['gflop_per_iter'] * 1e9 - (3 * g + 9 * d)) < 1


def test_conv_flops_count_what_pytorch_counts():
  # DCGAN 64x64x3, batch 64: a transposed conv costs input pixels x 16 taps
  # x C_in x C_out multiply-adds (no dilation zeros), a conv output pixels x
  # 16 x C_in x C_out; both networks end or start with a dense layer.
  b = 64
  g = 2 * b * (100 * 4 * 4 * 512 + 4 * 4 * 16 * 512 * 256 +
               8 * 8 * 16 * 256 * 128 + 16 * 16 * 16 * 128 * 64 +
               32 * 32 * 16 * 64 * 3)
  d = 2 * b * (32 * 32 * 16 * 3 * 64 + 16 * 16 * 16 * 64 * 128 +
               8 * 8 * 16 * 128 * 256 + 4 * 4 * 16 * 256 * 512 +
               4 * 4 * 512)
  flops = train_speed.model_flops('dcgan64')
  assert flops['fwd_gflop_G'] * 1e9 == g
  assert flops['fwd_gflop_D'] * 1e9 == d
  # WGAN-GP: n_critic (F_G + 10 F_D) + 3 F_G + 2 F_D.
  wgan = train_speed.model_flops('wgan_gp32')
  f_g, f_d = wgan['fwd_gflop_G'], wgan['fwd_gflop_D']
  assert abs(wgan['gflop_per_iter'] - (5 * (f_g + 10 * f_d) + 3 * f_g +
                                       2 * f_d)) < 1e-9


def test_pix2pix_flops_count_what_pytorch_counts():
  # unet_32 (5 levels, ngf 64) and the n_layers=3 PatchGAN on the 6-channel
  # pair, batch 16 at 32x32: a strided conv costs output pixels x 16 taps x
  # C_in x C_out, a transposed conv input pixels x 16 x C_in x C_out, the
  # decoder's inputs holding the skip channels; the same numbers as
  # torch_translation_bench.py --model pix2pix256 --batch 16 --size 32.
  b = 16
  encoder = (16 * 16 * 16 * 3 * 64 + 8 * 8 * 16 * 64 * 128 +
             4 * 4 * 16 * 128 * 256 + 2 * 2 * 16 * 256 * 512 +
             1 * 1 * 16 * 512 * 512)
  decoder = (1 * 1 * 16 * 512 * 512 + 2 * 2 * 16 * 1024 * 256 +
             4 * 4 * 16 * 512 * 128 + 8 * 8 * 16 * 256 * 64 +
             16 * 16 * 16 * 128 * 3)
  d = 2 * b * (16 * 16 * 16 * 6 * 64 + 8 * 8 * 16 * 64 * 128 +
               4 * 4 * 16 * 128 * 256 + 3 * 3 * 16 * 256 * 512 +
               2 * 2 * 16 * 512 * 1)
  flops = train_speed.model_flops('pix2pix32_b16')
  assert flops['fwd_gflop_G'] * 1e9 == 2 * b * (encoder + decoder)
  assert flops['fwd_gflop_D'] * 1e9 == d
  assert abs(flops['gflop_per_iter'] * 1e9 -
             (3 * 2 * b * (encoder + decoder) + 8 * d)) < 1


def test_context_encoder_flops_count_what_pytorch_counts():
  # train.lua's netG / netD at 128x128 with the 64x64 centre patch, batch
  # 16, as torch_translation_bench.py --model context_encoder128 counts
  # them: a strided conv output pixels x 16 taps x C_in x C_out, a
  # transposed one input pixels x 16 x C_in x C_out, the 4x4 valid
  # bottleneck (and the 1x1 -> 4x4 one) 16 x 512 x 4000.
  b = 16
  encoder = (64 * 64 * 16 * 3 * 64 + 32 * 32 * 16 * 64 * 64 +
             16 * 16 * 16 * 64 * 128 + 8 * 8 * 16 * 128 * 256 +
             4 * 4 * 16 * 256 * 512 + 16 * 512 * 4000)
  decoder = (16 * 4000 * 512 + 4 * 4 * 16 * 512 * 256 +
             8 * 8 * 16 * 256 * 128 + 16 * 16 * 16 * 128 * 64 +
             32 * 32 * 16 * 64 * 3)
  d = (32 * 32 * 16 * 3 * 64 + 16 * 16 * 16 * 64 * 128 +
       8 * 8 * 16 * 128 * 256 + 4 * 4 * 16 * 256 * 512 + 16 * 512)
  flops = train_speed.model_flops('context_encoder128')
  assert flops['fwd_gflop_G'] * 1e9 == 2 * b * (encoder + decoder)
  assert flops['fwd_gflop_D'] * 1e9 == 2 * b * d


def test_cyclegan_flops_count_what_pytorch_counts():
  # resnet_9blocks at 256x256 (batch 1) as torch_translation_bench.py
  # --model cyclegan256 counts it: output pixels x taps x C_in x C_out, the
  # 3x3 transposed convolutions input pixels x 9 x C_in x C_out; the 70x70
  # PatchGAN's 4x4 layers (stride 2 to 32x32, then 31x31 and 30x30).
  g = (2 * 256 * 256 * 49 * 3 * 64 + 128 * 128 * 9 * 64 * 128 +
       64 * 64 * 9 * 128 * 256 + 18 * 64 * 64 * 9 * 256 * 256 +
       64 * 64 * 9 * 256 * 128 + 128 * 128 * 9 * 128 * 64)
  d = (128 * 128 * 16 * 3 * 64 + 64 * 64 * 16 * 64 * 128 +
       32 * 32 * 16 * 128 * 256 + 31 * 31 * 16 * 256 * 512 +
       30 * 30 * 16 * 512)
  flops = train_speed.model_flops('cyclegan256')
  assert flops['fwd_gflop_G'] * 1e9 == 2 * g
  assert flops['fwd_gflop_D'] * 1e9 == 2 * d
  # The reference's iteration: 18 F_G + 16 F_D.
  assert flops['gflop_per_iter'] == pytest.approx(
      (18 * 2 * g + 16 * 2 * d) / 1e9, rel=1e-12)


def test_pix2pix_workload_runs_and_reads_its_pipeline():
  run = train_speed.JaxganRun('pix2pix32_b16', 'auto', 1, 'float32',
                              batch_size=2)
  assert run.trainer.trace_count == 1
  times = run.time(2)
  assert times.shape == (2,) and (times > 0).all()
  data_only, e2e = run.time_pipeline(2)
  assert data_only > 0 and e2e > 0
  # The timed iterations reused the one compiled step.
  assert run.trainer.trace_count == 1


def test_gpu_wrapper_runs_the_translation_reference_with_our_flop_count():
  # torch_device.run_translation on the CPU (the only difference on a GPU is
  # the device): the reference's own networks and step, and its FLOP count
  # equal to ours.
  train_speed.FLAGS.mark_as_parsed()
  ref = torch_device.load_reference(train_speed.FLAGS.torch_translation_bench)
  result = torch_device.run_translation(ref, 'pix2pix256', 16, 32, steps=1,
                                        warmup=0, seed=0, autocast=False,
                                        device='cpu')
  assert result['batch'] == 16 and result['size'] == 32
  assert result['sec_per_step_median'] > 0
  ours = train_speed.model_flops('pix2pix32_b16')['gflop_per_iter']
  assert abs(result['gflop_per_step'] - ours) < 1e-6


def test_kernel_counts_read_fusions_and_custom_calls_of_hlo_text():
  hlo = '''HloModule step

%body (p: (s32[], f32[8])) -> (s32[], f32[8]) {
  %p = (s32[], f32[8]{0}) parameter(0)
  %fusion.3 = f32[8]{0} fusion(%p), kind=kLoop, calls=%f3
  ROOT %t = (s32[], f32[8]{0}) tuple(%p, %fusion.3)
}

ENTRY %main (a: f32[64,8]) -> f32[8] {
  %a = f32[64,8]{1,0} parameter(0)
  %cc = (f32[64,8]{1,0}, s8[0]{0}) custom-call(%a), custom_call_target="__cudnn$convForward"
  %fusion = (f32[8]{0}, f32[8]{0}) fusion(%cc), kind=kInput, calls=%f1
  %fusion.1 = f32[8]{0} fusion(%fusion), kind=kLoop, calls=%f2
  %w = (s32[], f32[8]{0}) while(%fusion.1), condition=%c, body=%body
  ROOT %g = f32[8]{0} get-tuple-element(%w), index=1
}
'''
  counts = step_anatomy.kernel_counts(hlo)
  # The tuple-shaped fusion and custom call count too; the loop body's
  # fusion only among all.
  assert counts['entry_fusions'] == 2
  assert counts['entry_custom_calls'] == 1
  assert counts['all_fusions'] == 3
  assert counts['all_custom_calls'] == 1
  assert counts['custom_call_targets'] == {'__cudnn$convForward': 1}


def test_run_torch_runs_the_reference_on_cpu_and_its_gpu_wrapper_on_gpu(
    monkeypatch):
  calls = []

  class Done:
    returncode, stdout, stderr = 0, '{"sec_per_step_median": 0.5}\n', ''

  def fake_run(cmd, **unused_kwargs):
    calls.append(cmd)
    return Done()

  train_speed.FLAGS.mark_as_parsed()
  monkeypatch.setattr(train_speed.subprocess, 'run', fake_run)
  monkeypatch.setattr(train_speed.FLAGS, 'torch_python', 'py')
  assert train_speed.run_torch('dcgan64', 7) == {'sec_per_step_median': 0.5}
  assert calls[-1] == ['py', train_speed.FLAGS.torch_bench, '--model',
                       'dcgan64', '--no_flop_counter', '--steps', '7']
  # pix2pix: the translation reference at the workload's batch and size.
  train_speed.run_torch('pix2pix32_b16', 0)
  assert calls[-1] == ['py', train_speed.FLAGS.torch_translation_bench,
                       '--model', 'pix2pix256', '--batch', '16', '--size',
                       '32', '--no_flop_counter']
  # On a GPU: the wrapper that puts the reference on CUDA, under bf16
  # autocast when jaxgan computes in bfloat16.
  monkeypatch.setattr(train_speed.jax, 'default_backend', lambda: 'gpu')
  monkeypatch.setattr(train_speed.FLAGS, 'dtype', 'bfloat16')
  train_speed.run_torch('wgan_gp32', 0)
  assert calls[-1][1].endswith('benchmarks/torch_device.py')
  assert calls[-1][2:] == ['--bench', train_speed.FLAGS.torch_bench,
                           '--model', 'wgan_gp32', '--autocast']
  train_speed.run_torch('pix2pix256', 0)
  assert calls[-1][2:] == ['--bench',
                           train_speed.FLAGS.torch_translation_bench,
                           '--model', 'pix2pix256', '--batch', '1', '--size',
                           '256', '--autocast']


def test_sr_crop_figure_zooms_each_window_and_ends_with_the_hr():
  rng = np.random.default_rng(0)
  hr = {'a': rng.integers(0, 256, (20, 30, 3), np.uint8),
        'g': rng.integers(0, 256, (20, 30, 1), np.uint8)}
  blurred = {k: v // 2 for k, v in hr.items()}
  grid = sr_figure.crop_figure([('half', blurred)], hr,
                               [('a', 2, 5), ('g', 10, 20)], size=8, zoom=2)
  tile, gap = 16, sr_figure._GAP  # pylint: disable=protected-access
  assert grid.shape == (2 * tile + gap, 2 * tile + gap, 3)
  np.testing.assert_array_equal(
      grid[:tile, tile + gap:], hr['a'][2:10, 5:13].repeat(2, 0).repeat(2, 1))
  np.testing.assert_array_equal(  # A grey image in three equal channels.
      grid[tile + gap:, :tile],
      np.repeat(blurred['g'][10:18, 20:28], 3, -1).repeat(2, 0).repeat(2, 1))
  with pytest.raises(ValueError, match='outside'):
    sr_figure.crop_figure([], hr, [('a', 15, 0)], size=8, zoom=1)


def test_cyclegan_table_training_time_leaves_out_a_stop(tmp_path):
  # Log lines every 100 steps, 30 s apart; the run stopped for 2 hours
  # between steps 300 and 400 (an evaluation line has no g_loss).
  times = [0, 30, 60, 90, 90 + 7200, 90 + 7230]
  lines = [{'step': 100 * (i + 1), 'time': t, 'g_loss': 1.0}
           for i, t in enumerate(times)]
  lines.insert(3, {'step': 300, 'time': 95, 'eval/cycle': 0.1})
  (tmp_path / 'metrics.jsonl').write_text(
      ''.join(f'{json.dumps(line)}\n' for line in lines))
  assert cyclegan_table.training_time(tmp_path) == {
      'steps': 600, 'train_seconds': 150.0, 'resumed': 1}

