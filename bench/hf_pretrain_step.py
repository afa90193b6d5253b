#!/usr/bin/env python3
"""The same ELECTRA pre-training step in Python PyTorch with Hugging Face modules: the peer of
bench/pretrain-step.cjs (CPU) and bench/gpu-step.cjs (CUDA).

Generator (ElectraForMaskedLM) and discriminator (ElectraForPreTraining) share the embedding
block; masking with the fixed budget int((p + 0.005) * L), 85% [MASK]; the generator's output
only at the selected positions; Gumbel-max sampling; loss = MLM + 50 RTD; AdamW (eps 1e-6,
weight decay 0.01), gradient clipping at 1.0. Prints one JSON line with ms/step.

  python3 bench/hf_pretrain_step.py --preset small --batch 128 --len 128 --device cpu --threads 2
"""
import argparse, json, math, time

import torch
import torch.nn.functional as F
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

PRESETS = {
    "tiny": dict(embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128, frac=0.5),
    "small": dict(embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024, frac=0.25),
    "base": dict(embedding_size=768, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, frac=1 / 3),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="small")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--len", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--fused", action="store_true", help="fused AdamW (CUDA)")
    ap.add_argument("--no-dropout", action="store_true")
    ap.add_argument("--profile", type=int, default=0, help="then N steps under the Kineto profiler: time per kernel (CUDA) or operator (CPU)")
    ap.add_argument("--profile-all", action="store_true", help="the profile's every entry, not its largest 40 (bench/op-census.cjs)")
    ap.add_argument("--profile-shapes", action="store_true", help="CPU operators summed by name and input shapes (bench/op-census.cjs)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    p = dict(PRESETS[a.preset])
    frac = p.pop("frac")
    common = dict(vocab_size=a.vocab, max_position_embeddings=max(512, a.len), attn_implementation="sdpa")
    if a.no_dropout:
        common.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    dcfg = ElectraConfig(**p, **common)
    gh = max(1, round(p["hidden_size"] * frac))
    gcfg = ElectraConfig(**{**p, "hidden_size": gh, "num_attention_heads": max(1, gh // 64), "intermediate_size": 4 * gh}, **common)
    dev = torch.device(a.device)
    disc = ElectraForPreTraining(dcfg).to(dev)
    gen = ElectraForMaskedLM(gcfg).to(dev)
    gen.electra.embeddings = disc.electra.embeddings  # shared embedding block
    gen.generator_lm_head.weight = disc.electra.embeddings.word_embeddings.weight
    params, seen = [], set()
    for m in (disc, gen):
        for n, q in m.named_parameters():
            if id(q) not in seen:
                seen.add(id(q))
                params.append((n, q))
    groups = [
        {"params": [q for n, q in params if "LayerNorm" not in n and not n.endswith("bias")], "weight_decay": 0.01},
        {"params": [q for n, q in params if "LayerNorm" in n or n.endswith("bias")], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=5e-4, eps=1e-6, fused=a.fused or None)
    B, T, V = a.batch, a.len, a.vocab
    N = int((0.15 + 0.005) * T)
    g = torch.Generator(device="cpu").manual_seed(0)
    ids = torch.randint(5, V, (B, T), generator=g)
    ids[:, 0] = 2
    ids[:, -1] = 3
    ids = ids.to(dev)
    mask = torch.ones(B, T, dtype=torch.long, device=dev)
    MASK, CLS, SEP, PAD = 4, 2, 3, 0

    def step():
        with torch.no_grad():
            maskable = mask.bool() & (ids != CLS) & (ids != SEP) & (ids != PAD) & (ids != MASK)
            k = torch.clamp((maskable.sum(1).float() * 0.15).round().long(), 1, N)
            scores = torch.rand(B, T, device=dev).masked_fill(~maskable, -1.0)
            pos = scores.topk(N, 1).indices
            w = (torch.arange(N, device=dev)[None] < k[:, None]).float()
            orig = ids.gather(1, pos)
            r = torch.rand(B, N, device=dev)
            inp = ids.scatter(1, pos, torch.where((w > 0) & (r < 0.85), torch.full_like(orig, MASK), orig))
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
            h = gen.electra(input_ids=inp, attention_mask=mask).last_hidden_state
            hs = h.gather(1, pos[..., None].expand(B, N, h.shape[-1]))
            logits = gen.generator_lm_head(gen.generator_predictions(hs)).float()
            mlm = (F.cross_entropy(logits.reshape(-1, V), orig.reshape(-1), reduction="none").view(B, N) * w).sum() / (w.sum() + 1e-6)
            with torch.no_grad():
                u = torch.rand_like(logits)
                sampled = (logits + -torch.log(-torch.log(u + 1e-9) + 1e-9)).argmax(-1)
                fake = ids.scatter(1, pos, torch.where(w > 0, sampled, orig))
                labels = (fake != ids).float()
            dl = disc(input_ids=fake, attention_mask=mask).logits.float()
            rtd = F.binary_cross_entropy_with_logits(dl, labels, reduction="none").mean()
            loss = mlm + 50 * rtd
        loss.backward()
        torch.nn.utils.clip_grad_norm_([q for _, q in params], 1.0)
        opt.step()
        opt.zero_grad()  # PyTorch's default: gradients set to none (as ours)
        return loss

    for _ in range(a.warmup):
        step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = step()
    loss.item()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) * 1000 / a.steps
    out = {"impl": "hf-transformers", "ms_per_step": ms, "tokens_per_s": B * T / ms * 1000, "loss": float(loss.detach()), "threads": torch.get_num_threads(),
           "torch": torch.__version__}
    if dev.type == "cuda":
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2**30
    if a.profile > 0:
        out["profile"] = profile_steps(step, a.profile, dev, a.profile_all, a.profile_shapes)
    print(json.dumps(out))


def profile_steps(step, n, dev, every=False, shapes=False):
    """Sums of Kineto's events by name over n steps, as the addon's profileStop() reports them:
    on CUDA the GPU kernels and copies (device time), on the CPU the operators (time including
    the operators they call)."""
    from torch.profiler import profile, ProfilerActivity
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    with profile(activities=acts, record_shapes=shapes) as p:
        for _ in range(n):
            step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
    cpu, gpu = {}, {}
    for e in p.profiler.kineto_results.events():
        if e.is_hidden_event():
            continue
        on_gpu = str(e.device_type()).endswith("CUDA")
        d = gpu if on_gpu else cpu
        name = e.name()
        if shapes and not on_gpu and e.shapes():
            name += " [" + ", ".join("[" + ", ".join(str(x) for x in sh) + "]" for sh in e.shapes()) + "]"
        ms, count = d.get(name, (0.0, 0))
        d[name] = (ms + e.duration_ns() / 1e6, count + 1)
    # Host-named ranges (the optimizer's record_function) also appear as GPU-side spans around
    # their kernels: kernels only, as the addon's profileStop() counts them.
    gpu = {k: v for k, v in gpu.items() if k not in cpu}
    use = gpu if gpu else cpu
    entries = sorted(({"name": k, "ms": v[0], "count": v[1]} for k, v in use.items()), key=lambda x: -x["ms"])
    total = sum(x["ms"] for x in entries) if gpu else (entries[0]["ms"] if entries else 0.0)
    return {"device": "cuda" if gpu else "cpu", "totalMs": total, "steps": n, "entries": entries if every else entries[:40]}


if __name__ == "__main__":
    main()
