/**
 * The crossrank command line: one file per command under src/cli/, put together here. Every
 * failure reaches the user as `crossrank: ERR_CODE: message` naming the flag they wrote (a JSON
 * object on stderr with --json), with exit status 2 for a wrong command line and 1 for a failure.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { CrossrankError } from '../errors.js';
import { EXIT_FAILURE, EXIT_USAGE, UsageError } from './common.js';
import { register as evaluateCommand } from './evaluate.js';
import { register as indexCommand } from './index.js';
import { register as infoCommand } from './info.js';
import { register as rerankCommand } from './rerank.js';
import { register as searchCommand } from './search.js';
import { register as serveCommand } from './serve.js';
import { register as verifyCommand } from './verify.js';

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Commander's error ids, as crossrank codes. */
const COMMANDER_CODES: Record<string, string> = {
  'commander.unknownOption': 'ERR_CLI_UNKNOWN_OPTION',
  'commander.unknownCommand': 'ERR_CLI_UNKNOWN_COMMAND',
  'commander.missingArgument': 'ERR_CLI_MISSING_ARGUMENT',
  'commander.optionMissingArgument': 'ERR_CLI_MISSING_ARGUMENT',
  'commander.missingMandatoryOptionValue': 'ERR_CLI_MISSING_OPTION',
  'commander.invalidArgument': 'ERR_CLI_INVALID_OPTION',
  'commander.excessArguments': 'ERR_CLI_EXCESS_ARGUMENTS',
  'commander.conflictingOption': 'ERR_CLI_INVALID_OPTION',
};

/** Commander's own wording, minus its "error: " prefix; the flag it names stays. */
function fromCommander(e: CommanderError): UsageError {
  const message = e.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ');
  return new UsageError(COMMANDER_CODES[e.code] ?? 'ERR_CLI_USAGE', message, { cause: e });
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('crossrank')
    .description('Two-stage retrieval with cross-encoder reranking')
    .version(VERSION, '-V, --version', 'print the version')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ outputError: () => {} }); // printed once, coded, by run()
  for (const register of [indexCommand, searchCommand, rerankCommand, evaluateCommand, verifyCommand, serveCommand, infoCommand]) register(program);
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: () => {} }).showSuggestionAfterError(true);
  return program;
}

/** Run the command line; resolves with the exit status it set. */
export async function run(argv: string[]): Promise<void> {
  // Results go to stdout; diagnostics (among them @huggingface/hub's "Downloading …" lines) to stderr.
  console.debug = (...args: unknown[]) => console.error(...args);
  const json = argv.includes('--json');
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError && ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) {
      process.exitCode = err.exitCode;
      return;
    }
    const e = err instanceof CommanderError ? fromCommander(err) : err instanceof CrossrankError ? err : new CrossrankError('ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
    const code = (e as { code?: string }).code ?? 'ERR_INTERNAL';
    if (json) process.stderr.write(JSON.stringify({ error: { code, message: e.message } }) + '\n');
    else process.stderr.write(`crossrank: ${code}: ${e.message}\n`);
    // Exit now: a model or worker pool loaded before the failure must not keep the process alive.
    process.exit(e instanceof UsageError ? EXIT_USAGE : EXIT_FAILURE);
  }
}
