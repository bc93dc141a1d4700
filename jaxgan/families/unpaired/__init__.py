"""Unpaired translation (CycleGAN, Zhu et al. 2017): two domains, no pairs.

Built part by part (issue 21): `pool.py`, the image pool of Shrivastava et
al. 2017 as state; `data.py`, the two domains' images and their two
independent orders. The family itself (`config.family = 'unpaired'`) is
registered in `jaxgan/families/__init__.py` once it trains.
"""
