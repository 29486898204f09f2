export { CrossrankError, BatchError, type ItemFailure } from './errors.js';
export {
  Tokenizer,
  type Encoding,
  type EncodeInput,
  type EncodeOptions,
  type EncodeBatchOptions,
  type TruncationStrategy,
} from './tokenizer/tokenizer.js';
export { loadBeir, loadCranfield, type IrCollection } from './eval/datasets.js';
export { CrossEncoder, type CrossEncoderOptions, type Device } from './inference/cross-encoder.js';
export {
  Scorer,
  type Activation,
  type ChunkingOptions,
  type RerankDocument,
  type RerankOptions,
  type RerankResult,
  type ScoreDetails,
  type ScoreOptions,
} from './inference/scorer.js';
export { type Dtype, type ModelConfig } from './inference/model-files.js';
export { hubCacheDir, locateModel, type HubOptions, type DownloadProgress, type ModelWants } from './hub/hub.js';
export { type ScoreCacheStats } from './inference/score-cache.js';
export { RerankPool, type RerankPoolOptions, type PoolStats, type WorkerStats } from './pool/rerank-pool.js';
export { FaissIndex, faissInfo, type FaissInfo, type Metric, type SearchParams, type SearchResult } from './index/faiss-index.js';
export { Bm25Index, type Bm25Options, type Bm25Hits } from './index/bm25.js';
export { reciprocalRankFusion, type FusedHit } from './index/fusion.js';
export { ndcgAt, recallAt, mrrAt, mean } from './eval/metrics.js';
export { evaluate, type EvaluationTarget, type EvaluateOptions, type EvaluationReport, type QueryEvaluation, type Scores } from './eval/evaluate.js';
export { BiEncoder, type BiEncoderOptions, type Pooling } from './inference/bi-encoder.js';
export {
  Collection,
  type CollectionDoc,
  type CreateOptions,
  type OpenOptions,
  type AddOptions,
  type VerifyOptions,
  type VerifyReport,
  type VerifyProblem,
  type FirstStage,
  type SearchOptions,
  type SearchHit,
  type SearchResult as CollectionSearchResult,
  type CollectionSnapshot,
} from './collection/collection.js';
export { LatencyPlanner, type Plan, type PlannerModel } from './pipeline/planner.js';
export {
  Pipeline,
  type PipelineOptions,
  type PipelineSearchOptions,
  type PipelineHit,
  type PipelineResult,
  type RerankStage,
  type StageReranker,
  type StageReport,
} from './pipeline/pipeline.js';
export { CollectionRetriever, type CollectionRetrieverOptions } from './retrievers/collection.js';
export { ApiKeys, DEFAULT_LIMITS, DEFAULT_TIMEOUTS, createServer, type ServerControl, type ServerLimits, type ServerOptions, type ServerState, type ServerTimeouts } from './server/server.js';
export { type Reranker, type RerankerOptions } from './rerankers/types.js';
export { type Candidate, type Embedder, type Retriever, type RetrieveOptions } from './retrievers/types.js';
export { FunctionRetriever, functionRetriever, type RetrieveFunction } from './retrievers/fn.js';
export { IndexRetriever, type IndexRetrieverOptions, type IndexDoc, type DocLookup } from './retrievers/index-retriever.js';
export {
  PgvectorRetriever,
  createPgvectorIndex,
  upsertPgvector,
  type PgvectorRetrieverOptions,
  type PgvectorIndexOptions,
  type PgvectorTableOptions,
  type PgvectorConnection,
  type PgvectorDocument,
  type UpsertOptions as PgvectorUpsertOptions,
  type PgDistance,
  type PgPool,
  type PgPoolClient,
} from './retrievers/pgvector.js';
export {
  LlmReranker,
  LlmRerankError,
  type LlmRerankerOptions,
  type LlmRerankResult,
  type LlmRerankStats,
  type PromptParts,
} from './rerankers/llm.js';
