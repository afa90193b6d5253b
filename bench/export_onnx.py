#!/usr/bin/env python3
"""Builds a seeded, randomly initialised ELECTRA body (transformers ElectraModel, no head) and
writes it twice: as a Hugging Face directory (config.json + model.safetensors + a BERT-layout
vocab.txt) that electra-node's `Electra.load(dir, {head: 'none'})` opens, and as ONNX graphs
(fp32, opset 18, dynamic batch and sequence axes, output `last_hidden_state`) for
onnxruntime-node, from both torch.onnx exporters (they give onnxruntime different graphs to fuse:
the dynamo one gets SkipLayerNormalization, the legacy one BiasGelu; neither gets an Attention
fusion). Called by bench/embed.bench.cjs; prints one JSON line.

Needs, besides torch and transformers, the PyPI packages `onnx` and `onnxscript` (the
torch.onnx exporter uses them):  python3 -m pip install onnx onnxscript
Made with torch 2.15.0, transformers 5.24.0, onnx 1.23.2, onnxscript 0.7.2.

  python3 bench/export_onnx.py --out DIR [--preset small] [--vocab 30522] [--seed 0] [--exporter dynamo,legacy]
"""
import argparse, json, os, time

import torch
from transformers import ElectraConfig, ElectraModel

# Discriminator shapes of electra-node's PRESETS (src/config/index.ts).
PRESETS = {
    "tiny": dict(embedding_size=32, hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
    "small": dict(embedding_size=128, hidden_size=256, num_hidden_layers=12, num_attention_heads=4, intermediate_size=1024),
    "base": dict(embedding_size=768, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072),
}


class Body(torch.nn.Module):
    """ElectraModel with a plain tensor output, for the exporter."""

    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, input_ids, attention_mask, token_type_ids):
        return self.m(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state


def bert_vocab(n):
    """BERT's layout ([PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103), filler words after."""
    v = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return v + [f"w{i}" for i in range(len(v), n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--preset", default="small")
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--opset", type=int, default=18)
    ap.add_argument("--exporter", default="dynamo,legacy", help="dynamo (torch.export + onnxscript), legacy (TorchScript), or both: dynamo,legacy")
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    cfg = ElectraConfig(**PRESETS[a.preset], vocab_size=a.vocab, max_position_embeddings=512, attn_implementation="sdpa")
    model = ElectraModel(cfg).eval()
    with torch.no_grad():  # seeded noise on the vectors too, so biases and LayerNorm affines are not trivial
        g = torch.Generator().manual_seed(a.seed + 1)
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=g) * 0.02)
    hf = os.path.join(a.out, "hf")
    model.save_pretrained(hf)  # transformers 5: model.safetensors
    with open(os.path.join(hf, "vocab.txt"), "w") as f:
        f.write("\n".join(bert_vocab(a.vocab)) + "\n")

    # Example inputs with one padded row, so the traced graph keeps the attention mask.
    ids = torch.randint(104, a.vocab, (2, 16), generator=torch.Generator().manual_seed(a.seed))
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    types = torch.zeros_like(ids)
    body = Body(model).eval()
    names = dict(input_names=["input_ids", "attention_mask", "token_type_ids"], output_names=["last_hidden_state"])
    onnx, secs = {}, {}
    for exporter in a.exporter.split(","):
        path = os.path.join(a.out, f"model-{exporter}.onnx")
        t0 = time.perf_counter()
        if exporter == "dynamo":
            b, t = torch.export.Dim("batch"), torch.export.Dim("sequence", max=512)
            shapes = {"input_ids": {0: b, 1: t}, "attention_mask": {0: b, 1: t}, "token_type_ids": {0: b, 1: t}}
            torch.onnx.export(body, (ids, mask, types), path, dynamo=True, opset_version=a.opset, dynamic_shapes=shapes,
                              external_data=False, **names)
        elif exporter == "legacy":
            axes = {k: {0: "batch", 1: "sequence"} for k in ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")}
            torch.onnx.export(body, (ids, mask, types), path, dynamo=False, opset_version=a.opset, dynamic_axes=axes, **names)
        else:
            raise SystemExit(f"unknown exporter {exporter}")
        onnx[exporter], secs[exporter] = path, round(time.perf_counter() - t0, 1)
    print(json.dumps({"hf_dir": hf, "onnx": onnx, "opset": a.opset, "export_s": secs,
                      "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
