"""The paper's benchmarks, one module each (BFCL: one package), each a class implementing
`soce_bo.evaluate.benchmark.Benchmark` and built from conf/benchmark/<name>.yaml.

`files.py` (required files, JSON lines, hashed dev/test splits) and `scoring.py` (text scorers)
are shared by all of them, and by the zoo's benchmark (`soce_bo.zoo.benchmark`).
"""
