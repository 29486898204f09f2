// Test access to ../shared (one setting: CROSSRANK_SHARED). A missing fixture fails the test that
// needs it, naming the path; test/global-setup.ts fails the whole run first when the folder is absent.
import { sharedDir, sharedPath } from '../bench/common.js';

export { sharedDir, sharedPath };

export function requireShared(...parts: string[]): string {
  const p = sharedPath(...parts);
  if (!p) throw new Error(`fixture missing: ${[sharedDir(), ...parts].join('/')} (set CROSSRANK_SHARED)`);
  return p;
}
