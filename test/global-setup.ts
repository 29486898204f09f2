// Runs once before any test file: the fixtures in ../shared are required, never optional. A run
// without them fails here, naming the path and the setting, instead of skipping suites and
// reporting green having checked nothing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sharedDir } from '../bench/common.js';

const REQUIRED = ['fixtures/tokenizers', 'fixtures/ir/beir-arguana', 'fixtures/ir/cranfield', 'models/bert-tiny-cross', 'models/bert-tiny-bi'];

export default function setup(): void {
  const root = sharedDir();
  const missing = REQUIRED.filter((p) => !existsSync(join(root, p)));
  if (missing.length) {
    throw new Error(
      `test fixtures missing under ${root}: ${missing.join(', ')}. ` +
        'Point CROSSRANK_SHARED at the shared/ folder (default ../shared beside the repository).',
    );
  }
}
