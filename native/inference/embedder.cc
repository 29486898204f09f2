#include "inference/embedder.h"

#include <atomic>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "common/inflight.h"

namespace crossrank::infer {

namespace {

std::string pick_output(const Session& s, const std::string& wanted, bool& pooled) {
  if (!wanted.empty()) {
    const OutputSpec* o = s.output(wanted);
    if (!o) throw Error("ERR_MODEL_OUTPUTS", "model " + s.path() + " has no output '" + wanted + "'");
    pooled = o->shape.size() == 2;
    return wanted;
  }
  if (s.output("sentence_embedding")) {
    pooled = true;
    return "sentence_embedding";
  }
  for (const char* name : {"last_hidden_state", "token_embeddings"})
    if (s.output(name)) {
      pooled = false;
      return name;
    }
  if (s.outputs().size() == 1) {
    pooled = s.outputs()[0].shape.size() == 2;
    return s.outputs()[0].name;
  }
  std::string have;
  for (auto& o : s.outputs()) have += (have.empty() ? "'" : ", '") + o.name + "'";
  throw Error("ERR_MODEL_OUTPUTS", "model " + s.path() + " has none of 'sentence_embedding', 'last_hidden_state', "
                                   "'token_embeddings' (outputs: " + have + ")");
}

// The vector width of one batch's output, after checking that the output holds exactly what its
// shape says for this batch: [rows, dim] pooled, or [rows, cols, dim] per token. A model that
// answers with another batch size (or a shape that does not match its data) would otherwise be
// read past its end.
size_t output_width(const RunOutput& res, bool pooled, const batch::BatchTensors& t, const std::string& output) {
  auto shape_text = [&res] {
    std::string s = "[";
    for (size_t i = 0; i < res.shape.size(); ++i) s += (i ? ", " : "") + std::to_string(res.shape[i]);
    return s + "]";
  };
  const size_t rank = pooled ? 2 : 3;
  if (res.shape.size() != rank)
    throw Error("ERR_MODEL_OUTPUTS", "output '" + output + "' is " + shape_text() + ", expected " +
                                         (pooled ? "[batch, dim]" : "[batch, tokens, dim]"));
  if (res.shape[0] != static_cast<int64_t>(t.rows))
    throw Error("ERR_MODEL_OUTPUTS", "output '" + output + "' has batch dimension " + std::to_string(res.shape[0]) +
                                         " for a batch of " + std::to_string(t.rows) + " rows");
  if (!pooled && res.shape[1] != static_cast<int64_t>(t.cols))
    throw Error("ERR_MODEL_OUTPUTS", "output '" + output + "' has " + std::to_string(res.shape[1]) + " positions for " +
                                         std::to_string(t.cols) + " tokens");
  const int64_t dim = res.shape[rank - 1];
  const size_t per_row = pooled ? 1 : t.cols;
  if (dim <= 0 || res.data.size() != t.rows * per_row * static_cast<size_t>(dim))
    throw Error("ERR_MODEL_OUTPUTS", "output '" + output + "' is " + shape_text() + " but holds " +
                                         std::to_string(res.data.size()) + " values");
  return static_cast<size_t>(dim);
}

}  // namespace

void embed(const tok::Tokenizer& tok, const Session& session, const EmbedRequest& req, int32_t* cancel, EmbedResult& out) {
  const size_t n = req.texts.size();
  out.truncated.assign(n, 0);
  out.err_code.assign(n, "");
  out.err_msg.assign(n, "");
  bool pooled = false;
  const std::string output = pick_output(session, req.output, pooled);
  const size_t window = req.window ? req.window : n;
  std::vector<batch::Sequence> seqs;
  batch::BatchTensors t;
  for (size_t w0 = 0; w0 < n; w0 += window) {
    const size_t w1 = std::min(n, w0 + window);
    seqs.clear();
    for (size_t i = w0; i < w1; ++i) {
      try {
        tok::Encoding e = tok.encode(req.texts[i], nullptr, req.enc);
        if (e.truncated) out.truncated[i] = 1;
        batch::Sequence s;
        s.item = static_cast<uint32_t>(i);
        s.ids = std::move(e.ids);
        s.types = std::move(e.type_ids);
        seqs.push_back(std::move(s));
      } catch (const Error& e) {
        out.err_code[i] = e.code();
        out.err_msg[i] = e.what();
      }
    }
    for (const auto& r : batch::plan(seqs, req.token_budget, req.max_rows)) {
      if (cancel && std::atomic_ref<int32_t>(*cancel).load(std::memory_order_relaxed) != 0)
        throw Error("ERR_ABORTED", "the operation was aborted");
      if (inflight::exiting()) throw Error("ERR_ABORTED", "the process is exiting");
      batch::fill(seqs, r, tok.pad_id(), t);
      RunOutput res = session.run(t, output);
      const size_t dim = output_width(res, pooled, t, output);
      if (out.dim == 0) {
        out.dim = dim;
        out.vectors.assign(n * dim, std::numeric_limits<float>::quiet_NaN());
      } else if (out.dim != dim) {
        throw Error("ERR_MODEL_OUTPUTS", "embedding width changed between batches");
      }
      for (size_t k = 0; k < t.rows; ++k) {
        const batch::Sequence& s = seqs[r.begin + k];
        float* dst = out.vectors.data() + static_cast<size_t>(s.item) * dim;
        if (pooled || req.pooling == Pooling::None) {
          const float* src = res.data.data() + k * (pooled ? dim : t.cols * dim);
          std::copy(src, src + dim, dst);
        } else {
          const float* h = res.data.data() + k * t.cols * dim;
          const size_t len = s.ids.size();  // real tokens: the mask is 1 exactly there
          if (req.pooling == Pooling::Cls) {
            std::copy(h, h + dim, dst);
          } else if (req.pooling == Pooling::Mean) {
            std::vector<double> acc(dim, 0.0);
            for (size_t p = 0; p < len; ++p)
              for (size_t d = 0; d < dim; ++d) acc[d] += h[p * dim + d];
            for (size_t d = 0; d < dim; ++d) dst[d] = static_cast<float>(acc[d] / static_cast<double>(std::max<size_t>(len, 1)));
          } else {
            for (size_t d = 0; d < dim; ++d) dst[d] = -std::numeric_limits<float>::infinity();
            for (size_t p = 0; p < len; ++p)
              for (size_t d = 0; d < dim; ++d) dst[d] = std::max(dst[d], h[p * dim + d]);
          }
        }
        if (req.normalize) {
          double norm = 0;
          for (size_t d = 0; d < dim; ++d) norm += static_cast<double>(dst[d]) * dst[d];
          norm = std::sqrt(norm);
          if (norm > 1e-12)
            for (size_t d = 0; d < dim; ++d) dst[d] = static_cast<float>(dst[d] / norm);
        }
      }
    }
  }
  if (out.dim == 0) {
    const OutputSpec* spec = session.output(output);
    if (spec && !spec->shape.empty() && spec->shape.back() > 0) out.dim = static_cast<size_t>(spec->shape.back());
    out.vectors.assign(n * out.dim, std::numeric_limits<float>::quiet_NaN());
  }
}

}  // namespace crossrank::infer
