#!/usr/bin/python3
"""Train the global life-expectancy model of the many-series demo
(demo_gapminder.sql): one LSTM for all 185 countries of
gapminder_life_expectancy.csv (see README.md, "Many series").

A direct quantile forecaster: after reading a country's history the LSTM's
last state gives, through one Linear, the 10 %, 50 % and 90 % quantiles of
each of the next 5 years (15 outputs, laid out [step][quantile], seqmodel's
"forecast": "direct" with "quantiles").  An unconstrained quantile head can
cross (a 10 % quantile above the 90 %), here mostly for the countries at the
top of the range, beyond the training years' levels; "sort_quantiles" puts
each step's three values in order after the head (rearrangement: it never
raises the pinball loss), as the forecasts below do with torch.sort.  Trained with the pinball loss on
the years 1960 .. 2006 only; 2007 .. 2016 are held out for the SQL backtest
(two origins of 5 years: cut-offs after 2006 and after 2011).

Writes next to itself:

  gapminder_lstm.safetensors  the state_dict (lstm.*, head.*), F32
  gapminder_lstm.json         the seqmodel config for arch "lstm" (one line)
  gapminder_expected.csv      country,cutoff,step,q10,q50,q90: PyTorch's
                              forecasts from the first `cutoff` years
                              (47: 2007-2011, 52: 2012-2016, 57: 2017-2021)

The forecasts are computed in float32 as the extension does (inputs scaled
with (x - input_mean) / input_std, zero initial states, the head on the last
step, outputs * output_std + output_mean) and checked against an
independent float64 numpy LSTM run from the saved safetensors file.  The
script also prints the held-out metrics the SQL demo computes, from its own
forecasts: the share of countries where the model beats the naive forecast
(last value) and the coverage of the 80 % interval.

Deterministic: fixed seed, one thread, deterministic algorithms.  Needs
Debian's python with torch:

    /usr/bin/python3 test/data/train_gapminder_lstm.py
"""

import csv
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import sm_safetensors  # noqa: E402

SEED = 0
FIRST_YEAR, LAST_YEAR = 1960, 2016
# TRAIN_END=1996 trains on 1960 .. 1996 and scores 1997 .. 2006: the
# validation split the settings were chosen on (files then go to OUT)
TRAIN_END = int(os.environ.get("TRAIN_END", 2006))
OUT = os.environ.get("OUT", HERE)
STEPS = 5                       # years each forecast covers (direct head)
QUANTILES = [0.1, 0.5, 0.9]
MIN_HISTORY = 5                 # positions scored in training: >= 5 years read
HIDDEN = int(os.environ.get("HIDDEN", 8))
EPOCHS = int(os.environ.get("EPOCHS", 500))
LR = float(os.environ.get("LR", 0.01))
CUTOFFS = [47, 52, 57]          # years of history: to 2006, 2011, 2016


class Net(nn.Module):
    def __init__(self, hidden):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=1, batch_first=True)
        self.head = nn.Linear(hidden, STEPS * len(QUANTILES))

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.head(out)             # every position: [B, T, 15]


def read_panel():
    rows = {}
    with open(os.path.join(HERE, "gapminder_life_expectancy.csv"),
              newline="") as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["country"], []).append(
                (int(r["year"]), float(r["life_expectancy"])))
    countries = sorted(rows)
    years = LAST_YEAR - FIRST_YEAR + 1
    Y = np.zeros((len(countries), years), dtype=np.float32)
    for i, c in enumerate(countries):
        ys = rows[c]
        assert [y for y, _ in ys] == list(range(FIRST_YEAR, LAST_YEAR + 1))
        Y[i] = [v for _, v in ys]     # float32, as the demo's real column
    return countries, Y


def pinball(pred, target):
    """pred [..., STEPS, Q], target [..., STEPS]: mean pinball loss."""
    q = torch.tensor(QUANTILES)
    e = target.unsqueeze(-1) - pred
    return torch.maximum(q * e, (q - 1) * e).mean()


def forecast(net, Y, cutoff, cfg):
    """Direct forecast of every country from its first `cutoff` years, in
    float32 with sm_rnn.h's semantics: [countries, STEPS, Q]."""
    f32 = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    x = (torch.from_numpy(Y[:, :cutoff]) - f32(cfg["input_mean"])) \
        / f32(cfg["input_std"])
    with torch.no_grad():
        out = net(x.unsqueeze(-1))[:, -1]
    out = out * f32(cfg["output_std"]) + f32(cfg["output_mean"])
    return out.view(len(Y), STEPS, len(QUANTILES)).sort(-1).values.numpy()


def reference_forecast(path, Y, cutoff, cfg):
    """The same from the saved file: a float64 numpy LSTM (gates i f g o)."""
    t, _ = sm_safetensors.load(path)
    t = {k: v.double().numpy() for k, v in t.items()}
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    B, H = len(Y), cfg["hidden_size"]
    h, c = np.zeros((B, H)), np.zeros((B, H))
    x = (Y[:, :cutoff].astype(np.float64) - cfg["input_mean"]) / cfg["input_std"]
    for s in range(cutoff):
        g = (np.outer(x[:, s], t["lstm.weight_ih_l0"][:, 0])
             + t["lstm.bias_ih_l0"] + h @ t["lstm.weight_hh_l0"].T
             + t["lstm.bias_hh_l0"])
        i, f, gg, o = np.split(g, 4, axis=1)
        c = sig(f) * c + sig(i) * np.tanh(gg)
        h = sig(o) * np.tanh(c)
    y = h @ t["head.weight"].T + t["head.bias"]
    y = y * cfg["output_std"] + cfg["output_mean"]
    return np.sort(y.reshape(B, STEPS, len(QUANTILES)), axis=-1)


def heldout_metrics(pred, Y, cutoffs):
    """Per country over the held-out origins: the model's MAE (median) and
    the naive forecast's (last value), and the 80 % interval's coverage."""
    mae, naive, inside, n = [], [], 0, 0
    for i in range(len(Y)):
        m = nv = 0.0
        for k, cut in enumerate(cutoffs):
            act = Y[i, cut:cut + STEPS].astype(np.float64)
            p = pred[k][i].astype(np.float64)
            m += np.abs(p[:, 1] - act).mean()
            nv += np.abs(Y[i, cut - 1] - act).mean()
            inside += int(np.sum((act >= p[:, 0]) & (act <= p[:, 2])))
            n += STEPS
        mae.append(m / len(cutoffs))
        naive.append(nv / len(cutoffs))
    mae, naive = np.array(mae), np.array(naive)
    return mae, naive, inside / n


def main():
    t_start = time.time()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    countries, Y = read_panel()
    train_len = TRAIN_END - FIRST_YEAR + 1            # 47 years
    train = Y[:, :train_len]
    mean = round(float(np.mean(train.astype(np.float64))), 4)
    std = round(float(np.std(train.astype(np.float64))), 4)
    cfg = {"input_size": 1, "hidden_size": HIDDEN, "num_layers": 1,
           "output_size": STEPS * len(QUANTILES), "forecast": "direct",
           "quantiles": QUANTILES,
           "input_mean": mean, "input_std": std,
           "output_mean": mean, "output_std": std,
           "sort_quantiles": True, "min_history": MIN_HISTORY}

    z = torch.from_numpy((train - np.float32(mean)) / np.float32(std))
    X = z[:, :train_len - STEPS].unsqueeze(-1)        # positions 0 .. 41
    # target of position t: years t+1 .. t+STEPS
    T = torch.stack([z[:, s + 1:s + 1 + train_len - STEPS]
                     for s in range(STEPS)], dim=-1)  # [B, 42, STEPS]

    net = Net(HIDDEN)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    print("training on %d countries, %d .. %d (%d years), hidden %d, "
          "%d epochs, full batch" % (len(countries), FIRST_YEAR, TRAIN_END,
                                     train_len, HIDDEN, EPOCHS), flush=True)
    t_train = time.time()
    for epoch in range(EPOCHS):
        out = net(X).view(len(X), -1, STEPS, len(QUANTILES))
        loss = pinball(out[:, MIN_HISTORY - 1:], T[:, MIN_HISTORY - 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (epoch + 1) % (EPOCHS // 5) == 0:
            print("epoch %d: pinball %.5f (standardised), %.3f years"
                  % (epoch + 1, loss.item(), loss.item() * std), flush=True)
    t_train = time.time() - t_train
    net.eval()

    st_path = os.path.join(OUT, "gapminder_lstm.safetensors")
    sm_safetensors.save(net.state_dict(), st_path, metadata={"format": "pt"})
    with open(os.path.join(OUT, "gapminder_lstm.json"), "w") as f:
        f.write(json.dumps(cfg) + "\n")

    preds = {cut: forecast(net, Y, cut, cfg) for cut in CUTOFFS}
    with torch.no_grad():                  # how often the raw head crosses
        raw = net(((torch.from_numpy(Y) - mean) / std).unsqueeze(-1))
    raw = raw[:, [c - 1 for c in CUTOFFS]].view(-1, STEPS, len(QUANTILES))
    crossed = int(torch.sum(raw[..., 0] > raw[..., 2]))
    worst = 0.0
    for cut in CUTOFFS:
        ref = reference_forecast(st_path, Y, cut, cfg)
        worst = max(worst, float(np.max(np.abs(ref - preds[cut]) / np.abs(ref))))
    with open(os.path.join(OUT, "gapminder_expected.csv"), "w",
              newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["country", "cutoff", "step", "q10", "q50", "q90"])
        for i, c in enumerate(countries):
            for cut in CUTOFFS:
                for s in range(STEPS):
                    w.writerow([c, cut, s + 1] + ["%.9g" % v
                                                  for v in preds[cut][i, s]])

    origins = [train_len, train_len + STEPS]
    for cut in origins:
        if cut not in preds:
            preds[cut] = forecast(net, Y, cut, cfg)
    mae, naive, cover = heldout_metrics([preds[o] for o in origins], Y, origins)
    print("config: %s" % json.dumps(cfg))
    print("held out %d .. %d (origins after %d and %d, %d years each):"
          % (TRAIN_END + 1, TRAIN_END + 2 * STEPS, TRAIN_END,
             TRAIN_END + STEPS, STEPS))
    print("  model MAE %.3f years (mean over countries), naive %.3f"
          % (mae.mean(), naive.mean()))
    print("  model beats naive in %d of %d countries (%.1f %%)"
          % (int(np.sum(mae < naive)), len(mae),
             100.0 * np.mean(mae < naive)))
    print("  80 %% interval (q10 .. q90) covers %.1f %% of the actuals"
          % (100.0 * cover))
    print("raw head: q10 above q90 in %d of %d forecast steps (sorted)"
          % (crossed, raw.shape[0] * STEPS))
    print("numpy float64 reference vs torch float32: max relative diff %.2g"
          % worst)
    print("parameters %d, gapminder_lstm.safetensors %d bytes"
          % (sum(p.numel() for p in net.parameters()),
             os.path.getsize(st_path)))
    print("training %.1f s, total %.1f s (torch %s, 1 thread)"
          % (t_train, time.time() - t_start, torch.__version__))


if __name__ == "__main__":
    main()
