"""The speed benchmark's FLOP accounting, checked against hand counts."""

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
