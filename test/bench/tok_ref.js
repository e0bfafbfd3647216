#!/usr/bin/env node
// Reference tokenizer throughput: Hugging Face tokenizers (npm "tokenizers", Rust, Node binding),
// single-threaded.
//
//   node test/bench/tok_ref.js <tokenizer.json> <corpus.txt> [rounds]
//
// Encodes every line of the corpus (one entry per line, the trailing newline is not part of any
// line; default add_special_tokens) `rounds` times (default 5) in each mode -- per-line
// `encode` and `encodeBatch` over chunks of lines -- after one warm-up round, and prints one
// JSON line for the fastest mode (median over rounds):
//   {"tokenizer", "bytes" (UTF-8 bytes of the lines, newlines not counted), "lines", "tokens",
//    "median_s", "mb_per_s" (bytes / 1e6 / median_s), "mode", "modes" (median_s of each mode)}
// TOKREF_DIR: node_modules directory holding tokenizers (default /tmp/tokref/node_modules);
// test/fixtures/gen_tok_fixtures.sh installs it there.
'use strict';
// One thread: must be set before the binding starts its thread pool.
process.env.RAYON_NUM_THREADS = process.env.RAYON_NUM_THREADS || '1';
process.env.RAYON_RS_NUM_CPUS = process.env.RAYON_RS_NUM_CPUS || '1';
process.env.TOKENIZERS_PARALLELISM = process.env.TOKENIZERS_PARALLELISM || 'false';
const fs = require('fs');
const path = require('path');

const MODDIR = process.env.TOKREF_DIR || '/tmp/tokref/node_modules';
const { Tokenizer } = require(path.join(MODDIR, 'tokenizers'));

async function main() {
  const [tokFile, corpusFile, roundsArg] = process.argv.slice(2);
  if (!tokFile || !corpusFile) {
    console.error('usage: node test/bench/tok_ref.js <tokenizer.json> <corpus.txt> [rounds]');
    process.exit(2);
  }
  const rounds = Math.max(1, parseInt(roundsArg || '5', 10));
  const tok = Tokenizer.fromFile(tokFile);
  let text = fs.readFileSync(corpusFile, 'utf8');
  if (text.endsWith('\n')) text = text.slice(0, -1);
  const lines = text.split('\n');
  const bytes = lines.reduce((s, l) => s + Buffer.byteLength(l, 'utf8'), 0);

  const modes = {
    encode: async () => {
      let n = 0;
      for (const l of lines) n += (await tok.encode(l)).getIds().length;
      return n;
    },
  };
  for (const chunk of [64, 1024]) {
    modes['encodeBatch' + chunk] = async () => {
      let n = 0;
      for (let i = 0; i < lines.length; i += chunk) {
        const encs = await tok.encodeBatch(lines.slice(i, i + chunk));
        for (const e of encs) n += e.getIds().length;
      }
      return n;
    };
  }
  const times = {};
  let tokens = -1;
  for (const name of Object.keys(modes)) times[name] = [];
  for (const name of Object.keys(modes)) await modes[name]();  // warm-up
  for (let r = 0; r < rounds; r++) {
    for (const name of Object.keys(modes)) {  // modes alternate within each round
      const t0 = process.hrtime.bigint();
      const n = await modes[name]();
      times[name].push(Number(process.hrtime.bigint() - t0) / 1e9);
      if (tokens >= 0 && n !== tokens) throw new Error('token count differs between modes');
      tokens = n;
    }
  }
  const median = (a) => { const s = a.slice().sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
  const med = {};
  for (const name of Object.keys(times)) med[name] = +median(times[name]).toFixed(4);
  const best = Object.keys(med).sort((a, b) => med[a] - med[b])[0];
  console.log(JSON.stringify({
    tokenizer: tokFile, bytes, lines: lines.length, tokens, median_s: med[best],
    mb_per_s: +(bytes / 1e6 / med[best]).toFixed(3), mode: best.startsWith('encodeBatch') ? 'encodeBatch' : 'encode',
    chunk: best.startsWith('encodeBatch') ? parseInt(best.slice(11), 10) : 1, rounds, modes: med,
  }));
}
main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
