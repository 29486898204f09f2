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
  queries_.reserve(queries.size());
  for (const auto& q : queries) queries_.push_back(tok_.encode_sequence(q, 0, true));
  if (opts_.chunk) {
    // Windows slide over the document; the query stays whole in every window.
    opts_.enc.truncate = true;
    opts_.enc.strategy = tok::Truncation::OnlySecond;
  } else {
    opts_.enc.stride = 0;
  }
}

bool PairEncoder::encode(std::string_view doc, uint32_t query, uint32_t item, std::vector<Sequence>& out) const {
  tok::Encoding d = tok_.encode_sequence(doc, 1, true);
  const tok::Encoding& q = queries_[query];
  bool cut = opts_.enc.truncate && q.size() + d.size() + added_ > opts_.enc.max_length;
  tok::Encoding e = tok_.finish(q, &d, opts_.enc);
  if (opts_.chunk) {
    std::vector<tok::Encoding> windows = std::move(e.overflowing);
    e.overflowing.clear();
    size_t n = 1 + windows.size();
    cut = opts_.max_chunks && n > opts_.max_chunks;  // split into windows loses nothing unless capped
    if (cut) n = opts_.max_chunks;
    out.push_back(to_sequence(std::move(e), item, 0));
    for (size_t k = 1; k < n; ++k) {
      windows[k - 1].overflowing.clear();
      out.push_back(to_sequence(std::move(windows[k - 1]), item, static_cast<uint32_t>(k)));
    }
  } else {
    out.push_back(to_sequence(std::move(e), item, 0));
  }
  return cut;
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
