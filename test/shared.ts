// Test access to ../shared (one setting: CROSSRANK_SHARED). Missing fixtures skip with the path named.
import { sharedDir, sharedPath } from '../bench/common.js';

export { sharedDir, sharedPath };

export function requireShared(...parts: string[]): string {
  const p = sharedPath(...parts);
  if (!p) throw new Error(`fixture missing: ${[sharedDir(), ...parts].join('/')} (set CROSSRANK_SHARED)`);
  return p;
}

export const haveShared = sharedPath() !== null;
