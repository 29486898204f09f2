// Post-processors: add special tokens and type ids around one or two encodings.
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <vector>

#include "tokenizer/encoding.h"
#include "tokenizer/models/model.h"

namespace crossrank::tok {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual size_t added_tokens(bool pair) const = 0;
  // Rewrites the encodings in place (type ids, special tokens around each).
  virtual void process_encodings(std::vector<Encoding>& encs, bool add_special) const = 0;
};

// Type ids set to the sequence index, processor applied, encodings merged (HF's process()).
Encoding post_process(const PostProcessor* p, Encoding a, Encoding* b, bool add_special);

std::unique_ptr<PostProcessor> make_processor(const nlohmann::json& j, const Vocab& vocab);

}  // namespace crossrank::tok
