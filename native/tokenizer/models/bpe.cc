// Byte-pair encoding: merges applied lowest rank first (leftmost on ties) with a heap, so a word
// of n symbols costs O(n log n) rather than O(n^2).
#include <algorithm>
#include <nlohmann/json.hpp>
#include <queue>

#include "common/error.h"
#include "common/unicode.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/models/model.h"

namespace crossrank::tok {
namespace {

struct MergeInfo {
  int32_t rank, new_id;
};

class BPE : public Model {
 public:
  explicit BPE(const nlohmann::json& j) {
    jf::check_type(j, "BPE", "model");
    if (const auto* d = jf::find(j, "dropout"); d && !d->is_null()) {
      const double p = jf::number(*d, "model.dropout");
      if (p < 0 || p > 1) jf::fail("model.dropout", "a probability from 0 to 1", *d);
      if (p > 0) throw Error("ERR_TOKENIZER_UNSUPPORTED", "model.dropout " + d->dump() + ": BPE dropout (random merges) is not supported");
    }
    if (!jf::find(j, "vocab") || !jf::find(j, "merges")) jf::missing(jf::find(j, "vocab") ? "model.merges" : "model.vocab");
    read_vocab_map(j, vocab_);
    prefix_ = jf::opt_str(j, "continuing_subword_prefix", "model.continuing_subword_prefix");
    suffix_ = jf::opt_str(j, "end_of_word_suffix", "model.end_of_word_suffix");
    const std::string unk = jf::opt_str(j, "unk_token", "model.unk_token");
    unk_ = unk.empty() ? -1 : vocab_.find(unk);
    fuse_unk_ = jf::opt_bool(j, "fuse_unk", "model.fuse_unk", false);
    byte_fallback_ = jf::opt_bool(j, "byte_fallback", "model.byte_fallback", false);
    ignore_merges_ = jf::opt_bool(j, "ignore_merges", "model.ignore_merges", false);
    // A list of [a, b] pairs, or (older files) of "a b" strings; nothing else.
    const auto& merges = j.at("merges");
    if (!merges.is_array()) jf::fail("model.merges", "a list of [a, b] pairs or \"a b\" strings", merges);
    const bool pairs = std::all_of(merges.begin(), merges.end(), [](const nlohmann::json& m) {
      return m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string();
    });
    const bool strings = !pairs && std::all_of(merges.begin(), merges.end(), [](const nlohmann::json& m) { return m.is_string(); });
    if (!pairs && !strings) {
      size_t k = 0;
      while (k < merges.size() && (merges[k].is_string() || (merges[k].is_array() && merges[k].size() == 2 &&
                                                              merges[k][0].is_string() && merges[k][1].is_string())))
        ++k;
      jf::fail("model.merges[" + std::to_string(k) + "]", "a [a, b] pair of strings (or, in every entry, an \"a b\" string)",
               k < merges.size() ? merges[k] : merges);
    }
    merges_.reserve(merges.size() * 2);
    int32_t rank = 0;
    for (size_t k = 0; k < merges.size(); ++k) {
      const auto& m = merges[k];
      std::string a, b;
      if (pairs) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        const std::string line = m.get<std::string>();
        if (line.rfind("#version", 0) == 0) continue;  // a merges.txt header kept in the list
        const size_t sp = line.find(' ');
        if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos)
          throw Error("ERR_TOKENIZER_CONFIG", "model.merges[" + std::to_string(k) + "] \"" + line + "\" is not two tokens separated by one space");
        a = line.substr(0, sp);
        b = line.substr(sp + 1);
      }
      const std::string where = "model.merges[" + std::to_string(k) + "] \"" + a + " " + b + "\"";
      const int32_t ia = vocab_.find(a), ib = vocab_.find(b);
      if (ia < 0 || ib < 0)
        throw Error("ERR_TOKENIZER_CONFIG", where + " uses \"" + (ia < 0 ? a : b) + "\", which is not in model.vocab");
      if (b.size() < prefix_.size())
        throw Error("ERR_TOKENIZER_CONFIG", where + " is shorter than model.continuing_subword_prefix");
      const std::string merged = a + b.substr(prefix_.size());
      const int32_t in = vocab_.find(merged);
      if (in < 0) throw Error("ERR_TOKENIZER_CONFIG", where + " makes \"" + merged + "\", which is not in model.vocab");
      merges_[key(ia, ib)] = MergeInfo{rank++, in};  // a repeated pair keeps its last rank, as in HF
    }
  }

  void tokenize(const NStr& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    Utf8Piece w(piece);
    if (ignore_merges_) {
      int32_t id = vocab_.find(w.text);
      if (id >= 0) {
        out.push_back(w.token(piece, id, 0, w.text.size()));
        return;
      }
    }
    // Initial symbols: one per character (or per byte with byte_fallback).
    struct Sym {
      int32_t id, prev, next;
      size_t a, b;  // byte range
    };
    std::vector<Sym> syms;
    syms.reserve(w.text.size());
    const std::string& t = w.text;
    std::string buf;
    bool last_unk = false;
    for (size_t i = 0; i < t.size();) {
      unsigned char b0 = static_cast<unsigned char>(t[i]);
      size_t len = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : 4;
      const bool first = i == 0, last = i + len == t.size();
      buf.clear();
      if (!first && !prefix_.empty()) buf += prefix_;
      buf.append(t, i, len);
      if (last && !suffix_.empty()) buf += suffix_;
      int32_t id = vocab_.find(buf);
      if (id >= 0) {
        syms.push_back(Sym{id, 0, 0, i, i + len});
        last_unk = false;
      } else if (byte_fallback_ && byte_ids(t, i, len, syms)) {
        last_unk = false;
      } else if (unk_ >= 0) {
        if (fuse_unk_ && last_unk) syms.back().b = i + len;
        else syms.push_back(Sym{unk_, 0, 0, i, i + len});
        last_unk = true;
      }
      i += len;
    }
    const int32_t n = static_cast<int32_t>(syms.size());
    for (int32_t k = 0; k < n; ++k) {
      syms[k].prev = k - 1;
      syms[k].next = k + 1 < n ? k + 1 : -1;
    }
    struct Cand {
      int32_t rank, pos, new_id;
      bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto consider = [&](int32_t pos) {
      if (pos < 0 || syms[pos].next < 0) return;
      auto it = merges_.find(key(syms[pos].id, syms[syms[pos].next].id));
      if (it != merges_.end()) heap.push(Cand{it->second.rank, pos, it->second.new_id});
    };
    for (int32_t k = 0; k + 1 < n; ++k) consider(k);
    std::vector<bool> dead(static_cast<size_t>(n), false);
    while (!heap.empty()) {
      Cand c = heap.top();
      heap.pop();
      if (dead[c.pos]) continue;
      int32_t nx = syms[c.pos].next;
      if (nx < 0) continue;
      auto it = merges_.find(key(syms[c.pos].id, syms[nx].id));
      if (it == merges_.end() || it->second.new_id != c.new_id) continue;
      syms[c.pos].id = c.new_id;
      syms[c.pos].b = syms[nx].b;
      syms[c.pos].next = syms[nx].next;
      if (syms[nx].next >= 0) syms[syms[nx].next].prev = c.pos;
      dead[nx] = true;
      consider(syms[c.pos].prev);
      consider(c.pos);
    }
    for (int32_t k = n > 0 ? 0 : -1; k >= 0; k = syms[k].next) out.push_back(w.token(piece, syms[k].id, syms[k].a, syms[k].b));
  }

 private:
  static uint64_t key(int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); }

  template <typename SymVec>
  bool byte_ids(const std::string& t, size_t i, size_t len, SymVec& syms) const {
    static const char* hex = "0123456789ABCDEF";
    std::vector<int32_t> ids;
    for (size_t k = 0; k < len; ++k) {
      unsigned char b = static_cast<unsigned char>(t[i + k]);
      char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
      int32_t id = vocab_.find(name);
      if (id < 0) return false;
      ids.push_back(id);
    }
    for (size_t k = 0; k < len; ++k) syms.push_back({ids[k], 0, 0, i + k, i + k + 1});
    return true;
  }

  std::string prefix_, suffix_;
  int32_t unk_;
  bool fuse_unk_, byte_fallback_, ignore_merges_;
  std::unordered_map<uint64_t, MergeInfo> merges_;
};

}  // namespace

std::unique_ptr<Model> make_bpe(const nlohmann::json& j) { return std::make_unique<BPE>(j); }

}  // namespace crossrank::tok
