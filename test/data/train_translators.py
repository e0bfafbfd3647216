#!/usr/bin/python3
"""Train the translation demo's tokenizer and its three English -> German
translators (demo_translate.sql) on the message-catalog pairs of
prepare_translation.py.

    /usr/bin/python3 test/data/train_translators.py            # tokenizer + all three
    /usr/bin/python3 test/data/train_translators.py rnn attn   # some models only

1. Tokenizer: one joint SentencePiece unigram model (spm_train, Debian's
   sentencepiece) of VOCAB pieces on the training pairs' sources and targets
   (one line each, in file order), ids <unk> 0, <s> 1, </s> 2, <pad> 3;
   written as translate_spm.model.  A source is sp.encode(source) + [2];
   the decoder starts from 1 and stops at 2; a target is sp.encode(target).
2. Three translators, selected on the validation split:
   rnn   rnn_seq2seq, attention "none": the PyTorch tutorial's EncoderRNN +
         DecoderRNN (GRU, relu on the decoder's embedding), the encoder's
         final state the decoder's only view of the source;
   attn  rnn_seq2seq, attention "additive": EncoderRNN + AttnDecoderRNN
         (BahdanauAttention), same sizes;
   tfm   the tutorial "Language Translation with nn.Transformer"'s
         Seq2SeqTransformer (post-norm nn.Transformer, relu, sinusoidal
         positions, embeddings times sqrt(d_model)).
   The rnn modules are test/fixtures/gen_seq2seq_fixtures.py's (imported).
   Training: teacher forcing, cross-entropy over the target tokens and eos,
   Adam with linear warm-up and linear decay, batches of similar lengths,
   dropout in training only, EPOCHS epochs; after each epoch the
   teacher-forced loss on the validation split; the epoch with the lowest
   one is kept.  The padded batches mask what padding would change (the
   rnn attention's padded keys, the transformer's key padding masks), so
   the model is the one an unpadded computation of one sentence gives.
3. The kept weights are rounded to float16 (the three float32 files would
   be 15 MB; the transformer's pos_embedding buffer stays float32); translate_{rnn,attn,tfm}.safetensors hold the F16 state_dict
   (sm_safetensors.py), translate_{rnn,attn,tfm}.json the seqmodel config.
   translate_reference.py computes the references from these files.

Deterministic: seeds, one thread, torch.use_deterministic_algorithms.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures")
sys.path.insert(0, HERE)
sys.path.insert(0, FIXTURES)
sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import gen_seq2seq_fixtures as s2s  # noqa: E402
import prepare_translation as prep  # noqa: E402
import sm_safetensors as st  # noqa: E402

OUT = os.environ.get("OUT", HERE)
VOCAB = 2000
UNK, BOS, EOS, PAD = 0, 1, 2, 3
MAX_TOKENS = 100          # longest source (with eos) / target (with eos) trained on
MAX_NEW = 100             # the decode limit cap (config max_length / max_new_tokens)
MAX_LEN = 128             # transformer positions
EPOCHS = int(os.environ.get("EPOCHS", "3"))
BATCH = int(os.environ.get("BATCH", "64"))
TRAIN_LIMIT = int(os.environ.get("TRAIN_LIMIT", "0"))   # for trials: first N pairs
SIZES = {
    "rnn": {"embedding_size": 128, "hidden_size": 160},
    "attn": {"embedding_size": 128, "hidden_size": 160},
    "tfm": {"d_model": 128, "nhead": 4, "num_encoder_layers": 2, "num_decoder_layers": 2,
            "dim_feedforward": 256},
}
LR = {"rnn": 2e-3, "attn": 2e-3, "tfm": 1e-3}
DROPOUT = 0.1
WARMUP = 300
SEED = {"rnn": 1, "attn": 2, "tfm": 3}
META = {"format": "pt"}


def spm_path():
    return os.path.join(OUT, "translate_spm.model")


def train_spm(train):
    """spm_train in a scratch directory with relative paths (the model
    records its trainer options, paths included)."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "translate_spm.txt"), "w", encoding="utf-8", newline="\n") as f:
            for _, s, t in train:
                f.write(s + "\n")
            for _, s, t in train:
                f.write(t + "\n")
        cmd = ["spm_train", "--input=translate_spm.txt", "--model_prefix=translate_spm",
               "--model_type=unigram", "--vocab_size=%d" % VOCAB, "--character_coverage=1.0",
               "--unk_id=0", "--bos_id=1", "--eos_id=2", "--pad_id=3",
               "--input_sentence_size=0", "--shuffle_input_sentence=false", "--num_threads=1"]
        subprocess.run(cmd, cwd=d, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(d, "translate_spm.model"), "rb") as f:
            data = f.read()
    with open(spm_path(), "wb") as f:
        f.write(data)
    return " ".join(cmd)


def load_spm(path=None):
    import sentencepiece as spm
    return spm.SentencePieceProcessor(model_file=path or spm_path())


def encode_pairs(sp, rows):
    """[(source ids + eos, target ids + eos)] of the rows that fit MAX_TOKENS."""
    out = []
    for _, s, t in rows:
        a, b = sp.encode(s) + [EOS], sp.encode(t) + [EOS]
        if len(a) <= MAX_TOKENS and len(b) <= MAX_TOKENS:
            out.append((a, b))
    return out


# ---------------------------------------------------------------- models ---

class PositionalEncoding(nn.Module):
    """The tutorial's: a [maxlen, 1, d] sin/cos buffer added to [S, N, d]."""

    def __init__(self, emb_size, dropout, maxlen=MAX_LEN):
        super().__init__()
        den = torch.exp(- torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(-2)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", pos_embedding)

    def forward(self, token_embedding):
        return self.dropout(token_embedding + self.pos_embedding[:token_embedding.size(0), :])


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size, emb_size):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class Seq2SeqTransformer(nn.Module):
    """The tutorial's, sequence-first ([S, N] token ids)."""

    def __init__(self, num_encoder_layers, num_decoder_layers, emb_size, nhead,
                 src_vocab_size, tgt_vocab_size, dim_feedforward=512, dropout=0.1):
        super().__init__()
        self.transformer = nn.Transformer(d_model=emb_size, nhead=nhead,
                                          num_encoder_layers=num_encoder_layers,
                                          num_decoder_layers=num_decoder_layers,
                                          dim_feedforward=dim_feedforward, dropout=dropout)
        self.generator = nn.Linear(emb_size, tgt_vocab_size)
        self.src_tok_emb = TokenEmbedding(src_vocab_size, emb_size)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout)

    def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                memory_key_padding_mask):
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
        return self.generator(outs)

    def encode(self, src, src_mask=None):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask)

    def decode(self, tgt, memory, tgt_mask):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)),
                                        memory, tgt_mask)


def square_subsequent_mask(n):
    """The tutorial's generate_square_subsequent_mask: 0 on and below the
    diagonal, -inf above (float)."""
    mask = (torch.triu(torch.ones((n, n))) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, float(0.0))


def config_of(kind):
    z = SIZES[kind]
    if kind == "tfm":
        return {"src_vocab_size": VOCAB, "tgt_vocab_size": VOCAB, "d_model": z["d_model"],
                "nhead": z["nhead"], "num_encoder_layers": z["num_encoder_layers"],
                "num_decoder_layers": z["num_decoder_layers"],
                "dim_feedforward": z["dim_feedforward"], "activation": "relu",
                "norm_first": False, "layer_norm_eps": 1e-5, "max_len": MAX_LEN,
                "scale_embedding": True, "decoder_start_token_id": BOS, "eos_token_id": EOS,
                "pad_token_id": PAD, "max_new_tokens": MAX_NEW}
    return {"source_vocab_size": VOCAB, "target_vocab_size": VOCAB,
            "hidden_size": z["hidden_size"], "embedding_size": z["embedding_size"],
            "cell": "gru", "attention": "none" if kind == "rnn" else "additive",
            "decoder_relu": kind == "rnn",
            "sos_token_id": BOS, "eos_token_id": EOS, "pad_token_id": PAD,
            "max_length": MAX_NEW}


def build(kind):
    """The torch module of one translator (random init, seeded)."""
    torch.manual_seed(SEED[kind])
    z = SIZES[kind]
    if kind == "tfm":
        m = Seq2SeqTransformer(z["num_encoder_layers"], z["num_decoder_layers"], z["d_model"],
                               z["nhead"], VOCAB, VOCAB, z["dim_feedforward"], DROPOUT)
        for p in m.parameters():          # the tutorial's initialisation
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        return m
    E, H = z["embedding_size"], z["hidden_size"]
    att = "none" if kind == "rnn" else "additive"
    enc = s2s.EncoderRNN(VOCAB, E, H, "gru", 1, False, "gru")
    dec = s2s.Decoder(VOCAB, E, H, "gru", 1, att, "gru", att == "none")
    return s2s.Seq2Seq("encoder", "decoder", enc, dec)


def param_count(m):
    return sum(p.numel() for p in m.parameters())


# --------------------------------------------------------------- training ---

def pad_batch(seqs, first=False):
    n = max(len(s) for s in seqs)
    out = torch.full((len(seqs), n), PAD, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s)
    return out.t().contiguous() if first else out


def rnn_logits(m, kind, src, lengths, tgt_in, train):
    """Teacher-forced logits [B, T, V] of a padded batch: the modules'
    equations (gen_seq2seq_fixtures' EncoderRNN.forward and
    Decoder.forward_step), unrolled over the target, padded keys masked."""
    enc, dec = m.encoder, m.decoder
    emb = F.dropout(enc.embedding(src), DROPOUT, train)
    packed = nn.utils.rnn.pack_padded_sequence(emb, lengths, batch_first=True,
                                               enforce_sorted=False)
    out, h = enc.gru(packed)
    keys, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])
    x = F.dropout(dec.embedding(tgt_in), DROPOUT, train)
    if kind == "rnn":
        out, _ = dec.gru(F.relu(x), h)
        return dec.out(F.dropout(out, DROPOUT, train))
    att = dec.attention
    pad = torch.arange(src.shape[1])[None, :] >= lengths[:, None]
    uk = att.Ua(keys)
    outs = []
    for t in range(tgt_in.shape[1]):
        scores = att.Va(torch.tanh(att.Wa(h[-1])[:, None, :] + uk)).squeeze(2)
        w = F.softmax(scores.masked_fill(pad, float("-inf")), dim=-1)
        context = torch.bmm(w[:, None, :], keys)
        o, h = dec.gru(torch.cat((x[:, t:t + 1], context), dim=2), h)
        outs.append(o)
    return dec.out(F.dropout(torch.cat(outs, 1), DROPOUT, train))


def batch_loss(m, kind, batch, train):
    """(summed cross-entropy, tokens) of [(source, target)]."""
    srcs = [a for a, _ in batch]
    tins = [[BOS] + b[:-1] for _, b in batch]
    touts = [b for _, b in batch]
    if kind == "tfm":
        src, tgt_in, tgt_out = pad_batch(srcs, True), pad_batch(tins, True), pad_batch(touts, True)
        S, T = src.shape[0], tgt_in.shape[0]
        src_mask = torch.zeros((S, S)).bool()
        tgt_mask = square_subsequent_mask(T)
        src_pad, tgt_pad = (src == PAD).t(), (tgt_in == PAD).t()
        logits = m(src, tgt_in, src_mask, tgt_mask, src_pad, tgt_pad, src_pad)
    else:
        src, tgt_in, tgt_out = pad_batch(srcs), pad_batch(tins), pad_batch(touts)
        lengths = torch.tensor([len(s) for s in srcs])
        logits = rnn_logits(m, kind, src, lengths, tgt_in, train)
    loss = F.cross_entropy(logits.reshape(-1, VOCAB), tgt_out.reshape(-1), ignore_index=PAD,
                           reduction="sum")
    return loss, int((tgt_out != PAD).sum())


def batches(pairs, g=None):
    """Batches of BATCH pairs of similar lengths; shuffled with g."""
    order = sorted(range(len(pairs)), key=lambda i: (len(pairs[i][0]), len(pairs[i][1]), i))
    if g is not None:    # a little noise in the length order, then shuffled batches
        noise = torch.rand(len(pairs), generator=g).tolist()
        order = sorted(range(len(pairs)),
                       key=lambda i: (len(pairs[i][0]) + 3 * noise[i], i))
    bs = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]
    if g is not None:
        perm = torch.randperm(len(bs), generator=g).tolist()
        bs = [bs[i] for i in perm]
    return [[pairs[i] for i in b] for b in bs]


def evaluate(m, kind, pairs):
    m.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for b in batches(pairs):
            loss, k = batch_loss(m, kind, b, False)
            tot += float(loss)
            n += k
    return tot / n


def train(kind, train_pairs, valid_pairs, log):
    m = build(kind)
    g = torch.Generator().manual_seed(100 + SEED[kind])
    opt = torch.optim.Adam(m.parameters(), lr=LR[kind], betas=(0.9, 0.98), eps=1e-9)
    steps = EPOCHS * len(batches(train_pairs))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / WARMUP, max(0.0, (steps - s) / max(1, steps - WARMUP))))
    best, best_loss, best_epoch = None, float("inf"), 0
    t0 = time.time()
    for epoch in range(1, EPOCHS + 1):
        m.train()
        tot, n = 0.0, 0
        for b in batches(train_pairs, g):
            loss, k = batch_loss(m, kind, b, True)
            opt.zero_grad()
            (loss / k).backward()
            nn.utils.clip_grad_norm_(m.parameters(), 1.0)
            opt.step()
            sched.step()
            tot += float(loss)
            n += k
        vl = evaluate(m, kind, valid_pairs)
        mark = ""
        if vl < best_loss:
            best_loss, best_epoch, mark = vl, epoch, " *"
            best = {k: v.detach().clone() for k, v in m.state_dict().items()}
        log("  %s epoch %2d: train loss %.4f, validation loss %.4f (ppl %.2f)%s, %.0f s"
            % (kind, epoch, tot / n, vl, math.exp(vl), mark, time.time() - t0))
    m.load_state_dict(best)
    return m, best_epoch, best_loss, time.time() - t0


def to_f16(sd):
    """The weights in F16; the transformer's positional-encoding buffer
    stays F32 (64 KB: the tutorial's float32 sinusoids, exactly)."""
    return {k: v.detach() if k.endswith("pos_embedding") else v.detach().to(torch.float16)
            for k, v in sd.items()}


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    kinds = sys.argv[1:] or ["rnn", "attn", "tfm"]
    t_all = time.time()
    data = prep.load()
    train_rows = data["train"]
    if TRAIN_LIMIT:
        train_rows = train_rows[:TRAIN_LIMIT]
    if not os.environ.get("KEEP_SPM"):
        cmd = train_spm(data["train"])
        print("tokenizer: %s -> %s (%d bytes)" % (cmd, os.path.basename(spm_path()),
                                                 os.path.getsize(spm_path())))
    sp = load_spm()
    tr, va = encode_pairs(sp, train_rows), encode_pairs(sp, data["valid"])
    print("pairs: train %d of %d (both sides at most %d tokens with eos), validation %d of %d"
          % (len(tr), len(train_rows), MAX_TOKENS, len(va), len(data["valid"])))
    print("mean tokens with eos: source %.2f, target %.2f"
          % (sum(len(a) for a, _ in tr) / len(tr), sum(len(b) for _, b in tr) / len(tr)))
    for kind in kinds:
        m, epoch, vl, secs = train(kind, tr, va, print)
        m.eval()
        sd = to_f16(m.state_dict())
        m.load_state_dict({k: v.float() for k, v in sd.items()})
        vl16 = evaluate(m, kind, va)
        path = os.path.join(OUT, "translate_%s.safetensors" % kind)
        st.save(sd, path, META)
        with open(os.path.join(OUT, "translate_%s.json" % kind), "w", encoding="ascii",
                  newline="\n") as f:
            f.write(json.dumps(config_of(kind)) + "\n")
        print("%s: %d parameters, best epoch %d of %d, validation loss %.4f (F16 weights %.4f);"
              " %s %d bytes; training %.1f s"
              % (kind, param_count(m), epoch, EPOCHS, vl, vl16, os.path.basename(path),
                 os.path.getsize(path), secs))
    print("total %.1f s (torch %s, %d thread)" % (time.time() - t_all, torch.__version__,
                                                 torch.get_num_threads()))


if __name__ == "__main__":
    main()
