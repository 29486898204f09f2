#include "batching/batch.h"

#include <algorithm>

namespace crossrank::batch {

namespace {

// The document's UTF-16 range inside a pair encoding (tokens of sequence 1).
void doc_span(const tok::Encoding& e, uint32_t& start, uint32_t& end) {
  bool any = false;
  for (size_t i = 0; i < e.size(); ++i) {
    if (e.seq[i] != 1) continue;
    if (!any) start = e.start[i];
    end = e.end[i];
    any = true;
  }
  if (!any) start = end = 0;
}

Sequence to_sequence(tok::Encoding&& e, uint32_t item, uint32_t chunk) {
  Sequence s;
  s.item = item;
  s.chunk = chunk;
  doc_span(e, s.span_start, s.span_end);
  s.ids = std::move(e.ids);
  s.types = std::move(e.type_ids);
  return s;
}

}  // namespace

PairEncoder::PairEncoder(const tok::Tokenizer& tok, const std::vector<std::string>& queries, const PairOptions& opts)
    : tok_(tok), opts_(opts), added_(opts.enc.add_special_tokens ? tok.added_tokens(true) : 0) {
  if (opts_.chunk) {
    // Windows slide over the document; the query stays whole in every window. Only the windows
    // that will be scored are built.
    opts_.enc.truncate = true;
    opts_.enc.strategy = tok::Truncation::OnlySecond;
    opts_.enc.overflow = true;
    opts_.enc.max_windows = opts_.max_chunks;
  } else {
    // One row per pair: nothing past the cut is kept, and each text is read only as far as the
    // truncation needs.
    opts_.enc.stride = 0;
    opts_.enc.overflow = false;
  }
  queries_.reserve(queries.size());
  const size_t stop = tok::Tokenizer::stop_at(opts_.enc, false);
  for (const auto& q : queries) queries_.push_back(tok_.encode_sequence(q, 0, true, stop));
}

bool PairEncoder::encode(std::string_view doc, uint32_t query, uint32_t item, std::vector<Sequence>& out) const {
  tok::Encoding d = tok_.encode_sequence(doc, 1, true, tok::Tokenizer::stop_at(opts_.enc, true));
  const tok::Encoding& q = queries_[query];
  const size_t q_len = q.size(), d_len = d.size();
  tok::Encoding e = tok_.finish(q, &d, opts_.enc);
  if (!opts_.chunk) {
    const bool cut = e.truncated;
    out.push_back(to_sequence(std::move(e), item, 0));
    return cut;
  }
  // Windows of the document: the room left beside the query, overlapping by the stride (finish
  // has refused a query that leaves no room).
  const size_t n_windows = q_len + d_len + added_ <= opts_.enc.max_length
                               ? 1
                               : tok::window_count(d_len, opts_.enc.max_length - added_ - q_len, opts_.enc.stride);
  std::vector<tok::Encoding> windows = std::move(e.overflowing);
  e.overflowing.clear();
  out.push_back(to_sequence(std::move(e), item, 0));
  for (size_t k = 0; k < windows.size(); ++k) {
    windows[k].overflowing.clear();
    out.push_back(to_sequence(std::move(windows[k]), item, static_cast<uint32_t>(k + 1)));
  }
  // Split into windows loses nothing unless they were capped.
  return opts_.max_chunks && n_windows > opts_.max_chunks;
}

std::vector<Range> plan(std::vector<Sequence>& seqs, size_t token_budget, size_t max_rows) {
  std::sort(seqs.begin(), seqs.end(), [](const Sequence& a, const Sequence& b) {
    if (a.ids.size() != b.ids.size()) return a.ids.size() > b.ids.size();
    if (a.item != b.item) return a.item < b.item;
    return a.chunk < b.chunk;
  });
  std::vector<Range> out;
  if (max_rows == 0) max_rows = 1;
  size_t i = 0;
  while (i < seqs.size()) {
    const size_t cols = std::max<size_t>(1, seqs[i].ids.size());  // longest first: the row sets the width
    size_t rows = std::max<size_t>(1, token_budget / cols);
    rows = std::min({rows, max_rows, seqs.size() - i});
    out.push_back(Range{i, i + rows});
    i += rows;
  }
  return out;
}

void fill(const std::vector<Sequence>& seqs, Range r, int32_t pad_id, BatchTensors& out) {
  out.rows = r.end - r.begin;
  out.cols = 0;
  for (size_t i = r.begin; i < r.end; ++i) out.cols = std::max(out.cols, seqs[i].ids.size());
  const size_t n = out.rows * out.cols;
  out.ids.assign(n, pad_id);
  out.mask.assign(n, 0);
  out.types.assign(n, 0);
  out.real_tokens = 0;
  for (size_t i = r.begin; i < r.end; ++i) {
    const Sequence& s = seqs[i];
    const size_t base = (i - r.begin) * out.cols;
    for (size_t c = 0; c < s.ids.size(); ++c) {
      out.ids[base + c] = s.ids[c];
      out.mask[base + c] = 1;
      out.types[base + c] = s.types[c];
    }
    out.real_tokens += s.ids.size();
  }
}

}  // namespace crossrank::batch
