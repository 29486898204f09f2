// Normalizers: the first stage of the tokenizer.json pipeline ("normalizer").
#pragma once
#include <memory>
#include <nlohmann/json_fwd.hpp>

#include "tokenizer/normalized.h"

namespace crossrank::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual void normalize(NStr& s) const = 0;
};

// Builds the normalizer described by a tokenizer.json "normalizer" object. Throws
// crossrank::Error(ERR_TOKENIZER_UNSUPPORTED) for an unknown "type".
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);
std::unique_ptr<Normalizer> make_precompiled(const nlohmann::json& j);

}  // namespace crossrank::tok
