#!/usr/bin/python3
"""translate_torch.py -- the PyTorch side of test/bench/translate.sh: the models,
the source sentences, and PyTorch's translation throughput.

    translate_torch.py write DIR
        writes (if absent) the Marian-size model of the benchmark into DIR:
        marian.safetensors (state_dict names of the tutorial's
        Seq2SeqTransformer, F32), marian.json ({"arch", "config"}) and
        marian.sources.json (the source sentences); reproducible (fixed seed).
    translate_torch.py sources MODEL_JSON OUT_JSON
        the source sentences for another model (the translation demo's),
        random ids of its source vocabulary, the same lengths and seed.
    translate_torch.py run MODEL.safetensors MODEL.json SOURCES.json THREADS MODE BATCH N MAX_NEW
        decodes the first N sources, BATCH of them at a time (1 or N), MODE
        greedy or beam4, and prints one JSON line (the shape of
        bench_translate's): seconds, sentences/s, and every output.

The model: torch.nn.Transformer in the PyTorch tutorial "Language Translation
with nn.Transformer"'s Seq2SeqTransformer (TokenEmbedding = nn.Embedding *
sqrt(d_model), the tutorial's PositionalEncoding, the generator Linear), as
test/fixtures/gen_tfm_seq2seq_fixtures.py builds it; Marian size: d_model 512,
8 heads, 6 + 6 layers, dim_feedforward 2048, vocabularies 8000 and 8000,
post-norm, relu.  torch's default init (seeded), the generator's weight times
GAIN and the eos logit raised by EOS_BOOST, so that outputs are neither
uniform nor endless (random transformers give nearly uniform
distributions).  Special ids as the tutorial's: unk 0, pad 1, bos 2, eos 3.

The decode loops (no dropout: eval mode, torch.inference_mode()):
  greedy: the tutorial's greedy_decode: the encoder once per batch, then at
    every step the whole target prefix through the decoder (tgt_mask causal,
    the source's key padding mask as memory_key_padding_mask when batched),
    the next token the argmax of the generator's output at the last position
    (lowest id on a tie), stop after eos or MAX_NEW tokens.  A batch of
    sources is one padded batch ([S, B], src_key_padding_mask); a row that
    has produced eos leaves the batch (as in seqmodel's sm_decode).
  beam4: Hugging Face generate()'s beam search with num_beams 4,
    length_penalty 1.0, early_stopping False, as
    test/fixtures/gen_seq2seq_fixtures.py's beam_search defines it (beam
    scores [0, -1e9, ...], the 2K best candidates over beams x vocabulary,
    eos of rank < K a finished hypothesis of score sum / generated_len, the
    per-source is_done test on the best candidate), ported to a batch: every
    (source x beam) row of the sources not yet done goes through the decoder
    together (the whole prefix, as greedy), the candidates' top-k is one
    torch.topk over [sources, K * V], the per-source bookkeeping is Python;
    done sources leave the batch.  Batch 1 is the same loop with one source.

Threads: torch.set_num_threads(THREADS), torch.set_num_interop_threads(1);
translate.sh sets OMP_NUM_THREADS / OPENBLAS_NUM_THREADS too.
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
sys.dont_write_bytecode = True

UNK, PAD, BOS, EOS = 0, 1, 2, 3
SEED = 20261201
GAIN = 4.0
EOS_BOOST = float(os.environ.get("TRANSLATE_EOS_BOOST", "0.0"))
N_SOURCES = 64
LEN_MIN, LEN_MAX = 8, 30
NEG = -1e9

MARIAN = {"src_vocab_size": 8000, "tgt_vocab_size": 8000, "d_model": 512, "nhead": 8,
          "num_encoder_layers": 6, "num_decoder_layers": 6, "dim_feedforward": 2048,
          "activation": "relu", "norm_first": False, "max_len": 512,
          "bos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD, "max_new_tokens": 32}


class TokenEmbedding(nn.Module):
    def __init__(self, V, d):
        super().__init__()
        self.embedding = nn.Embedding(V, d)
        self.scale = math.sqrt(d)

    def forward(self, tokens):
        return self.embedding(tokens.long()) * self.scale


class PositionalEncoding(nn.Module):
    """The tutorial's, dropout left out (inference)."""

    def __init__(self, d, maxlen):
        super().__init__()
        den = torch.exp(- torch.arange(0, d, 2) * math.log(10000) / d)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pe = torch.zeros((maxlen, d))
        pe[:, 0::2] = torch.sin(pos * den)
        pe[:, 1::2] = torch.cos(pos * den)
        self.register_buffer("pos_embedding", pe.unsqueeze(-2))

    def forward(self, x):
        return x + self.pos_embedding[:x.size(0), :]


class Seq2SeqTransformer(nn.Module):
    """The tutorial's (seq-first), from a transformer_seq2seq config."""

    def __init__(self, c):
        super().__init__()
        self.transformer = nn.Transformer(
            d_model=c["d_model"], nhead=c["nhead"],
            num_encoder_layers=c.get("num_encoder_layers", 6),
            num_decoder_layers=c.get("num_decoder_layers", 6),
            dim_feedforward=c.get("dim_feedforward", 2048), dropout=0.0,
            activation=c.get("activation", "relu"), norm_first=c.get("norm_first", False),
            layer_norm_eps=c.get("layer_norm_eps", 1e-5))
        self.generator = nn.Linear(c["d_model"], c["tgt_vocab_size"])
        self.src_tok_emb = TokenEmbedding(c["src_vocab_size"], c["d_model"])
        self.tgt_tok_emb = TokenEmbedding(c["tgt_vocab_size"], c["d_model"])
        self.positional_encoding = PositionalEncoding(c["d_model"], c.get("max_len", 5000))
        self.sos = c.get("decoder_start_token_id", c.get("bos_token_id"))
        self.eos = c.get("eos_token_id", -1)
        self.V = c["tgt_vocab_size"]

    # the tutorial's encode / decode
    def encode(self, src, pad_mask=None):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)),
                                        src_key_padding_mask=pad_mask)

    def decode(self, tgt, memory, mem_pad=None):
        T = tgt.shape[0]
        mask = torch.triu(torch.full((T, T), float("-inf")), diagonal=1)
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory,
                                        tgt_mask=mask, memory_key_padding_mask=mem_pad)


def marian_model():
    torch.manual_seed(SEED)
    m = Seq2SeqTransformer(MARIAN)
    with torch.no_grad():
        m.generator.weight.mul_(GAIN)
        m.generator.bias[EOS] += EOS_BOOST
    return m.eval()


def make_sources(Vs, n=N_SOURCES):
    """n random sentences of lengths LEN_MIN..LEN_MAX, ids in [4, Vs) (no specials)."""
    g = torch.Generator().manual_seed(SEED + 1)
    out = []
    for _ in range(n):
        L = int(torch.randint(LEN_MIN, LEN_MAX + 1, (1,), generator=g))
        out.append([int(t) for t in torch.randint(4, Vs, (L,), generator=g)])
    return out


def padded(sources):
    """[S, B] ids (PAD past each end) and the [B, S] key padding mask."""
    S = max(len(s) for s in sources)
    src = torch.full((S, len(sources)), PAD, dtype=torch.long)
    pad = torch.ones(len(sources), S, dtype=torch.bool)
    for i, s in enumerate(sources):
        src[:len(s), i] = torch.tensor(s)
        pad[i, :len(s)] = False
    return src, pad


def greedy(m, sources, max_new):
    """The tutorial's greedy_decode over one padded batch; finished rows leave."""
    B = len(sources)
    if B == 1:
        src, pad = torch.tensor(sources[0])[:, None], None
    else:
        src, pad = padded(sources)
    memory = m.encode(src, pad)
    ys = torch.full((1, B), m.sos, dtype=torch.long)
    rows = list(range(B))                 # the source of each live column
    out = [[] for _ in range(B)]
    for _ in range(max_new):
        h = m.decode(ys, memory, pad)
        nxt = torch.argmax(m.generator(h[-1]), dim=-1)
        keep = []
        for j, tok in enumerate(nxt.tolist()):
            if tok == m.eos:
                continue
            out[rows[j]].append(tok)
            keep.append(j)
        if not keep:
            break
        if len(keep) < len(rows):
            idx = torch.tensor(keep)
            ys, memory, nxt = ys[:, idx], memory[:, idx], nxt[idx]
            pad = pad[idx] if pad is not None else None
            rows = [rows[j] for j in keep]
        ys = torch.cat([ys, nxt[None]], 0)
    return out


class Hyps:
    """One source's finished hypotheses (gen_seq2seq_fixtures.beam_search's)."""

    def __init__(self, k, lp_pen):
        self.k, self.lp_pen, self.finished = k, lp_pen, []

    def add(self, tokens, sum_lp, gen_len):
        score = sum_lp / (gen_len ** self.lp_pen)
        if len(self.finished) < self.k or score > min(s for s, _ in self.finished):
            self.finished.append((score, tokens))
            if len(self.finished) > self.k:
                self.finished.remove(min(self.finished, key=lambda h: h[0]))


def beam(m, sources, max_new, k=4, lp_pen=1.0):
    """HF beam search (early_stopping False), every live (source x beam) row batched."""
    B, V = len(sources), m.V
    if B == 1:
        src, pad = torch.tensor(sources[0])[:, None], None
    else:
        src, pad = padded(sources)
    memory = m.encode(src, pad).repeat_interleave(k, dim=1)   # column b * k + j: beam j of b
    mpad = pad.repeat_interleave(k, dim=0) if pad is not None else None
    live = list(range(B))
    hyps = {b: [[m.sos] for _ in range(k)] for b in live}
    scores = torch.tensor([[0.0] + [NEG] * (k - 1)] * B, dtype=torch.float64)   # [live, k]
    found = {b: Hyps(k, lp_pen) for b in live}
    ys = torch.full((1, B * k), m.sos, dtype=torch.long)
    for step in range(max_new):
        h = m.decode(ys, memory, mpad)
        lp = F.log_softmax(m.generator(h[-1]), dim=-1).double()            # [live * k, V]
        cand = (lp.view(len(live), k, V) + scores[:, :, None]).view(len(live), k * V)
        top = torch.topk(cand, 2 * k, dim=1)
        vals, idxs = top.values.tolist(), top.indices.tolist()
        new_live, cols, toks, new_scores = [], [], [], []
        for i, b in enumerate(live):
            nxt = []
            for rank in range(2 * k):
                j, tok = divmod(idxs[i][rank], V)
                if tok == m.eos:
                    if rank >= k:
                        continue
                    found[b].add(hyps[b][j][1:], vals[i][rank], step + 1)
                else:
                    nxt.append((vals[i][rank], j, tok))
                if len(nxt) == k:
                    break
            f = found[b]
            if len(f.finished) >= k and min(s for s, _ in f.finished) >= vals[i][0] / ((step + 1) ** lp_pen):
                continue                                  # done: leaves the batch
            new_live.append(b)
            hyps[b] = [hyps[b][j] + [tok] for _, j, tok in nxt]
            cols += [i * k + j for _, j, _ in nxt]
            toks += [tok for _, _, tok in nxt]
            new_scores.append([v for v, _, _ in nxt])
        if not new_live:
            live = []
            break
        idx = torch.tensor(cols)
        ys = torch.cat([ys[:, idx], torch.tensor(toks)[None]], 0)
        if len(new_live) < len(live):
            # a source's k memory columns are equal: its beams' parents' columns
            # are its columns, so the same index drops the done sources
            memory = memory[:, idx]
            mpad = mpad[idx] if mpad is not None else None
        live = new_live
        scores = torch.tensor(new_scores, dtype=torch.float64)
    for i, b in enumerate(live):                          # max_new reached
        for j in range(k):
            found[b].add(hyps[b][j][1:], float(scores[i, j]), len(hyps[b][j]) - 1)
    return [max(found[b].finished, key=lambda h: h[0])[1] for b in range(B)]


def load_model(st_path, cfg_path):
    import sm_safetensors as st
    with open(cfg_path) as f:
        doc = json.load(f)
    c = doc.get("config", doc)
    if isinstance(c, str):
        c = json.loads(c)
    m = Seq2SeqTransformer(c)
    tensors, _ = st.load(st_path)
    missing, unexpected = m.load_state_dict(tensors, strict=False)
    missing = [k for k in missing if not k.endswith("pos_embedding")]   # computed when absent
    if missing or unexpected:
        sys.exit("translate_torch.py: %s does not match the tutorial's Seq2SeqTransformer "
                 "(missing %s, unexpected %s)" % (st_path, missing[:4], unexpected[:4]))
    return m.eval(), c


def cmd_write(d):
    import sm_safetensors as st
    os.makedirs(d, exist_ok=True)
    paths = [os.path.join(d, "marian" + e) for e in (".safetensors", ".json", ".sources.json")]
    if all(os.path.exists(p) for p in paths):
        print("translate_torch.py: %s already there" % paths[0], file=sys.stderr)
        return
    m = marian_model()
    st.save(m.state_dict(), paths[0], {"format": "pt"})
    with open(paths[1], "w") as f:
        json.dump({"arch": "transformer_seq2seq", "config": MARIAN}, f)
    with open(paths[2], "w") as f:
        json.dump(make_sources(MARIAN["src_vocab_size"]), f)
    print("translate_torch.py: wrote %s (%d bytes)" % (paths[0], os.path.getsize(paths[0])),
          file=sys.stderr)


def cmd_sources(cfg_path, out):
    with open(cfg_path) as f:
        doc = json.load(f)
    c = doc.get("config", doc)
    if isinstance(c, str):
        c = json.loads(c)
    with open(out, "w") as f:
        json.dump(make_sources(int(c["src_vocab_size"])), f)


def cmd_run(st_path, cfg_path, src_path, threads, mode, batch, n, max_new):
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    m, _ = load_model(st_path, cfg_path)
    with open(src_path) as f:
        sources = json.load(f)[:n]
    fn = greedy if mode == "greedy" else beam
    outs = [None] * len(sources)
    times = []
    with torch.inference_mode():
        fn(m, sources[:min(2, len(sources))] if batch > 1 else sources[:1], max_new)   # warm-up
        for i in range(0, len(sources), batch):
            t0 = time.perf_counter()
            o = fn(m, sources[i:i + batch], max_new)
            times.append(time.perf_counter() - t0)
            outs[i:i + batch] = o
    total = sum(times)
    print(json.dumps({"impl": "pytorch", "model": os.path.basename(st_path).split(".")[0],
                      "mode": mode, "batch": batch, "threads": threads, "n": len(sources),
                      "max_new": max_new, "seconds": total, "sent_per_s": len(sources) / total,
                      "tokens": sum(len(o) for o in outs), "outputs": outs}))


def main():
    a = sys.argv[1:]
    if a[:1] == ["write"] and len(a) == 2:
        cmd_write(a[1])
    elif a[:1] == ["sources"] and len(a) == 3:
        cmd_sources(a[1], a[2])
    elif a[:1] == ["run"] and len(a) == 9 and a[5] in ("greedy", "beam4"):
        cmd_run(a[1], a[2], a[3], int(a[4]), a[5], int(a[6]), int(a[7]), int(a[8]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
