#!/usr/bin/env python3
"""Mean pairwise cosine of a checkpoint's word-embedding rows, by the tokens' frequency rank in a
prepared dataset (README, Pre-training runs: --generator-bias). Rows that collapse onto one
shared direction score near 1; independent random rows near 0.

usage: python3 bench/embedding-anisotropy.py CHECKPOINT_DIR [DATA_DIR]
  e.g. python3 bench/embedding-anisotropy.py runs/demo/run/checkpoint-857 runs/demo/data
"""
import json
import os
import sys

import numpy as np
from safetensors.numpy import load_file

ck = sys.argv[1]
data = sys.argv[2] if len(sys.argv) > 2 else 'runs/demo/data'
meta = json.load(open(os.path.join(data, 'meta.json')))
dtype = np.uint16 if meta['dtype'] == 'uint16' else np.uint32
T = meta['maxLength']
counts = np.zeros(meta['vocabSize'], dtype=np.int64)
for shard in meta['shards']:
    rows = np.fromfile(os.path.join(data, shard['file']), dtype=dtype).reshape(-1, T + 2)
    for r in rows:  # row = [length, length of segment A, T token ids]
        counts += np.bincount(r[2:2 + int(r[0])], minlength=len(counts))
E = load_file(os.path.join(ck, 'discriminator', 'model.safetensors'))['electra.embeddings.word_embeddings.weight'][: len(counts)]
n = E / np.linalg.norm(E, axis=1, keepdims=True)
order = np.argsort(-counts, kind='stable')
edges = [5, 200, 1000, 3000, 6000, len(counts)]
print(f'{ck}: word embeddings {E.shape}, frequencies from {data}')
for lo, hi in zip(edges, edges[1:]):
    sel = order[lo:hi]
    S = n[sel] @ n[sel].T
    iu = np.triu_indices(len(sel), 1)
    print(f'  frequency ranks {lo}-{hi} (counts {counts[sel].max()}-{counts[sel].min()}): '
          f'row norm {np.linalg.norm(E[sel], axis=1).mean():.3f}, mean pairwise cosine {S[iu].mean():.3f}')
