// The suite itself: it cannot pass vacuously when the fixtures are missing.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../bench/common.js';

describe('test suite', () => {
  it('fails, naming the path and the setting, when CROSSRANK_SHARED points nowhere', () => {
    const missing = join(repoRoot, 'no-such-shared-folder');
    const r = spawnSync(process.execPath, [join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', 'test/tokenizer.test.ts'], {
      cwd: repoRoot,
      env: { ...process.env, CROSSRANK_SHARED: missing, NO_COLOR: '1', FORCE_COLOR: '0' },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    const out = r.stdout + r.stderr;
    expect(out).toContain(`test fixtures missing under ${missing}`);
    expect(out).toContain('CROSSRANK_SHARED');
    expect(out).not.toMatch(/Tests +\d+ passed/);
  });
});
