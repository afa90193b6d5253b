#!/usr/bin/env python3
"""The Python transformers peer of bench/embed.bench.cjs: loads the HF directory written by
bench/export_onnx.py (ElectraModel, SDPA attention unless --attn eager) and the bench's token ids, then serves timing
requests so that the bench can interleave its blocks with ours and onnxruntime's (the machine is
shared: blocks minutes apart are not comparable).

Reads JSON lines on stdin, answers one JSON line each on stdout:
  {"batch": B, "iters": n, "warmup": w}  ->  {"batch": B, "ms": [n wall times], "cpu": [n process CPU times]}
Each timing is `model(**inputs)` + masked mean pooling under torch.inference_mode(); the last
embeddings of batch B go to IDS.hf-bB.f32 (float32, row-major) for the equality check.
The first line out is {"ready": true, "torch": ..., "threads": ...}.

  echo '{"batch": 1, "iters": 20, "warmup": 5}' | python3 bench/hf_embed.py --dir HF_DIR --ids IDS.bin --len 128 --threads 2
"""
import argparse, json, sys, time

import numpy as np
import torch
from transformers import ElectraModel


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ids", required=True, help="int32 (Bmax, len), row-major; batch B uses the first B rows")
    ap.add_argument("--len", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--attn", default="sdpa", help="attn_implementation (transformers' default is sdpa)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1)
    model = ElectraModel.from_pretrained(a.dir, attn_implementation=a.attn).eval()
    all_ids = torch.from_numpy(np.fromfile(a.ids, dtype=np.int32).reshape(-1, a.len).astype(np.int64))
    print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        B = req["batch"]
        ids = all_ids[:B].contiguous()
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "token_type_ids": torch.zeros_like(ids)}

        def embed():
            h = model(**inputs).last_hidden_state
            m = inputs["attention_mask"].unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1)

        times, cpu = [], []
        with torch.inference_mode():
            for _ in range(req.get("warmup", 0)):
                e = embed()
            for _ in range(req["iters"]):
                c0, t0 = time.process_time(), time.perf_counter()
                e = embed()
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.process_time() - c0) * 1000)
        e.numpy().astype(np.float32).tofile(f"{a.ids}.hf-b{B}.f32")
        print(json.dumps({"batch": B, "ms": times, "cpu": cpu}), flush=True)


if __name__ == "__main__":
    main()
