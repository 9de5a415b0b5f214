"""Decentralised training on the ensemble axis: topologies, shards, PmSGD / DmSGD / DecentLaM
(Yuan et al. 2021) and the steady state of the least-squares problem of DL-F1."""
