#include "tokenizer/added_vocab.h"

#include <algorithm>

#include "common/unicode.h"
#include "tokenizer/normalizers/normalizer.h"

namespace crossrank::tok {

namespace u = crossrank::unicode;

void AddedVocab::add(AddedToken t) {
  by_id_[t.id] = tokens_.size();
  by_content_[t.content] = tokens_.size();
  tokens_.push_back(std::move(t));
}

void AddedVocab::build(const Normalizer* normalizer) {
  for (int k = 0; k < 2; ++k) {
    first_[k].clear();
    ascii_first_[k][0] = ascii_first_[k][1] = 0;
    wide_first_[k] = false;
  }
  for (size_t i = 0; i < tokens_.size(); ++i) {
    AddedToken& t = tokens_[i];
    std::vector<char32_t> cps;
    u::decode_utf8(t.content, cps);
    if (t.normalized && normalizer) {
      NStr s = NStr::from(cps);
      normalizer->normalize(s);
      cps = s.c;
    }
    t.pattern = cps;
    if (cps.empty()) continue;
    const int set = t.normalized ? 1 : 0;
    first_[set][cps[0]].push_back(i);
    if (cps[0] < 128) ascii_first_[set][cps[0] >> 6] |= uint64_t{1} << (cps[0] & 63);
    else wide_first_[set] = true;
  }
  for (auto& m : first_)
    for (auto& [c, v] : m)
      std::stable_sort(v.begin(), v.end(), [&](size_t a, size_t b) { return tokens_[a].pattern.size() > tokens_[b].pattern.size(); });
}

const AddedToken* AddedVocab::by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

int32_t AddedVocab::find(const std::string& content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? -1 : tokens_[it->second].id;
}

void AddedVocab::split(std::vector<Piece>& pieces, bool normalized_set) const {
  if (first_[normalized_set ? 1 : 0].empty()) return;
  std::vector<Piece> out;
  out.reserve(pieces.size());
  for (auto& p : pieces) {
    if (p.token >= 0) out.push_back(std::move(p));
    else split_one(p.s, normalized_set, out);
  }
  pieces = std::move(out);
}

static bool is_word_char(char32_t c) { return c == '_' || u::is_alphanumeric(c); }

void AddedVocab::split_one(NStr& s, bool normalized_set, std::vector<Piece>& out) const {
  const int set = normalized_set ? 1 : 0;
  const auto& index = first_[set];
  const size_t n = s.size();
  size_t start_offset = 0;
  size_t i = 0;
  while (i < n) {
    if (!may_start(s.c[i], set)) {
      ++i;
      continue;
    }
    auto it = index.find(s.c[i]);
    const AddedToken* hit = nullptr;
    if (it != index.end()) {
      for (size_t k : it->second) {
        const auto& pat = tokens_[k].pattern;
        if (i + pat.size() <= n && std::equal(pat.begin(), pat.end(), s.c.begin() + i)) {
          hit = &tokens_[k];
          break;
        }
      }
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t start = i, stop = i + hit->pattern.size();
    i = stop;  // a rejected match still consumes its span (leftmost-longest, non-overlapping)
    if (hit->single_word) {
      bool start_ok = start == 0 || !is_word_char(s.c[start - 1]);
      bool stop_ok = stop == n || !is_word_char(s.c[stop]);
      if (!start_ok || !stop_ok) continue;
    }
    if (hit->lstrip) {
      size_t ns = start;
      while (ns > 0 && u::is_whitespace(s.c[ns - 1])) --ns;
      start = std::max(ns, start_offset);
    }
    if (hit->rstrip) {
      while (stop < n && u::is_whitespace(s.c[stop])) ++stop;
      i = stop;
    }
    if (start_offset < start) out.push_back(Piece{s.slice(start_offset, start), -1});
    out.push_back(Piece{s.slice(start, stop), hit->id});
    start_offset = stop;
  }
  if (start_offset == 0) out.push_back(Piece{std::move(s), -1});  // nothing matched: no copy
  else if (start_offset < n) out.push_back(Piece{s.slice(start_offset, n), -1});
}

}  // namespace crossrank::tok
