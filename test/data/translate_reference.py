#!/usr/bin/python3
"""PyTorch's references for the translation demo (demo_translate.sql), from
the committed files: translate_spm.model, translate_{rnn,attn,tfm}.json and
.safetensors (F16 weights, computed with in float32), translate_test.tsv.

    /usr/bin/python3 test/data/translate_reference.py     # writes translate_expected.csv

For every held-out sentence and each model, one sentence at a time (a batch
of one, no padding; a beam search steps its num_beams rows together):

  * source ids: sp.encode(source) + [eos 2]; max_new_tokens
    min(2 * len(source ids) + 10, 100);
  * greedy decode and beam search (num_beams 4, length_penalty 1.0,
    early_stopping false, no_repeat_ngram_size 0): the loops of
    test/fixtures/gen_seq2seq_fixtures.py (Hugging Face generate()'s
    definitions), imported; they drive any decoder with start(source, rows)
    and step(tokens, state, memory), and reorder the state's dim 1.  The rnn
    models are that file's Model (EncoderRNN / Decoder) with these weights;
    the transformer's decoder state is the target prefix [T, rows], and a
    step runs the tutorial's model.decode over the whole prefix with the
    causal mask and takes the last position's generator output;
  * every decision's margin: greedy, the best minus the second-best
    log-probability of each step (the minimum over the sentence is
    greedy_min_margin); beam, the smallest gap of the comparisons the
    fixtures' loop checks (candidate order, hypothesis scores, is_done,
    best hypothesis): beam_min_margin;
  * logprob: the teacher-forced log-likelihood of the reference translation
    sp.encode(target) + [eos] (sum of float32 log-softmax values, in
    double).

translate_expected.csv (CSV for COPY ... CSV HEADER; id joins
translate_test.tsv; arrays as PostgreSQL literals):
  id, model, words (source words), source_ids, max_new_tokens,
  greedy_ids, greedy_text (sp.decode), greedy_min_margin,
  beam_ids, beam_text, beam_score, beam_min_margin, target_ids, logprob

translate_scores.csv: model, decode (greedy / beam), bucket (all, 1-5, 6-10,
11-15, 16+ source words), sentences, chrf, bleu.  Those are chrF (sacrebleu's definition: character 1..6-grams of the strings with
whitespace removed, per order precision and recall from counts summed over
the corpus, averaged over the orders where both counts are positive, F with
beta 2, times 100) and BLEU (sacrebleu's corpus BLEU: 13a tokenization,
4-grams, brevity penalty, exp smoothing), overall and by source-length
bucket, of greedy and beam outputs against the reference translations.
"""

import collections
import csv
import json
import math
import os
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import train_translators as tt  # noqa: E402  (also puts test/fixtures on the path)
import gen_seq2seq_fixtures as s2s  # noqa: E402
import prepare_translation as prep  # noqa: E402
import sm_safetensors as st  # noqa: E402

ALL_KINDS = ["rnn", "attn", "tfm"]
KINDS = os.environ.get("KINDS", " ".join(ALL_KINDS)).split()   # a subset: see main()
NUM_BEAMS = 4
BUCKETS = [(1, 5), (6, 10), (11, 15), (16, 10 ** 9)]
IN = os.environ.get("IN", HERE)
OUT = os.environ.get("OUT", HERE)


def bucket_name(lo, hi):
    return "%d-%d" % (lo, hi) if hi < 10 ** 9 else "%d+" % lo


def bucket_of(words):
    for lo, hi in BUCKETS:
        if lo <= words <= hi:
            return bucket_name(lo, hi)


def max_new_of(source_ids):
    return min(2 * len(source_ids) + 10, tt.MAX_NEW)


# ---------------------------------------------------------------- models ---

def load_weights(kind):
    tensors, _ = st.load(os.path.join(IN, "translate_%s.safetensors" % kind))
    with open(os.path.join(IN, "translate_%s.json" % kind), encoding="ascii") as f:
        config = json.load(f)
    return {k: v.float() for k, v in tensors.items()}, config


def rnn_model(kind):
    sd, c = load_weights(kind)
    m = s2s.Model("translate_" + kind, c["source_vocab_size"], c["target_vocab_size"],
                  c["hidden_size"], cell=c["cell"], attention=c["attention"],
                  E=c["embedding_size"], sos=c["sos_token_id"], eos=c["eos_token_id"],
                  max_length=c["max_length"])
    m.module.load_state_dict(sd)
    m.module.eval()
    return m


class TfmDecoder:
    """The transformer behind gen_seq2seq_fixtures' decoder interface."""

    def __init__(self, kind):
        sd, c = load_weights(kind)
        m = tt.build(kind)
        m.load_state_dict(sd)
        m.eval()
        self.module, self.V = m, c["tgt_vocab_size"]
        self.sos, self.eos = c["decoder_start_token_id"], c["eos_token_id"]

    def start(self, source, rows):
        with torch.no_grad():
            memory = self.module.encode(torch.tensor(source)[:, None])
        return memory.expand(-1, rows, -1).contiguous(), torch.zeros((0, rows), dtype=torch.long)

    def step(self, tokens, prefix, memory):
        ys = torch.cat([prefix, torch.tensor(tokens)[None, :]], 0)
        with torch.no_grad():
            out = self.module.decode(ys, memory, tt.square_subsequent_mask(ys.shape[0]))
            lp = F.log_softmax(self.module.generator(out[-1]), dim=-1)
        return lp.double(), ys

    def teacher(self, source, target):
        memory, _ = self.start(source, 1)
        ys = torch.tensor([self.sos] + target[:-1])[:, None]
        with torch.no_grad():
            out = self.module.decode(ys, memory, tt.square_subsequent_mask(ys.shape[0]))
            return F.log_softmax(self.module.generator(out[:, 0]), dim=-1).double()


def load_model(kind):
    return TfmDecoder(kind) if kind == "tfm" else rnn_model(kind)


class Margins:
    """Stands in for gen_seq2seq_fixtures.need: records each decision's gap
    instead of refusing small ones."""

    def __init__(self):
        self.gaps = []

    def __call__(self, gap, what):
        self.gaps.append(float(gap))

    def take(self):
        g, self.gaps = self.gaps, []
        return min(g) if g else float("inf")


# ----------------------------------------------------------------- chrF ---

def strip_ws(s):
    return "".join(s.split())


def chrf_stats(hyp, ref, order=6):
    """[(hyp n-grams, ref n-grams, matches)] for n = 1..order."""
    h, r = strip_ws(hyp), strip_ws(ref)
    out = []
    for n in range(1, order + 1):
        hc = collections.Counter(h[i:i + n] for i in range(len(h) - n + 1))
        rc = collections.Counter(r[i:i + n] for i in range(len(r) - n + 1))
        out.append((sum(hc.values()), sum(rc.values()), sum((hc & rc).values())))
    return out


def chrf_score(stats, beta=2.0):
    """Corpus chrF (0..100) of summed statistics."""
    p = r = 0.0
    k = 0
    for nh, nr, nm in stats:
        if nh > 0 and nr > 0:
            p += nm / nh
            r += nm / nr
            k += 1
    if k == 0:
        return 0.0
    p, r = p / k, r / k
    if p + r == 0:
        return 0.0
    b2 = beta * beta
    return 100 * (1 + b2) * p * r / (b2 * p + r)


def chrf(hyps, refs):
    tot = [[0, 0, 0] for _ in range(6)]
    for h, r in zip(hyps, refs):
        for i, s in enumerate(chrf_stats(h, r)):
            for j in range(3):
                tot[i][j] += s[j]
    return chrf_score(tot)


# ----------------------------------------------------------------- BLEU ---

_13A = [(re.compile(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])"), r" \1 "),
        (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
        (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
        (re.compile(r"([0-9])(-)"), r"\1 \2 ")]


def tok13a(line):
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = (line.replace("&quot;", '"').replace("&amp;", "&")
                .replace("&lt;", "<").replace("&gt;", ">"))
    line = " %s " % line
    for rx, rep in _13A:
        line = rx.sub(rep, line)
    return line.split()


def bleu(hyps, refs, order=4):
    correct, total = [0] * order, [0] * order
    hl = rl = 0
    for h, r in zip(hyps, refs):
        ht, rt = tok13a(h), tok13a(r)
        hl, rl = hl + len(ht), rl + len(rt)
        for n in range(1, order + 1):
            hc = collections.Counter(tuple(ht[i:i + n]) for i in range(len(ht) - n + 1))
            rc = collections.Counter(tuple(rt[i:i + n]) for i in range(len(rt) - n + 1))
            correct[n - 1] += sum((hc & rc).values())
            total[n - 1] += max(0, len(ht) - n + 1)
    prec, smooth = [0.0] * order, 1.0
    for n in range(order):
        if total[n] == 0:
            break
        if correct[n] == 0:
            smooth *= 2
            prec[n] = 100.0 / (smooth * total[n])
        else:
            prec[n] = 100.0 * correct[n] / total[n]
    bp = 1.0 if hl >= rl else (math.exp(1 - rl / hl) if hl > 0 else 0.0)
    return bp * math.exp(sum(math.log(p) if p > 0 else -9999999999 for p in prec) / order)


# ----------------------------------------------------------------- main ---

def ints(v):
    return "{%s}" % ",".join(str(int(x)) for x in v)


COLS = ["id", "model", "words", "source_ids", "max_new_tokens", "greedy_ids", "greedy_text",
        "greedy_min_margin", "beam_ids", "beam_text", "beam_score", "beam_min_margin",
        "target_ids", "logprob"]


def decode_all(kind, sp, test, margins):
    t0 = time.time()
    m = load_model(kind)
    res = []
    for i, src, tgt in test:
        sid = sp.encode(src) + [tt.EOS]
        tid = sp.encode(tgt) + [tt.EOS]
        mx = max_new_of(sid)
        g = s2s.greedy(m, sid, mx)
        gm = margins.take()
        b, bscore = s2s.beam_search(m, sid, NUM_BEAMS, mx, 1.0, False, 0)
        bm = margins.take()
        lp = m.teacher(sid, tid)
        ll = sum(float(lp[k, t]) for k, t in enumerate(tid))
        res.append({"id": str(i), "model": "translate_" + kind, "words": str(len(src.split(" "))),
                    "source_ids": ints(sid), "max_new_tokens": str(mx),
                    "greedy_ids": ints(g), "greedy_text": sp.decode(g),
                    "greedy_min_margin": "%.6g" % gm,
                    "beam_ids": ints(b), "beam_text": sp.decode(b),
                    "beam_score": repr(float(bscore)), "beam_min_margin": "%.6g" % bm,
                    "target_ids": ints(tid), "logprob": repr(ll)})
    print("%s: %d sentences decoded in %.1f s" % (kind, len(res), time.time() - t0))
    sys.stdout.flush()
    return res


def id_list(s):
    return [int(x) for x in s.strip("{}").split(",") if x]


def main():
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    t_all = time.time()
    sp = tt.load_spm(os.path.join(IN, "translate_spm.model"))
    test = prep.read_tsv(os.path.join(IN, "translate_test.tsv"))
    limit = int(os.environ.get("LIMIT", "0"))
    if limit:
        test = test[:limit]
    margins = Margins()
    s2s.need = margins            # the fixtures' loops call need(gap, what)
    rows = []
    for kind in KINDS:
        rows += decode_all(kind, sp, test, margins)
    path = os.path.join(OUT, "translate_expected.csv")
    if set(KINDS) != set(ALL_KINDS) and os.path.exists(path):
        # a partial run (KINDS=...) keeps the other models' rows of the file
        with open(path, encoding="utf-8", newline="") as f:
            rows += [r for r in csv.DictReader(f) if r["model"][len("translate_"):] not in KINDS]
    rows.sort(key=lambda r: (int(r["id"]), r["model"]))
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLS)
        for r in rows:
            w.writerow([r[c] for c in COLS])
    print("wrote %s: %d rows, %d bytes" % (os.path.basename(path), len(rows), os.path.getsize(path)))

    kinds = [k for k in ALL_KINDS if any(r["model"] == "translate_" + k for r in rows)]
    by = {k: {int(r["id"]): r for r in rows if r["model"] == "translate_" + k} for k in kinds}
    refs = [t for _, _, t in test]
    bk = [bucket_of(len(s.split(" "))) for _, s, _ in test]
    names = [bucket_name(lo, hi) for lo, hi in BUCKETS]
    print("\nheld-out sentences per source-length bucket (words): %s"
          % ", ".join("%s %d" % (n, bk.count(n)) for n in names))
    scores = []
    for what in ("greedy", "beam"):
        print("\nchrF / BLEU, %s (%d held-out sentences)" % (what, len(test)))
        print("%-6s %14s " % ("model", "all") + " ".join("%14s" % n for n in names))
        for kind in kinds:
            hyps = [by[kind][i][what + "_text"] for i, _, _ in test]
            cells = []
            for n in ["all"] + names:
                sel = [j for j in range(len(test)) if n == "all" or bk[j] == n]
                hs, rs = [hyps[j] for j in sel], [refs[j] for j in sel]
                c, b = chrf(hs, rs), bleu(hs, rs)
                scores.append(["translate_" + kind, what, n, len(sel), repr(c), repr(b)])
                cells.append("%6.2f / %5.2f" % (c, b))
            print("%-6s " % kind + " ".join("%14s" % c for c in cells))
    spath = os.path.join(OUT, "translate_scores.csv")
    with open(spath, "w", encoding="ascii", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["model", "decode", "bucket", "sentences", "chrf", "bleu"])
        w.writerows(scores)
    print("wrote %s: %d rows" % (os.path.basename(spath), len(scores)))
    print()
    for kind in kinds:
        res = [by[kind][i] for i, _, _ in test]
        ntok = sum(len(id_list(r["target_ids"])) for r in res)
        ll = sum(float(r["logprob"]) for r in res)
        print("%s: reference log-likelihood %.1f (%.3f nats/token, ppl %.2f); min margin < 1e-4:"
              " greedy %d, beam %d; max_new_tokens reached: greedy %d, beam %d;"
              " greedy == beam: %d; empty: greedy %d, beam %d"
              % (kind, ll, -ll / ntok, math.exp(-ll / ntok),
                 sum(float(r["greedy_min_margin"]) < 1e-4 for r in res),
                 sum(float(r["beam_min_margin"]) < 1e-4 for r in res),
                 sum(len(id_list(r["greedy_ids"])) >= int(r["max_new_tokens"]) for r in res),
                 sum(len(id_list(r["beam_ids"])) >= int(r["max_new_tokens"]) for r in res),
                 sum(r["greedy_ids"] == r["beam_ids"] for r in res),
                 sum(r["greedy_ids"] == "{}" for r in res), sum(r["beam_ids"] == "{}" for r in res)))
    print("total %.1f s (torch %s, %d thread)" % (time.time() - t_all, torch.__version__,
                                                 torch.get_num_threads()))


if __name__ == "__main__":
    main()
