/** `crossrank index <corpus> <collection-dir>`: build or update a collection from one's own documents. */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { CreateOptions } from '../collection/collection.js';
import type { DownloadProgress } from '../hub/hub.js';
import type { Bm25Options } from '../index/bm25.js';
import { CrossrankError } from '../errors.js';
import { flagged, fraction, positive, printJson, progress, UsageError, withDownloads } from './common.js';
import { CORPUS_FORMATS, readCorpus, type CorpusFormat } from './corpus.js';

interface IndexFlags {
  embedder?: string;
  factory: string;
  bm25: boolean;
  k1?: number;
  b?: number;
  stemmer?: 'porter' | 'english' | 'none';
  format?: CorpusFormat;
  idField?: string;
  textField?: string;
  titleField?: string;
  json?: boolean;
}

function structureError(flag: string, dir: string, why: string): CrossrankError {
  return new CrossrankError(
    'ERR_COLLECTION_STRUCTURE',
    `${flag}: ${dir} ${why}. Its indexes are fixed when it is created: to change them, index into a new directory (crossrank index <corpus> <new-dir> ${flag} …) or delete ${dir} first`,
  );
}

/**
 * Options that shape a collection (embedder, FAISS factory, BM25 and its settings) given for a
 * collection that exists: accepted when they say what it already is, refused otherwise — never
 * ignored.
 */
async function checkStructure(dir: string, o: IndexFlags, given: (flag: string) => boolean): Promise<void> {
  const { readManifest } = await import('../collection/manifest.js');
  const m = readManifest(resolve(dir));
  const d = m.dense;
  if (given('embedder')) {
    if (!d) throw structureError('--embedder', dir, 'has no dense index (it was created with BM25 only)');
    const e = d.embedder as { path?: string; model?: string; hub?: { id: string } } | null;
    const recorded = e?.hub?.id ?? e?.path ?? e?.model ?? '';
    const same = e && (e.hub?.id === o.embedder || (e.path ?? e.model) === resolve(o.embedder!) || (existsSync(o.embedder!) && resolve(o.embedder!) === resolve(dir, e.path ?? e.model ?? '')));
    if (!same) throw structureError('--embedder', dir, `was created with the embedder ${recorded || '(none recorded)'}, not ${o.embedder}`);
  }
  if (given('factory')) {
    if (!d) throw structureError('--factory', dir, 'has no dense index (it was created with BM25 only)');
    if (d.factory !== o.factory) throw structureError('--factory', dir, `has a ${d.factory} dense index, not ${o.factory}`);
  }
  if (given('bm25') && !o.bm25 && m.bm25) throw structureError('--no-bm25', dir, 'has a BM25 index');
  for (const k of ['k1', 'b', 'stemmer'] as const) {
    if (!given(k)) continue;
    if (!m.bm25) throw structureError(`--${k}`, dir, 'has no BM25 index');
    const have = (m.bm25 as Bm25Options)[k];
    if (have !== undefined && have !== o[k]) throw structureError(`--${k}`, dir, `has BM25 ${k} = ${have}, not ${o[k]}`);
    if (have === undefined) throw structureError(`--${k}`, dir, `has BM25 with the default ${k}`);
  }
}

function createOptions(o: IndexFlags, onDownload: (p: DownloadProgress) => void): CreateOptions {
  const bm25: Bm25Options = { ...(o.k1 !== undefined ? { k1: o.k1 } : {}), ...(o.b !== undefined ? { b: o.b } : {}), ...(o.stemmer ? { stemmer: o.stemmer } : {}) };
  return {
    bm25: o.bm25 ? bm25 : false,
    factory: o.factory,
    ...(o.embedder ? { embedder: { model: o.embedder, options: { onDownload } } } : {}),
  };
}

export function register(program: Command): void {
  program
    .command('index')
    .description('build or update a collection from your documents (only documents: queries and qrels are for `evaluate`)')
    .argument('<corpus>', 'a .jsonl/.jsonl.gz file (BEIR _id/title/text, or --id-field/--text-field), a .csv/.tsv file with a header row, a folder of .txt/.md files, a BEIR folder (corpus.jsonl[.gz]), or - for stdin')
    .argument('<collection-dir>', 'where the collection lives (created when missing)')
    .option('--embedder <model>', 'bi-encoder for a dense index: a model directory or a Hugging Face id (new collections only)')
    .option('--factory <string>', 'FAISS index_factory string for the dense index (new collections only)', 'Flat')
    .option('--no-bm25', 'no BM25 index (needs --embedder; new collections only)')
    .option('--k1 <n>', 'BM25 term-frequency saturation (default 0.9; new collections only)', positive('--k1'))
    .option('--b <n>', 'BM25 length normalisation, 0 to 1 (default 0.4; new collections only)', fraction('--b'))
    .addOption(new Option('--stemmer <kind>', 'BM25 stemmer (new collections only)').choices(['porter', 'english', 'none']))
    .addOption(new Option('--format <format>', 'the corpus format when the file name (or stdin) does not say').choices([...CORPUS_FORMATS]))
    .option('--id-field <name>', 'JSONL field / CSV column holding the id (default _id, else id)')
    .option('--text-field <name>', 'JSONL field / CSV column holding the text (default text)')
    .option('--title-field <name>', 'JSONL field / CSV column holding a title, put before the text (default title)')
    .option('--json', 'print the outcome as JSON')
    .action(async (source: string, dir: string, o: IndexFlags, cmd: Command) => {
      const { Collection } = await import('../collection/collection.js');
      const given = (k: string) => cmd.getOptionValueSource(k) === 'cli';
      const exists = existsSync(join(dir, 'collection.json'));
      if (exists) await checkStructure(dir, o, given);
      else {
        if (!o.bm25 && !o.embedder) throw new UsageError('ERR_CLI_INVALID_OPTION', '--no-bm25 leaves no index: give --embedder too');
        if (given('factory') && !o.embedder) throw new UsageError('ERR_CLI_INVALID_OPTION', '--factory sets the dense index: give --embedder too');
      }
      const corpus = await readCorpus(source, {
        ...(o.format ? { format: o.format } : {}),
        ...(o.idField ? { idField: o.idField } : {}),
        ...(o.textField ? { textField: o.textField } : {}),
        ...(o.titleField ? { titleField: o.titleField } : {}),
      });
      if (corpus.skipped.length && !o.json) console.error(`skipped ${corpus.skipped.length} file(s) that are not .txt/.md or are empty: ${corpus.skipped.slice(0, 5).join(', ')}${corpus.skipped.length > 5 ? ', …' : ''}`);
      const col = exists
        ? await Collection.open(dir)
        : await withDownloads((onDownload) => Collection.create(dir, createOptions(o, onDownload))).catch((e: unknown) => {
            throw o.embedder && (e as { code?: string }).code !== 'ERR_COLLECTION_LOCKED' ? flagged('--embedder', e) : e;
          });
      try {
        const t0 = performance.now();
        const bar = progress('indexing');
        const r = await col.add(corpus.docs, { onProgress: (done, total) => bar.update(done, total) });
        bar.stop();
        const seconds = (performance.now() - t0) / 1000;
        if (o.json) printJson({ collection: resolve(dir), created: !exists, source: corpus.source, documents: col.size, ...r, skippedFiles: corpus.skipped, seconds });
        else {
          console.log(`${exists ? 'updated' : 'created'} ${dir} from ${corpus.source}: ${col.size} documents (added ${r.added}, replaced ${r.replaced}, unchanged ${r.skipped}) in ${seconds.toFixed(1)} s`);
        }
      } finally {
        await col.close();
      }
    });
}
