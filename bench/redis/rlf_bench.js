#!/usr/bin/env node
// rate-limiter-flexible (RateLimiterRedis over ioredis) on a given Redis: the
// peer that bench/redis/peers.sh measures beside ours in the same run.
//
// Measures consume() decisions, every one allowed (points huge, duration
// 3600 s, one key unless --keys), on one ioredis connection:
//   one_at_a_time: await each decision before the next (--n1, default 20000);
//   in_flight_64:  --inflight (64) decisions outstanding at all times (--n64,
//                  default 100000).
// Each mode first runs a warm-up (not timed: loads rlf's script, warms V8).
// Server time: INFO commandstats before and after each timed mode;
// server_us_all is the usec of every cmdstat_* line that changed (but INFO's
// own) divided by decisions. Redis counts commands run inside a script twice
// (in their own line and in the EVALSHA's), so server_us_script (the
// eval/evalsha/fcall lines only: the whole script, inner commands included)
// is the server's time per decision; both are printed.
//
// Output, one line per mode (plus a cmdstats breakdown line):
//   rlf <mode> <decisions_per_s> <us_per_decision> server_us_all=<x> server_us_script=<y> rejected=<n>
//   rlf_cmdstats <mode> <command>=<calls>/<usec> ...
// Usage: node rlf_bench.js --port 6379 [--host 127.0.0.1] [--n1 20000] [--n64 100000]
//        [--inflight 64] [--keys 1] [--warmup 2000]
// Needs rate-limiter-flexible and ioredis on NODE_PATH (peers.sh sets it).
'use strict';

const Redis = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');

function args() {
  const out = { host: '127.0.0.1', port: 6379, n1: 20000, n64: 100000, inflight: 64, keys: 1, warmup: 2000 };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    if (!(name in out) || argv[i + 1] === undefined) throw new Error(`unknown or valueless option ${argv[i]}`);
    out[name] = name === 'host' ? argv[i + 1] : Number(argv[i + 1]);
  }
  return out;
}

// {command: {calls, usec}} from INFO commandstats.
async function commandstats(client) {
  const text = await client.info('commandstats');
  const stats = {};
  for (const line of text.split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (m) stats[m[1]] = { calls: Number(m[2]), usec: Number(m[3]) };
  }
  return stats;
}

function serverCost(before, after, decisions) {
  let all = 0;
  let script = 0;
  const changed = [];
  for (const [name, now] of Object.entries(after)) {
    if (name === 'info') continue; // our own probes
    const was = before[name] || { calls: 0, usec: 0 };
    if (now.calls === was.calls) continue;
    const usec = now.usec - was.usec;
    all += usec;
    if (/^(eval|evalsha|eval_ro|evalsha_ro|fcall|fcall_ro)$/.test(name)) script += usec;
    changed.push(`${name}=${now.calls - was.calls}/${usec}`);
  }
  return { all: all / decisions, script: script / decisions, changed };
}

async function main() {
  const o = args();
  const client = new Redis({ host: o.host, port: o.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  await client.connect();
  const limiter = new RateLimiterRedis({
    storeClient: client,
    keyPrefix: 'rlfbench',
    points: 2000000000, // every decision allowed
    duration: 3600,
  });
  const keys = Array.from({ length: o.keys }, (_, i) => `key${i}`);
  let rejected = 0;
  const decide = (i) =>
    limiter.consume(keys[i % keys.length], 1).catch((e) => {
      if (e instanceof Error) throw e; // a Redis error: stop
      rejected += 1; // a RateLimiterRes: not allowed (should not happen)
    });

  async function oneAtATime(n) {
    for (let i = 0; i < n; i++) await decide(i);
  }
  async function inFlight(n, width) {
    let started = 0;
    const worker = async () => {
      while (started < n) await decide(started++);
    };
    await Promise.all(Array.from({ length: Math.min(width, n) }, worker));
  }

  async function measure(mode, n, run) {
    await run(o.warmup);
    rejected = 0;
    const before = await commandstats(client);
    const t0 = process.hrtime.bigint();
    await run(n);
    const ns = Number(process.hrtime.bigint() - t0);
    const after = await commandstats(client);
    const cost = serverCost(before, after, n);
    const rate = n / (ns / 1e9);
    console.log(
      `rlf ${mode} ${rate.toFixed(1)} ${(ns / 1e3 / n).toFixed(2)} ` +
        `server_us_all=${cost.all.toFixed(2)} server_us_script=${cost.script.toFixed(2)} rejected=${rejected}`,
    );
    console.log(`rlf_cmdstats ${mode} ${cost.changed.join(' ')}`);
  }

  await measure('one_at_a_time', o.n1, oneAtATime);
  await measure(`in_flight_${o.inflight}`, o.n64, (n) => inFlight(n, o.inflight));
  await client.quit();
}

main().catch((e) => {
  console.error(`rlf_bench: ${e.stack || e}`);
  process.exit(1);
});
