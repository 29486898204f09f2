#include "inference/scorer.h"

#include <atomic>
#include <cmath>
#include <limits>

#include "common/error.h"
#include "common/inflight.h"

namespace crossrank::infer {

std::string logits_output(const Session& s, const std::string& name) {
  if (s.output(name)) return name;
  if (s.outputs().size() == 1) return s.outputs()[0].name;
  std::string have;
  for (auto& o : s.outputs()) have += (have.empty() ? "'" : ", '") + o.name + "'";
  throw Error("ERR_MODEL_OUTPUTS", "model " + s.path() + " has no output '" + name + "' (outputs: " + have + ")");
}

void score(const tok::Tokenizer& tok, const Session& session, const ScoreRequest& req,
           int32_t* cancel, ScoreResult& out) {
  const size_t n = req.docs.size();
  out.best_chunk.assign(n, 0);
  out.chunks.assign(n, 0);
  out.span_start.assign(n, 0);
  out.span_end.assign(n, 0);
  out.truncated.assign(n, 0);
  out.err_code.assign(n, "");
  out.err_msg.assign(n, "");
  const std::string output = logits_output(session, req.output);
  batch::PairEncoder encoder(tok, req.queries, req.pair);
  const size_t window = req.window ? req.window : n;
  std::vector<float> best;  // best logit at `label` per pair, for choosing among windows

  std::vector<batch::Sequence> seqs;
  batch::BatchTensors tensors;
  for (size_t w0 = 0; w0 < n; w0 += window) {
    const size_t w1 = std::min(n, w0 + window);
    seqs.clear();
    for (size_t i = w0; i < w1; ++i) {
      try {
        uint32_t q = req.pair_query.empty() ? 0 : req.pair_query[i];
        if (encoder.encode(req.docs[i], q, static_cast<uint32_t>(i), seqs)) {
          out.truncated[i] = 1;
          ++out.truncated_count;
        }
      } catch (const Error& e) {
        out.err_code[i] = e.code();
        out.err_msg[i] = e.what();
      }
    }
    for (const auto& r : batch::plan(seqs, req.token_budget, req.max_rows)) {
      if (cancel && std::atomic_ref<int32_t>(*cancel).load(std::memory_order_relaxed) != 0)
        throw Error("ERR_ABORTED", "the operation was aborted");
      if (inflight::exiting()) throw Error("ERR_ABORTED", "the process is exiting");
      batch::fill(seqs, r, tok.pad_id(), tensors);
      RunOutput res = session.run(tensors, output);
      const size_t rows = tensors.rows;
      if (res.shape.size() != 2)
        throw Error("ERR_MODEL_OUTPUTS", "model output '" + output + "' has " + std::to_string(res.shape.size()) +
                                             " dimensions, expected 2 ([batch, labels]): not a cross-encoder's logits");
      if (res.shape[0] != static_cast<int64_t>(rows))
        throw Error("ERR_MODEL_OUTPUTS", "model output '" + output + "' has batch dimension " + std::to_string(res.shape[0]) +
                                             " for a batch of " + std::to_string(rows) + " rows");
      const size_t per_row = rows ? res.data.size() / rows : 0;
      if (per_row == 0 || per_row * rows != res.data.size())
        throw Error("ERR_MODEL_OUTPUTS", "model output '" + output + "' has " + std::to_string(res.data.size()) +
                                             " values for " + std::to_string(rows) + " rows");
      if (out.labels == 0) {
        out.labels = per_row;
        out.logits.assign(n * per_row, std::numeric_limits<float>::quiet_NaN());
        best.assign(n, -std::numeric_limits<float>::infinity());
      } else if (out.labels != per_row) {
        throw Error("ERR_MODEL_OUTPUTS", "model output '" + output + "' changed width between batches");
      }
      if (req.label >= per_row)
        throw Error("ERR_MODEL_OUTPUTS", "label " + std::to_string(req.label) + " is out of range: the model has " +
                                             std::to_string(per_row) + " labels");
      for (size_t k = 0; k < rows; ++k) {
        const batch::Sequence& s = seqs[r.begin + k];
        const float* row = res.data.data() + k * per_row;
        ++out.chunks[s.item];
        // Keep the window whose chosen logit is highest; ties go to the earlier window.
        const float v = row[req.label];
        if (out.chunks[s.item] == 1 || v > best[s.item] || (v == best[s.item] && s.chunk < out.best_chunk[s.item])) {
          best[s.item] = v;
          out.best_chunk[s.item] = s.chunk;
          out.span_start[s.item] = s.span_start;
          out.span_end[s.item] = s.span_end;
          std::copy(row, row + per_row, out.logits.begin() + static_cast<ptrdiff_t>(s.item * per_row));
        }
      }
      ++out.batches;
      out.rows += rows;
      out.real_tokens += tensors.real_tokens;
      out.padded_tokens += rows * tensors.cols;
    }
  }
  if (out.labels == 0) {  // nothing ran (no pairs, or every pair failed): width from the declared shape
    const OutputSpec* spec = session.output(output);
    out.labels = spec && spec->shape.size() == 2 && spec->shape[1] > 0 ? static_cast<size_t>(spec->shape[1]) : 1;
    out.logits.assign(n * out.labels, std::numeric_limits<float>::quiet_NaN());
  }
}

}  // namespace crossrank::infer
