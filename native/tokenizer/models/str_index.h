// A string -> id table for the tokenizer's hot lookups: open addressing over one flat slot array,
// keys kept back to back in one arena, each slot holding the key's hash so that most probes are
// decided without touching the key bytes. Insert-only; the last insert of a key wins.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace crossrank::tok {

class StrIndex {
 public:
  static uint64_t hash(std::string_view s) noexcept {
    // 8 bytes at a time, mixed by multiply-xorshift; strings here are short (vocabulary pieces).
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (s.size() * 0xC2B2AE3D27D4EB4Full);
    const char* p = s.data();
    size_t n = s.size();
    while (n >= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
      p += 8;
      n -= 8;
    }
    if (n) {
      uint64_t w = 0;
      std::memcpy(&w, p, n);
      h = (h ^ w) * 0x94D049BB133111EBull;
    }
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
  }

  int32_t find(std::string_view s) const noexcept { return find(s, hash(s)); }

  int32_t find(std::string_view s, uint64_t h) const noexcept {
    if (slots_.empty()) return -1;
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& sl = slots_[i];
      if (sl.id < 0) return -1;
      if (sl.tag == tag && sl.len == s.size() && std::memcmp(arena_.data() + sl.off, s.data(), s.size()) == 0) return sl.id;
    }
  }

  void insert(std::string_view s, int32_t id) {
    if ((count_ + 1) * 2 > slots_.size()) grow();
    const uint64_t h = hash(s);
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& sl = slots_[i];
      if (sl.id < 0) {
        sl = Slot{tag, static_cast<uint32_t>(s.size()), static_cast<uint32_t>(arena_.size()), id};
        arena_.append(s);
        ++count_;
        return;
      }
      if (sl.tag == tag && sl.len == s.size() && std::memcmp(arena_.data() + sl.off, s.data(), s.size()) == 0) {
        sl.id = id;
        return;
      }
    }
  }

  size_t size() const noexcept { return count_; }

 private:
  struct Slot {
    uint32_t tag = 0, len = 0, off = 0;
    int32_t id = -1;
  };

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 64 : old.size() * 2, Slot{});
    mask_ = slots_.size() - 1;
    for (const Slot& sl : old) {
      if (sl.id < 0) continue;
      const uint64_t h = hash(std::string_view(arena_.data() + sl.off, sl.len));
      size_t i = h & mask_;
      while (slots_[i].id >= 0) i = (i + 1) & mask_;
      slots_[i] = sl;
    }
  }

  std::vector<Slot> slots_;
  std::string arena_;
  size_t mask_ = 0, count_ = 0;
};

}  // namespace crossrank::tok
