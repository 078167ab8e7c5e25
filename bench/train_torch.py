"""PyTorch reference for bench/train.ts: the same LoRA training step in plain PyTorch.

A Llama decoder with SmolLM2-135M's shapes (RoPE with HF rotate_half, grouped-query attention
through scaled_dot_product_attention(is_causal=True), SwiGLU, RMSNorm, tied LM head), random
frozen weights, LoRA on all seven projections (A kaiming-uniform, B small random so that every
gradient flows), cross-entropy on all tokens, AdamW on the LoRA parameters only with global-norm
clipping, F32, torch.set_num_threads(threads).

Prints one line `@@BENCH_RESULT {json}` with the step times, peak RSS and a GEMM peak.
No transformers, no network: only torch.
"""
import argparse
import json
import math
import resource
import sys
import time

import torch
import torch.nn.functional as F


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--hidden", type=int, default=576)
    p.add_argument("--heads", type=int, default=9)
    p.add_argument("--kv-heads", type=int, default=3)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--ffn", type=int, default=1536)
    p.add_argument("--vocab", type=int, default=49152)
    p.add_argument("--rope-theta", type=float, default=100000.0)
    p.add_argument("--eps", type=float, default=1e-5)
    p.add_argument("--rank", type=int, default=16)
    p.add_argument("--alpha", type=float, default=32.0)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=512)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-grad-norm", type=float, default=1.0)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--gemm-only", action="store_true")
    return p.parse_args()


def peak_rss_mib():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss():
    """Linux: '5' to clear_refs resets VmHWM, so the next reading covers only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def gemm_peak(m=2048, k=576, n=1536, reps=20):
    """GFLOP/s of one F32 GEMM (best of `reps`), the same shape as the ORT one-node graph."""
    a = torch.randn(m, k)
    b = torch.randn(k, n)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * m * k * n / min(times) / 1e9


class Lora(torch.nn.Module):
    """y = x W^T + s * (x A^T) B^T with W frozen."""

    def __init__(self, w, rank, scale, gen):
        super().__init__()
        out_f, in_f = w.shape
        self.weight = torch.nn.Parameter(w, requires_grad=False)
        self.a = torch.nn.Parameter(torch.empty(rank, in_f))
        torch.nn.init.kaiming_uniform_(self.a, a=math.sqrt(5), generator=gen)
        self.b = torch.nn.Parameter(torch.randn(out_f, rank, generator=gen) * 0.01)
        self.scale = scale

    def forward(self, x):
        return F.linear(x, self.weight) + self.scale * F.linear(F.linear(x, self.a), self.b)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(torch.nn.Module):
    def __init__(self, a, gen):
        super().__init__()
        D, H, KV, hd, Fd = a.hidden, a.heads, a.kv_heads, a.head_dim, a.ffn
        s = a.alpha / a.rank
        w = lambda o, i: torch.randn(o, i, generator=gen) * 0.02  # noqa: E731
        self.attn_norm = torch.nn.Parameter(1 + 0.02 * torch.randn(D, generator=gen), requires_grad=False)
        self.ffn_norm = torch.nn.Parameter(1 + 0.02 * torch.randn(D, generator=gen), requires_grad=False)
        self.q = Lora(w(H * hd, D), a.rank, s, gen)
        self.k = Lora(w(KV * hd, D), a.rank, s, gen)
        self.v = Lora(w(KV * hd, D), a.rank, s, gen)
        self.o = Lora(w(D, H * hd), a.rank, s, gen)
        self.gate = Lora(w(Fd, D), a.rank, s, gen)
        self.up = Lora(w(Fd, D), a.rank, s, gen)
        self.down = Lora(w(D, Fd), a.rank, s, gen)
        self.H, self.KV, self.hd, self.eps = H, KV, hd, a.eps

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        h = rms_norm(x, self.attn_norm, self.eps)
        q = self.q(h).view(B, T, self.H, self.hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.KV, self.hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        ctx = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(ctx.transpose(1, 2).reshape(B, T, self.H * self.hd))
        h2 = rms_norm(x, self.ffn_norm, self.eps)
        return x + self.down(F.silu(self.gate(h2)) * self.up(h2))


class Model(torch.nn.Module):
    def __init__(self, a, gen):
        super().__init__()
        self.embed = torch.nn.Parameter(torch.randn(a.vocab, a.hidden, generator=gen) * 0.02, requires_grad=False)
        self.layers = torch.nn.ModuleList([Layer(a, gen) for _ in range(a.layers)])
        self.norm = torch.nn.Parameter(1 + 0.02 * torch.randn(a.hidden, generator=gen), requires_grad=False)
        inv = 1.0 / (a.rope_theta ** (torch.arange(0, a.head_dim, 2, dtype=torch.float32) / a.head_dim))
        pos = torch.arange(a.seq, dtype=torch.float32)
        freqs = torch.outer(pos, inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        self.eps = a.eps

    def forward(self, ids, targets):
        x = F.embedding(ids, self.embed)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin)
        h = rms_norm(x, self.norm, self.eps)
        logits = F.linear(h, self.embed)  # tied head
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


def main():
    a = parse()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    info = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": "mkl" if torch.backends.mkl.is_available() else "other",
        "gemm_gflops": gemm_peak(),
    }
    if a.gemm_only:
        print("@@BENCH_RESULT " + json.dumps(info), flush=True)
        return
    gen = torch.Generator().manual_seed(1)
    t0 = time.perf_counter()
    model = Model(a, gen)
    lora = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(lora, lr=a.lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    ids = torch.randint(3, 512, (a.batch, a.seq), generator=gen)
    targets = torch.randint(3, 512, (a.batch, a.seq), generator=gen)
    build = time.perf_counter() - t0
    peak_build = peak_rss_mib()
    reset_peak_rss()
    times, cpus, losses, norms = [], [], [], []
    for i in range(a.warmup + a.steps):
        t = time.perf_counter()
        c = time.process_time()
        loss = model(ids, targets)
        loss.backward()
        loss = loss.detach()
        norm = torch.nn.utils.clip_grad_norm_(lora, a.max_grad_norm) if a.max_grad_norm > 0 else torch.tensor(0.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t
        dc = time.process_time() - c
        losses.append(float(loss))
        norms.append(float(norm))
        if i >= a.warmup:
            times.append(dt)
            cpus.append(dc)
        print(f"step {i + 1}: {dt:.3f} s loss {float(loss):.4f} grad_norm {float(norm):.4f}", file=sys.stderr, flush=True)
    info.update(
        {
            "build_seconds": build,
            "step_seconds": times,
            "step_cpu_seconds": cpus,
            "losses": losses,
            "grad_norms": norms,
            "lora_params": sum(p.numel() for p in lora),
            "peak_rss_mib": max(peak_build, peak_rss_mib()),
            "peak_rss_steps_mib": peak_rss_mib(),
        }
    )
    print("@@BENCH_RESULT " + json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
