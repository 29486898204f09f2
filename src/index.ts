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
