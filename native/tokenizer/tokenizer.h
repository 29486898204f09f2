// A Hugging Face tokenizer.json pipeline: added tokens -> normalizer -> pre-tokenizer -> model ->
// truncation -> post-processor; and decode. Immutable after load, so safe to share across threads.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/added_vocab.h"
#include "tokenizer/decoders/decoder.h"
#include "tokenizer/encoding.h"
#include "tokenizer/models/model.h"
#include "tokenizer/normalizers/normalizer.h"
#include "tokenizer/pretokenizers/pretokenizer.h"
#include "tokenizer/processors/processor.h"

namespace crossrank::tok {

enum class Truncation { LongestFirst, OnlyFirst, OnlySecond };

struct EncodeOptions {
  bool truncate = false;
  size_t max_length = 0;
  Truncation strategy = Truncation::LongestFirst;
  size_t stride = 0;
  bool from_left = false;
  bool add_special_tokens = true;
  bool utf16_offsets = true;  // offsets in UTF-16 code units (JS string indices)
  // Build the overflowing windows (every window of the cut text, overlapping by `stride`). Without,
  // what truncation cuts is dropped, and a sequence is read only as far as Hugging Face reads it.
  bool overflow = false;
  size_t max_windows = 0;     // with overflow: at most this many windows per sequence (0: all)
};

// A pair whose two sides both overflow gets the product of their windows (as Hugging Face's
// Encoding::merge_with); past this many rows it is refused (ERR_TOO_MANY_WINDOWS).
constexpr size_t kMaxPairWindows = 4096;

// The truncation block of tokenizer.json, when present.
struct TruncationDefaults {
  size_t max_length;
  Truncation strategy;
  size_t stride;
  bool from_left;
};

class Tokenizer {
 public:
  static std::shared_ptr<Tokenizer> from_file(const std::string& path);
  // One instance per file per process (all worker threads), while any holder keeps it alive.
  static std::shared_ptr<Tokenizer> shared_from_file(const std::string& path);
  static std::shared_ptr<Tokenizer> from_json(const std::string& json_text, const std::string& origin);

  // Encodes a text or a pair. Throws crossrank::Error (e.g. ERR_TRUNCATION) for this input.
  Encoding encode(std::string_view a, const std::string_view* b, const EncodeOptions& opts) const;
  // The token sequence of one text, without special tokens or truncation (used by batching). With
  // stop_at > 0 it stops reading after the first word whose tokens reach stop_at (see stop_at()).
  Encoding encode_sequence(std::string_view text, int32_t type_id, bool utf16_offsets, size_t stop_at = 0) const;
  // Where Hugging Face stops reading the first (second = false) or second sequence under these
  // options: at max_length tokens, rounded up to the end of the word, for every sequence its
  // strategy may cut; 0 when it reads everything (no truncation, overflow windows wanted, or
  // truncation from the left, for which the whole text is read and the same count derived).
  static size_t stop_at(const EncodeOptions& o, bool second);
  Encoding finish(Encoding a, Encoding* b, const EncodeOptions& opts) const;

  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const;
  int32_t token_to_id(const std::string& token) const;
  const std::string* id_to_token(int32_t id) const;
  size_t vocab_size() const { return vocab_size_; }
  size_t added_tokens(bool pair) const { return processor_ ? processor_->added_tokens(pair) : 0; }
  const std::optional<TruncationDefaults>& truncation_defaults() const { return trunc_defaults_; }
  int32_t pad_id() const { return pad_id_; }

 private:
  static constexpr size_t kMaxJsonDepth = 128;        // as serde_json's recursion limit
  static constexpr uint64_t kMaxFileBytes = 1ull << 30;
  void read_added_tokens(const nlohmann::json& list);

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pretokenizer_;
  std::unique_ptr<Model> model_;
  std::unique_ptr<PostProcessor> processor_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocab added_;
  std::optional<TruncationDefaults> trunc_defaults_;
  size_t vocab_size_ = 0;
  int32_t pad_id_ = 0;
};

// How many tokens of a sequence Hugging Face holds when it stops reading it under truncation at
// `limit` tokens: it reads whole words (every pre-token; added tokens never stop it) until the
// count reaches the limit, from the start, or from the end for left truncation.
size_t seen_length(const Encoding& e, size_t limit, bool from_left);

// HF's truncate_encodings on the lengths HF holds: cut a (and b) so that together they fit `room`
// (max_length less the special tokens).
void truncate_pair(Encoding& a, Encoding* b, size_t room, const EncodeOptions& o);

}  // namespace crossrank::tok
