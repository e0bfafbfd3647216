#!/usr/bin/python3
"""Train the CO2 forecasting LSTM of the real-data demo (demo_co2.sql).

Reads co2_monthly.csv (Mauna Loa CO2, monthly means; see README.md), holds
out the last 24 months, trains a one-step-ahead LSTM with teacher forcing on
the months before them, and writes next to itself:

  co2_lstm.safetensors  the state_dict (lstm.*, head.*), F32
  co2_lstm.json         the seqmodel config for arch "lstm" (one line)
  co2_expected.csv      month,actual,lstm_forecast,seasonal_naive for the
                        24 held-out months

The held-out forecast is recursive, with exactly the semantics of
src/engine/nn/sm_rnn.h: the history is cut to its last `context` months,
scaled with (x - input_mean) / input_std, run from zero states; each
prediction y' becomes y' * output_std + output_mean (ppm) and is fed back,
rescaled, as the next input while the state carries on.  It is computed
in float32 as the extension does, and checked against an independent
float64 numpy LSTM run from the saved safetensors file.

Deterministic: fixed seed, one thread, deterministic algorithms (bytes
are reproducible with the same torch build).  Needs Debian's python with
torch:

    /usr/bin/python3 test/data/train_co2_lstm.py
"""

import csv
import json
import math
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
HOLDOUT = 24          # months held out (forecast horizon)
HIDDEN = 32
LAYERS = 1
CONTEXT = 120         # months of history the model sees (config "context")
WINDOW = 120          # training window length (teacher forcing)
WARMUP = 12           # steps of each window not scored (state warm-up)
EPOCHS = 500
BATCH = 64
LR = 0.01


class Net(nn.Module):
    def __init__(self, hidden, layers):
        super().__init__()
        self.lstm = nn.LSTM(1, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(out), state


def read_series():
    months, ppm = [], []
    with open(os.path.join(HERE, "co2_monthly.csv"), newline="") as f:
        for row in csv.DictReader(f):
            months.append(row["month"])
            ppm.append(float(row["ppm"]))
    # float32, as the demo's `ppm real` column holds them
    return months, np.array(ppm, dtype=np.float32)


def forecast(net, history, horizon, cfg):
    """Recursive forecast in float32 with sm_rnn.h's semantics."""
    f32 = lambda v: torch.tensor(v, dtype=torch.float32)  # noqa: E731
    in_mean, in_std = f32(cfg["input_mean"]), f32(cfg["input_std"])
    out_mean, out_std = f32(cfg["output_mean"]), f32(cfg["output_std"])
    h = torch.from_numpy(np.asarray(history, dtype=np.float32))
    if cfg.get("context"):
        h = h[-cfg["context"]:]
    with torch.no_grad():
        out, state = net(((h - in_mean) / in_std).view(1, -1, 1))
        y = out[0, -1, 0] * out_std + out_mean
        preds = []
        for step in range(horizon):
            preds.append(y.item())
            if step + 1 == horizon:
                break
            out, state = net(((y - in_mean) / in_std).view(1, 1, 1), state)
            y = out[0, -1, 0] * out_std + out_mean
    return np.array(preds, dtype=np.float32)


def reference_forecast(path, history, horizon, cfg):
    """The same forecast from the saved file: plain float64 numpy LSTM with
    PyTorch's equations (gates i f g o), as written in sm_rnn.h."""
    t, _ = sm_safetensors.load(path)
    t = {k: v.double().numpy() for k, v in t.items()}
    L, H = cfg["num_layers"], cfg["hidden_size"]
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    hs = [np.zeros(H) for _ in range(L)]
    cs = [np.zeros(H) for _ in range(L)]

    def step(x):
        inp = np.array([(x - cfg["input_mean"]) / cfg["input_std"]])
        for k in range(L):
            g = (t["lstm.weight_ih_l%d" % k] @ inp + t["lstm.bias_ih_l%d" % k]
                 + t["lstm.weight_hh_l%d" % k] @ hs[k]
                 + t["lstm.bias_hh_l%d" % k])
            i, f, gg, o = np.split(g, 4)
            cs[k] = sig(f) * cs[k] + sig(i) * np.tanh(gg)
            hs[k] = sig(o) * np.tanh(cs[k])
            inp = hs[k]
        y = t["head.weight"] @ inp + t["head.bias"]
        return y[0] * cfg["output_std"] + cfg["output_mean"]

    hist = np.asarray(history, dtype=np.float64)
    if cfg.get("context"):
        hist = hist[-cfg["context"]:]
    for x in hist:
        y = step(x)
    preds = []
    for s in range(horizon):
        preds.append(y)
        if s + 1 < horizon:
            y = step(y)
    return np.array(preds)


def metrics(pred, actual):
    e = np.asarray(pred, dtype=np.float64) - np.asarray(actual, np.float64)
    return float(np.mean(np.abs(e))), float(math.sqrt(np.mean(e * e)))


def main():
    t_start = time.time()
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    months, ppm = read_series()
    train, test = ppm[:-HOLDOUT], ppm[-HOLDOUT:]
    test_months = months[-HOLDOUT:]
    naive = ppm[-HOLDOUT - 12:-12]            # value 12 months earlier

    # standardise with the training data's mean and std (rounded, so that
    # the config is tidy; the rounded values are the ones used throughout)
    mean = round(float(np.mean(train.astype(np.float64))), 4)
    std = round(float(np.std(train.astype(np.float64))), 4)
    cfg = {"input_size": 1, "hidden_size": HIDDEN, "num_layers": LAYERS,
           "output_size": 1,
           "input_mean": mean, "input_std": std,
           "output_mean": mean, "output_std": std,
           "context": CONTEXT}

    z = torch.from_numpy((train - np.float32(mean)) / np.float32(std))
    starts = range(len(z) - WINDOW)
    X = torch.stack([z[s:s + WINDOW] for s in starts]).unsqueeze(-1)
    Y = torch.stack([z[s + 1:s + WINDOW + 1] for s in starts]).unsqueeze(-1)

    net = Net(HIDDEN, LAYERS)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    print("training %d windows of %d months (%s .. %s), hidden %d, "
          "layers %d, %d epochs" % (len(X), WINDOW, months[0],
                                    months[len(train) - 1], HIDDEN, LAYERS,
                                    EPOCHS), flush=True)
    t_train = time.time()
    for epoch in range(EPOCHS):
        net.train()
        perm = torch.randperm(len(X))
        total = 0.0
        for b in range(0, len(X), BATCH):
            idx = perm[b:b + BATCH]
            out, _ = net(X[idx])
            loss = ((out[:, WARMUP:] - Y[idx][:, WARMUP:]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        sched.step()
        if (epoch + 1) % 100 == 0:
            print("epoch %d: train mse %.6f (standardised), one-step rmse "
                  "%.3f ppm" % (epoch + 1, total / len(X),
                                math.sqrt(total / len(X)) * std), flush=True)
    t_train = time.time() - t_train
    net.eval()

    st_path = os.path.join(HERE, "co2_lstm.safetensors")
    sm_safetensors.save(net.state_dict(), st_path,
                        metadata={"format": "pt"})
    with open(os.path.join(HERE, "co2_lstm.json"), "w") as f:
        f.write(json.dumps(cfg) + "\n")

    pred = forecast(net, train, HOLDOUT, cfg)
    ref = reference_forecast(st_path, train, HOLDOUT, cfg)
    ref_diff = float(np.max(np.abs(pred.astype(np.float64) - ref)))
    if ref_diff > 1e-3:
        raise SystemExit("torch and the numpy reference disagree by %g ppm"
                         % ref_diff)

    with open(os.path.join(HERE, "co2_expected.csv"), "w") as f:
        f.write("month,actual,lstm_forecast,seasonal_naive\n")
        for m, a, p, n in zip(test_months, test, pred, naive):
            f.write("%s,%.3f,%.6f,%.3f\n" % (m, a, p, n))

    lstm_mae, lstm_rmse = metrics(pred, test)
    sn_mae, sn_rmse = metrics(naive, test)
    print("config: %s" % json.dumps(cfg))
    print("held-out %s .. %s, recursive forecast from the last %d months "
          "before %s:" % (test_months[0], test_months[-1], CONTEXT,
                          test_months[0]))
    print("  lstm            MAE %.3f  RMSE %.3f ppm" % (lstm_mae, lstm_rmse))
    print("  seasonal naive  MAE %.3f  RMSE %.3f ppm" % (sn_mae, sn_rmse))
    print("numpy float64 reference vs torch float32: max |diff| %.2g ppm"
          % ref_diff)
    print("parameters %d, co2_lstm.safetensors %d bytes"
          % (sum(p.numel() for p in net.parameters()),
             os.path.getsize(st_path)))
    print("training %.1f s, total %.1f s (torch %s, 1 thread)"
          % (t_train, time.time() - t_start, torch.__version__))


if __name__ == "__main__":
    main()
