"""MetricWriter: metrics.jsonl, resume truncation, bucket-style rewriting."""

import json

import ml_collections
import pytest

from jaxgan import writers


@pytest.mark.parametrize('remote', [False, True])
def test_metrics_survive_a_resume(tmp_path, monkeypatch, remote):
  # remote: what a gs:// workdir does (no appends: the file is rewritten).
  monkeypatch.setattr(writers, 'is_remote', lambda path: remote)
  writer = writers.MetricWriter(str(tmp_path))
  for step in range(1, 6):
    writer.write_scalars(step, {'loss': float(step)})
  writer.write_config(ml_collections.ConfigDict({'a': 1}))
  writer.close()
  # Resumed from a checkpoint of step 3: steps 4 and 5 will be redone.
  writer = writers.MetricWriter(str(tmp_path))
  writer.drop_after(3)
  writer.write_scalars(4, {'loss': 40.0})
  writer.close()
  records = [json.loads(l) for l in
             (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  assert [(r['step'], r['loss']) for r in records] == [
      (1, 1.0), (2, 2.0), (3, 3.0), (4, 40.0)]
  assert json.loads((tmp_path / 'config.json').read_text()) == {'a': 1}
  assert list((tmp_path / 'tensorboard').iterdir())


def test_disabled_writer_writes_nothing(tmp_path):
  writer = writers.MetricWriter(str(tmp_path / 'run'), enabled=False)
  writer.write_scalars(1, {'loss': 1.0})
  writer.drop_after(0)
  writer.close()
  assert not (tmp_path / 'run').exists()
