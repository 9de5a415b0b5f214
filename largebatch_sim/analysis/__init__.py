"""Analysis of results: noise scale and Hessian products, Pareto and critical-batch fits, the
largest stable rate, the systems model of data parallelism, the noisy quadratic model."""
