#!/usr/bin/env node
/** The `crossrank` bin: the commands live in src/cli/, one file each (see src/cli/program.ts). */
import { run } from './cli/program.js';

await run(process.argv);
