// The load benchmarks in their --test smoke mode (seconds, not the full 60 s runs): bench/load.js
// (mixed routes with malformed and over-limit requests, then slowloris sockets) and bench/fleet.js
// (nginx from deploy/nginx/crossrank.conf in front of 3 nodes, one SIGKILLed and one restarted with
// SIGTERM during the load). Correctness is asserted (no 5xx, no connection errors, every answer the
// status it must be, slowloris cut within its timeout, no failed client request through nginx);
// speed is only printed.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';

function bench(file: string): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [file, '--test'], { encoding: 'utf8', timeout: 240_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('server load benchmarks (smoke)', () => {
  it('bench/load --test: no 5xx, no connection errors, every refusal the right status; slowloris sockets cut off', () => {
    const { status, out } = bench('bench/load.js');
    expect(out).toContain('checks: 5xx + connection errors + unexpected statuses = 0; every slowloris socket cut within its timeout: yes');
    expect(out).toMatch(/clean run: \d+ requests, [\d.]+ requests\/s; latency p50 \d+ ms, p99 \d+ ms/);
    expect(out).toMatch(/normal clients' p99: \d+ ms clean, \d+ ms under slowloris/);
    expect(out).toMatch(/slowloris: [1-9]\d* sockets cut off by the server/);
    expect(status, out).toBe(0);
  }, 240_000);

  it('bench/fleet --test: the shipped nginx config passes nginx -t; no client request fails while nodes are killed and restarted', () => {
    const { status, out } = bench('bench/fleet.js');
    expect(out).toContain('nginx -t: configuration ok');
    expect(out).toMatch(/faults: .*SIGKILL.*SIGTERM.*drained and exited \(code 0\)/);
    expect(out).toMatch(/checks: failed client requests with faults = 0 of [1-9]\d*/);
    expect(out).toMatch(/throughput: fleet of 3 [\d.]+ requests\/s vs one node [\d.]+ requests\/s/);
    expect(status, out).toBe(0);
  }, 240_000);
});
