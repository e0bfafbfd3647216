#!/usr/bin/python3
"""Train the language identifier of the langid demo (demo_langid.sql).

Data: prepare_langid.load() -- the translated strings of this machine's
gettext catalogs, 10 labels (de en es fr it ja nl pl pt ru), split by a
hash of the text (see prepare_langid.py).  Training uses at most
TRAIN_PER_LANG strings of each language (those with the smallest hash).

Writes next to itself:

  langid_tokenizer.json   Hugging Face tokenizer.json: WordPiece, built here
  langid.safetensors      BertForSequenceClassification state_dict with
                          Hugging Face's names (bert.*, classifier.*), F16
  langid_config.json      Hugging Face BertConfig (+ seqmodel's "output")
  langid_expected.csv     id,label,probs,ids: torch's prediction for each
                          row of langid_samples.csv (label, softmax
                          probabilities in label-id order) and the row's
                          token ids ([CLS] text [SEP], not truncated)

Tokenizer.  The text pipeline is Hugging Face's BERT one, implemented here
in Python exactly as the tokenizers library does it (BertNormalizer with
clean_text, handle_chinese_chars, lowercase, no accent stripping;
BertPreTokenizer; WordPiece with "##" and max_input_chars_per_word 100;
[CLS] A [SEP]).  The vocabulary is built from the training text: the
specials [PAD]=0 [UNK] [CLS] [SEP] [MASK]; every character seen at least
MIN_CHAR_COUNT times, as a word-initial piece and as a "##" piece; then, up
to VOCAB_SIZE, the most frequent whole words, word prefixes and "##" word
suffixes (2 .. 6 characters), in the shares WORD_SHARE / PREFIX_SHARE / the
rest.

Model: Hugging Face's BERT equations (test/fixtures/tfm_reference.py's BERT
is the reference; the trained model is checked against it): hidden 64, 2
layers, 4 heads, intermediate 128, gelu, 128 positions, 2 token types,
pooler and classifier.  Sequences are cut to MAX_LEN = 128 tokens,
[CLS] and [SEP] included (the text's tokens cut at the end).  Trained with
dropout 0.1, AdamW, linear warm-up and decay, batches of similar lengths.

The weights are stored as F16 (the extension widens them to float32
exactly); everything computed afterwards -- held-out accuracy and
langid_expected.csv -- uses the F16-rounded weights in float32, one
sequence at a time without padding, as the extension computes.

Deterministic: fixed seed, fixed thread count, deterministic algorithms.

    /usr/bin/python3 test/data/train_langid.py
"""

import collections
import csv
import json
import math
import os
import random
import re
import sys
import time
import unicodedata

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import prepare_langid  # noqa: E402
import sm_safetensors  # noqa: E402

SEED = 0
THREADS = 1
TRAIN_PER_LANG = 10000
VOCAB_SIZE = 5000
MIN_CHAR_COUNT = 3
WORD_SHARE, PREFIX_SHARE = 0.5, 0.2
MAX_LEN = 128
HIDDEN, LAYERS, HEADS, INTER = 64, 2, 4, 128
EPOCHS = 5
BATCH = 128
LR = 3e-3
WARMUP = 200
DROPOUT = 0.1
EPS = 1e-12

# labelled at the end of demo_langid.sql
DEMO_SENTENCES = [
    "Die Datei konnte nicht geöffnet werden",
    "Could not open the file",
    "No se pudo abrir el archivo",
    "Impossible d'ouvrir le fichier",
    "Impossibile aprire il file",
    "ファイルを開けませんでした",
    "Het bestand kon niet worden geopend",
    "Nie można otworzyć pliku",
    "Não foi possível abrir o arquivo",
    "Не удалось открыть файл",
]

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_CHARS_PER_WORD = 100


# ------------------------------------------------------------ tokenizer ---

def is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B920 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


# Rust's char::is_whitespace (the White_Space property)
WHITESPACE = set("\t\n\v\f\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | \
    {chr(c) for c in range(0x2000, 0x200B)}


def is_whitespace(ch):
    return ch in WHITESPACE


def is_control(ch):
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Cn", "Co", "Cs")


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def normalize(text):
    """BertNormalizer(clean_text, handle_chinese_chars, strip_accents=False,
    lowercase) -- lower-casing char by char, as Rust's char::to_lowercase."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or is_control(ch):
            continue
        if is_whitespace(ch):
            ch = " "
        if is_chinese_char(cp):
            out += [" ", ch, " "]
        else:
            out.append(ch)
    return "".join(c.lower() for c in "".join(out))


def pre_tokenize(text):
    """BertPreTokenizer: split on whitespace (removed) and punctuation
    (each a word of its own)."""
    words = []
    for chunk in text.split(" "):
        cur = []
        for ch in chunk:
            if is_whitespace(ch):       # other White_Space left by the normalizer
                if cur:
                    words.append("".join(cur))
                cur = []
            elif is_punctuation(ch):
                if cur:
                    words.append("".join(cur))
                words.append(ch)
                cur = []
            else:
                cur.append(ch)
        if cur:
            words.append("".join(cur))
    return words


SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in SPECIALS) + ")")


class WordPiece:
    def __init__(self, vocab):
        self.vocab = vocab                      # token -> id
        self.inv = {i: t for t, i in vocab.items()}
        self.unk = vocab["[UNK]"]
        self.cache = {}

    def word(self, w):
        if w in self.cache:
            return self.cache[w]
        if len(w) > MAX_CHARS_PER_WORD:
            res = [self.unk]
        else:
            res, start = [], 0
            while start < len(w):
                end, cur = len(w), None
                while start < end:
                    sub = w[start:end] if start == 0 else "##" + w[start:end]
                    if sub in self.vocab:
                        cur = self.vocab[sub]
                        break
                    end -= 1
                if cur is None:
                    res = [self.unk]
                    break
                res.append(cur)
                start = end
        self.cache[w] = res
        return res

    def tokens(self, text):
        """The text's ids without [CLS]/[SEP]; added (special) tokens are
        matched in the raw text first, as the tokenizers library does."""
        ids = []
        for part in SPECIAL_RE.split(text):
            if part in SPECIALS:
                ids.append(self.vocab[part])
            elif part:
                for w in pre_tokenize(normalize(part)):
                    ids += self.word(w)
        return ids

    def encode(self, text, max_len=MAX_LEN):
        ids = self.tokens(text)[:max_len - 2]
        return [self.vocab["[CLS]"]] + ids + [self.vocab["[SEP]"]]


def build_vocab(texts):
    words = collections.Counter()
    for t in texts:
        for part in SPECIAL_RE.split(t):
            if part not in SPECIALS:
                words.update(pre_tokenize(normalize(part)))
    chars = collections.Counter()
    for w, c in words.items():
        for ch in w:
            chars[ch] += c
    vocab = list(SPECIALS)
    seen = set(vocab)

    def add(tok):
        if tok not in seen:
            seen.add(tok)
            vocab.append(tok)
    alphabet = sorted(ch for ch, c in chars.items() if c >= MIN_CHAR_COUNT)
    for ch in alphabet:
        add(ch)
    for ch in alphabet:
        add("##" + ch)
    whole, pre, suf = collections.Counter(), collections.Counter(), collections.Counter()
    for w, c in words.items():
        if len(w) > MAX_CHARS_PER_WORD:
            continue
        if len(w) > 1:
            whole[w] += c
        for k in range(2, min(6, len(w) - 1) + 1):
            pre[w[:k]] += c
            suf["##" + w[-k:]] += c
    room = VOCAB_SIZE - len(vocab)
    quota = [int(room * WORD_SHARE), int(room * PREFIX_SHARE)]
    quota.append(room - sum(quota))
    for q, cnt in zip(quota, (whole, pre, suf)):
        n = 0
        for tok, _ in sorted(cnt.items(), key=lambda kv: (-kv[1], kv[0])):
            if n >= q:
                break
            if tok not in seen:
                add(tok)
                n += 1
    # fill up (when a share ran out of candidates) with further whole words
    for tok, _ in sorted(whole.items(), key=lambda kv: (-kv[1], kv[0])):
        if len(vocab) >= VOCAB_SIZE:
            break
        add(tok)
    return {t: i for i, t in enumerate(vocab)}, len(alphabet)


def tokenizer_json(vocab):
    ids = {s: vocab[s] for s in SPECIALS}
    added = [{"id": ids[s], "content": s, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for s in SPECIALS]
    tok = lambda s, t: {"SpecialToken": {"id": s, "type_id": t}}  # noqa: E731
    seq = lambda s, t: {"Sequence": {"id": s, "type_id": t}}  # noqa: E731
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": False, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0)],
            "pair": [tok("[CLS]", 0), seq("A", 0), tok("[SEP]", 0), seq("B", 1), tok("[SEP]", 1)],
            "special_tokens": {s: {"id": s, "ids": [ids[s]], "tokens": [s]} for s in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                  "max_input_chars_per_word": MAX_CHARS_PER_WORD, "vocab": vocab},
    }


# ---------------------------------------------------------------- model ---

def MD(**kw):
    return nn.ModuleDict(kw)


class LangBert(nn.Module):
    """BertForSequenceClassification's modules and names; batched forward
    with a key padding mask (padding never reaches [CLS]'s output)."""
    def __init__(self, V, labels):
        super().__init__()
        d, I = HIDDEN, INTER
        LN = lambda: nn.LayerNorm(d, EPS)   # noqa: E731
        emb = MD(word_embeddings=nn.Embedding(V, d), position_embeddings=nn.Embedding(MAX_LEN, d),
                 token_type_embeddings=nn.Embedding(2, d), LayerNorm=LN())
        layer = lambda: MD(  # noqa: E731
            attention=MD(self=MD(query=nn.Linear(d, d), key=nn.Linear(d, d), value=nn.Linear(d, d)),
                         output=MD(dense=nn.Linear(d, d), LayerNorm=LN())),
            intermediate=MD(dense=nn.Linear(d, I)),
            output=MD(dense=nn.Linear(I, d), LayerNorm=LN()))
        self.bert = MD(embeddings=emb, encoder=MD(layer=nn.ModuleList([layer() for _ in range(LAYERS)])),
                       pooler=MD(dense=nn.Linear(d, d)))
        self.classifier = nn.Linear(d, labels)
        self.drop = nn.Dropout(DROPOUT)
        with torch.no_grad():      # HF's initialisation: N(0, 0.02^2), zero biases
            for name, p in self.named_parameters():
                if "LayerNorm" in name:
                    p.fill_(1.0 if name.endswith("weight") else 0.0)
                elif name.endswith("bias"):
                    p.zero_()
                else:
                    p.normal_(0.0, 0.02)

    def forward(self, ids, mask):
        """ids, mask [B, L] (mask true on real tokens) -> logits [B, labels]"""
        B, L = ids.shape
        H, d = HEADS, HIDDEN
        e = self.bert.embeddings
        h = e.word_embeddings(ids) + e.token_type_embeddings(torch.zeros_like(ids))
        h = self.drop(e.LayerNorm(h + e.position_embeddings(torch.arange(L)[None])))
        bias = torch.zeros(B, 1, 1, L).masked_fill(~mask[:, None, None, :], float("-inf"))
        for ly in self.bert.encoder.layer:
            s = ly.attention.self
            q, k, v = (t(h).view(B, L, H, d // H).permute(0, 2, 1, 3) for t in (s.query, s.key, s.value))
            w = self.drop(F.softmax(q @ k.transpose(-1, -2) / math.sqrt(d // H) + bias, dim=-1))
            ctx = (w @ v).permute(0, 2, 1, 3).reshape(B, L, d)
            o = ly.attention.output
            a = o.LayerNorm(self.drop(o.dense(ctx)) + h)
            h = ly.output.LayerNorm(self.drop(ly.output.dense(F.gelu(ly.intermediate.dense(a)))) + a)
        pooled = torch.tanh(self.bert.pooler.dense(h[:, 0]))
        return self.classifier(self.drop(pooled))


def batches(seqs, labels, shuffle_rng):
    """Batches of similar lengths: sort by length inside chunks of 50
    batches, then shuffle the batches."""
    order = list(range(len(seqs)))
    shuffle_rng.shuffle(order)
    out = []
    chunk = BATCH * 50
    for c in range(0, len(order), chunk):
        part = sorted(order[c:c + chunk], key=lambda i: len(seqs[i]))
        out += [part[b:b + BATCH] for b in range(0, len(part), BATCH)]
    shuffle_rng.shuffle(out)
    for idx in out:
        L = max(len(seqs[i]) for i in idx)
        ids = torch.zeros(len(idx), L, dtype=torch.long)
        for r, i in enumerate(idx):
            ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
        yield ids, ids != 0, torch.tensor([labels[i] for i in idx])


def predict(model, seqs, one_by_one=False):
    """softmax probabilities [N, labels] in float32, eval mode."""
    model.eval()
    out = []
    with torch.no_grad():
        if one_by_one:
            for s in seqs:
                ids = torch.tensor([s])
                out.append(F.softmax(model(ids, ids >= 0), dim=-1)[0])
            return torch.stack(out)
        order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
        res = [None] * len(seqs)
        for b in range(0, len(order), 256):
            idx = order[b:b + 256]
            L = max(len(seqs[i]) for i in idx)
            ids = torch.zeros(len(idx), L, dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(seqs[i])] = torch.tensor(seqs[i])
            p = F.softmax(model(ids, ids != 0), dim=-1)
            for r, i in enumerate(idx):
                res[i] = p[r]
        return torch.stack(res)


def check_reference(state, cfg, seqs, probs):
    """The same probabilities from tfm_reference.py's BERT (Hugging Face's
    equations, one sequence at a time)."""
    from tfm_reference import BERT, F32
    ref = BERT("langid", cfg, classifier=True)
    ref.nets[F32].load_state_dict(state)
    dev = 0.0
    for s, p in zip(seqs, probs):
        logits = ref.run([torch.tensor(s)], F32)[0]
        dev = max(dev, float((F.softmax(logits, dim=-1) - p).abs().max()))
    return dev


def main():
    t0 = time.time()
    torch.manual_seed(SEED)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    labels = prepare_langid.LABELS
    lab_id = {lab: i for i, lab in enumerate(labels)}

    train_all, heldout = prepare_langid.load()
    train = []
    for lab in labels:
        train += [(l2, t) for l2, t in train_all if l2 == lab][:TRAIN_PER_LANG]
    print("data: %d training strings (at most %d a language, of %d), %d held out; fingerprint %s"
          % (len(train), TRAIN_PER_LANG, len(train_all), len(heldout),
             prepare_langid.fingerprint(train_all + heldout)))

    vocab, n_alpha = build_vocab([t for _, t in train])
    tok = WordPiece(vocab)
    with open(os.path.join(HERE, "langid_tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab), f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    V = len(vocab)
    tr_seqs = [tok.encode(t) for _, t in train]
    tr_labels = [lab_id[lab] for lab, _ in train]
    ho_seqs = [tok.encode(t) for _, t in heldout]
    ho_labels = torch.tensor([lab_id[lab] for lab, _ in heldout])
    unk = sum(s.count(tok.unk) for s in ho_seqs)
    print("vocab %d (%d characters); held-out tokens %d, [UNK] %d; mean training length %.1f"
          % (V, n_alpha, sum(map(len, ho_seqs)), unk, sum(map(len, tr_seqs)) / len(tr_seqs)))

    model = LangBert(V, len(labels))
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    steps = EPOCHS * math.ceil(len(tr_seqs) / BATCH) + EPOCHS * 50
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / WARMUP, max(0.0, (steps - s) / (steps - WARMUP))))
    rng = random.Random(SEED)
    t1 = time.time()
    for epoch in range(1, EPOCHS + 1):
        model.train()
        tot, n = 0.0, 0
        for ids, mask, y in batches(tr_seqs, tr_labels, rng):
            loss = F.cross_entropy(model(ids, mask), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tot += float(loss) * len(y)
            n += len(y)
        acc = float((predict(model, ho_seqs).argmax(1) == ho_labels).float().mean())
        print("epoch %d: train loss %.4f, held-out accuracy %.4f (%.0f s)"
              % (epoch, tot / n, acc, time.time() - t1))
    train_s = time.time() - t1

    # store F16; from here on the model runs on the rounded weights
    acc32 = float((predict(model, ho_seqs).argmax(1) == ho_labels).float().mean())
    state = {k: v.detach().to(torch.float16) for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.float() for k, v in state.items()})
    sm_safetensors.save(state, os.path.join(HERE, "langid.safetensors"), metadata={"format": "pt"})
    cfg = {"architectures": ["BertForSequenceClassification"], "model_type": "bert",
           "vocab_size": V, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
           "num_attention_heads": HEADS, "intermediate_size": INTER, "hidden_act": "gelu",
           "hidden_dropout_prob": DROPOUT, "attention_probs_dropout_prob": DROPOUT,
           "max_position_embeddings": MAX_LEN, "type_vocab_size": 2, "layer_norm_eps": EPS,
           "initializer_range": 0.02, "pad_token_id": 0, "position_embedding_type": "absolute",
           "num_labels": len(labels),
           "id2label": {str(i): lab for i, lab in enumerate(labels)},
           "label2id": {lab: i for i, lab in enumerate(labels)},
           "problem_type": "single_label_classification", "output": "logits"}
    with open(os.path.join(HERE, "langid_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")

    probs = predict(model, ho_seqs)
    pred = probs.argmax(1)
    acc16 = float((pred == ho_labels).float().mean())
    print("held-out accuracy %.4f with float32 weights, %.4f with the stored F16 weights (%d strings)"
          % (acc32, acc16, len(heldout)))
    conf = collections.Counter((heldout[i][0], labels[int(pred[i])]) for i in range(len(heldout)))
    print("per language (held out): accuracy, most frequent confusion")
    for lab in labels:
        n = sum(c for (a, _), c in conf.items() if a == lab)
        wrong = sorted(((c, b) for (a, b), c in conf.items() if a == lab and b != lab), reverse=True)
        print("  %s %.4f of %5d  %s" % (lab, conf[(lab, lab)] / n, n,
                                       " ".join("%s:%d" % (b, c) for c, b in wrong[:3])))

    # langid_expected.csv: the samples, one sequence at a time
    with open(os.path.join(HERE, "langid_samples.csv"), encoding="utf-8", newline="") as f:
        rows = [(int(r["id"]), r["lang"], r["text"]) for r in csv.DictReader(f)]
    s_seqs = [tok.encode(t) for _, _, t in rows]
    s_probs = predict(model, s_seqs, one_by_one=True)
    dev = float((s_probs - predict(model, s_seqs)).abs().max())
    s_pred = s_probs.argmax(1)
    s_acc = sum(labels[int(p)] == lab for p, (_, lab, _) in zip(s_pred, rows)) / len(rows)
    with open(os.path.join(HERE, "langid_expected.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["id", "label", "probs", "ids"])
        for (i, _, t), p, k in zip(rows, s_probs, s_pred):
            ids = [vocab["[CLS]"]] + tok.tokens(t) + [vocab["[SEP]"]]
            w.writerow([i, labels[int(k)], "{" + ",".join("%.9g" % float(x) for x in p) + "}",
                        "{" + ",".join(map(str, ids)) + "}"])
    ref_dev = check_reference(model.state_dict(), cfg, s_seqs, s_probs)
    print("samples: %d rows, accuracy %.4f, longest %d tokens; batched vs one by one max |diff| %.2g;"
          " tfm_reference BERT max |diff| %.2g" % (len(rows), s_acc, max(map(len, s_seqs)), dev, ref_dev))
    print("demo_langid.sql's own sentences:")
    d_seqs = [tok.encode(t) for t in DEMO_SENTENCES]
    for t, s, p in zip(DEMO_SENTENCES, d_seqs, predict(model, d_seqs, one_by_one=True)):
        print("  %s %.2f  %s  %s" % (labels[int(p.argmax())], float(p.max()), t, s))
    nparams = sum(v.numel() for v in state.values())
    for name in ("langid_tokenizer.json", "langid.safetensors", "langid_config.json",
                 "langid_expected.csv", "langid_samples.csv"):
        print("  %-22s %9d bytes" % (name, os.path.getsize(os.path.join(HERE, name))))
    print("parameters %d; training %.1f s, total %.1f s (torch %s, %d threads)"
          % (nparams, train_s, time.time() - t0, torch.__version__, THREADS))


if __name__ == "__main__":
    sys.exit(main())
