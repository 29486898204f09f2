#include "tokenizer/encoding.h"

#include <algorithm>
#include <string>

#include "common/error.h"

namespace crossrank::tok {

void Encoding::append(const Encoding& o) {
  ids.insert(ids.end(), o.ids.begin(), o.ids.end());
  type_ids.insert(type_ids.end(), o.type_ids.begin(), o.type_ids.end());
  special.insert(special.end(), o.special.begin(), o.special.end());
  seq.insert(seq.end(), o.seq.begin(), o.seq.end());
  start.insert(start.end(), o.start.begin(), o.start.end());
  end.insert(end.end(), o.end.begin(), o.end.end());
}

Encoding Encoding::slice(size_t a, size_t b) const {
  Encoding r;
  r.ids.assign(ids.begin() + a, ids.begin() + b);
  r.type_ids.assign(type_ids.begin() + a, type_ids.begin() + b);
  r.special.assign(special.begin() + a, special.begin() + b);
  r.seq.assign(seq.begin() + a, seq.begin() + b);
  r.start.assign(start.begin() + a, start.begin() + b);
  r.end.assign(end.begin() + a, end.begin() + b);
  return r;
}

size_t window_count(size_t n, size_t max_len, size_t stride) {
  if (n <= max_len) return 1;
  if (max_len == 0) return 2;  // nothing kept; everything in one overflowing part
  const size_t step = max_len - stride;
  return 1 + (n - max_len + step - 1) / step;
}

void Encoding::truncate(size_t max_len, size_t stride, bool from_left, bool windows, size_t max_windows) {
  const size_t n = size();
  if (max_len >= n) return;
  truncated = true;
  if (max_len == 0) {
    Encoding all = std::move(*this);
    *this = Encoding();
    truncated = true;
    if (windows) {
      all.words.clear();
      overflowing.push_back(std::move(all));
    }
    return;
  }
  if (stride >= max_len)
    throw Error("ERR_INVALID_ARG_VALUE", "stride (" + std::to_string(stride) + ") must be less than the length left for the sequence (" +
                                             std::to_string(max_len) + ")");
  const size_t step = max_len - stride;
  size_t count = windows ? window_count(n, max_len, stride) : 1;
  if (max_windows > 0 && count > max_windows) count = max_windows;
  std::vector<std::pair<size_t, size_t>> parts;
  parts.reserve(count);
  if (!from_left) {
    for (size_t a = 0; parts.size() < count; a += step) {
      size_t b = std::min(a + max_len, n);
      parts.emplace_back(a, b);
      if (b == n) break;
    }
  } else {
    for (size_t b = n; parts.size() < count; b -= std::min(step, b)) {
      size_t a = b > max_len ? b - max_len : 0;
      parts.emplace_back(a, b);
      if (a == 0) break;
    }
  }
  Encoding first = slice(parts[0].first, parts[0].second);
  first.overflowing.reserve(parts.size() - 1);
  for (size_t i = 1; i < parts.size(); ++i) first.overflowing.push_back(slice(parts[i].first, parts[i].second));
  first.truncated = true;
  *this = std::move(first);
}

void Encoding::merge_with(const Encoding& pair) {
  std::vector<Encoding> over;
  for (const auto& so : overflowing) {
    Encoding e = so;
    e.overflowing.clear();
    Encoding p = pair;
    p.overflowing.clear();
    e.merge_with(p);
    over.push_back(std::move(e));
    for (const auto& po : pair.overflowing) {
      Encoding e2 = so;
      e2.overflowing.clear();
      e2.merge_with(po);
      over.push_back(std::move(e2));
    }
  }
  for (const auto& po : pair.overflowing) {
    Encoding e = *this;
    e.overflowing.clear();
    e.merge_with(po);
    over.push_back(std::move(e));
  }
  append(pair);
  overflowing = std::move(over);
}

}  // namespace crossrank::tok
