// Unigram (SentencePiece): Viterbi over a byte trie of the pieces; characters no piece covers
// become unk (score min - 10), consecutive unks fused, as in SentencePiece and HF tokenizers.
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/json_fields.h"
#include "tokenizer/models/model.h"

namespace crossrank::tok {
namespace {

class Unigram : public Model {
 public:
  explicit Unigram(const nlohmann::json& j) {
    jf::check_type(j, "Unigram", "model");
    const auto& v = jf::need(j, "vocab", "model.vocab");
    if (!v.is_array()) jf::fail("model.vocab", "a list of [piece, score] pairs", v);
    scores_.reserve(v.size());
    min_score_ = INFINITY;
    node_token_.push_back(-1);
    for (size_t k = 0; k < v.size(); ++k) {
      const auto& e = v[k];
      const std::string path = "model.vocab[" + std::to_string(k) + "]";
      if (!e.is_array() || e.size() != 2) jf::fail(path, "a [piece, score] pair", e);
      const std::string piece = jf::str(e[0], path + "[0]");
      const double score = jf::number(e[1], path + "[1]");
      const auto id = static_cast<int32_t>(k);
      vocab_.add(piece, id);  // a repeated piece: the last one wins, as in HF
      scores_.push_back(score);
      min_score_ = std::min(min_score_, score);
      insert(piece, id);
    }
    const auto* u = jf::find(j, "unk_id");
    unk_ = -1;
    if (u && !u->is_null()) {
      const uint64_t id = jf::uint(*u, "model.unk_id", std::numeric_limits<uint64_t>::max());
      if (v.empty()) throw Error("ERR_TOKENIZER_CONFIG", "model.vocab is empty but model.unk_id is set");
      if (id >= v.size())
        throw Error("ERR_TOKENIZER_CONFIG", "model.unk_id " + std::to_string(id) + " is not in model.vocab (" +
                                                std::to_string(v.size()) + " pieces)");
      unk_ = static_cast<int32_t>(id);
    }
    const auto* bf = jf::find(j, "byte_fallback");
    byte_fallback_ = bf ? jf::boolean(*bf, "model.byte_fallback") : false;
    fuse_unk_ = true;
  }

  size_t size() const override { return scores_.size(); }

  void tokenize(const NStr& piece, std::vector<Token>& out) const override {
    if (piece.empty()) return;
    Utf8Piece w(piece);
    const std::string& t = w.text;
    const size_t n = t.size();
    struct Node {
      int32_t id = -1;
      double score = 0;
      long start = -1;
    };
    std::vector<Node> best(n + 1);
    const double unk_score = min_score_ - 10.0;
    for (size_t s = 0; s < n;) {
      const double base = best[s].score;
      unsigned char b0 = static_cast<unsigned char>(t[s]);
      size_t mblen = b0 < 0x80 ? 1 : (b0 >> 5) == 6 ? 2 : (b0 >> 4) == 14 ? 3 : 4;
      bool single = false;
      uint32_t node = 0;
      for (size_t e = s; e < n; ++e) {
        auto it = children_.find((static_cast<uint64_t>(node) << 8) | static_cast<unsigned char>(t[e]));
        if (it == children_.end()) break;
        node = it->second;
        int32_t tok = node_token_[node];
        if (tok < 0) continue;
        Node& tgt = best[e + 1];
        double cand = base + scores_[static_cast<size_t>(tok)];
        if (tgt.start < 0 || cand > tgt.score) {
          tgt.score = cand;
          tgt.start = static_cast<long>(s);
          tgt.id = tok;
        }
        if (e + 1 - s == mblen) single = true;
      }
      if (!single) {
        if (unk_ < 0) throw Error("ERR_TOKENIZER_UNK", "a character is in no Unigram piece and model.unk_id is not set");
        Node& tgt = best[s + mblen];
        double cand = base + unk_score;
        if (tgt.start < 0 || cand > tgt.score) {
          tgt.score = cand;
          tgt.start = static_cast<long>(s);
          tgt.id = unk_;
        }
      }
      s += mblen;
    }
    // Walk back, fusing runs of unk.
    std::vector<Token> rev;
    size_t end = n, unk_end = 0;
    bool in_unk = false;
    auto flush_unk = [&](size_t a) {
      emit_unk(w, piece, a, unk_end, rev);
      in_unk = false;
    };
    while (end > 0) {
      const Node& nd = best[end];
      size_t start = static_cast<size_t>(nd.start);
      if (fuse_unk_ && nd.id == unk_) {
        if (!in_unk) { in_unk = true; unk_end = end; }
      } else {
        if (in_unk) flush_unk(end);
        rev.push_back(w.token(piece, nd.id, start, end));
      }
      end = start;
    }
    if (in_unk) flush_unk(0);
    out.insert(out.end(), rev.rbegin(), rev.rend());
  }

 private:
  // A fused unk run [a, b): its text may itself be a piece; else byte fallback or unk.
  void emit_unk(const Utf8Piece& w, const NStr& piece, size_t a, size_t b, std::vector<Token>& rev) const {
    std::string_view s(w.text.data() + a, b - a);
    int32_t id = vocab_.find(s);
    if (id >= 0) {
      rev.push_back(w.token(piece, id, a, b));
      return;
    }
    if (byte_fallback_) {
      static const char* hex = "0123456789ABCDEF";
      std::vector<Token> bytes;
      bool ok = true;
      for (size_t k = a; k < b && ok; ++k) {
        unsigned char c = static_cast<unsigned char>(w.text[k]);
        char name[7] = {'<', '0', 'x', hex[c >> 4], hex[c & 15], '>', 0};
        int32_t bid = vocab_.find(name);
        if (bid < 0) ok = false;
        else bytes.push_back(w.token(piece, bid, k, k + 1));
      }
      if (ok) {
        rev.insert(rev.end(), bytes.rbegin(), bytes.rend());
        return;
      }
    }
    rev.push_back(w.token(piece, unk_, a, b));
  }

  void insert(const std::string& piece, int32_t id) {
    uint32_t node = 0;
    for (unsigned char c : piece) {
      uint64_t k = (static_cast<uint64_t>(node) << 8) | c;
      auto it = children_.find(k);
      if (it == children_.end()) {
        uint32_t nn = static_cast<uint32_t>(node_token_.size());
        node_token_.push_back(-1);
        children_.emplace(k, nn);
        node = nn;
      } else {
        node = it->second;
      }
    }
    if (!piece.empty()) node_token_[node] = id;
  }

  std::vector<double> scores_;
  double min_score_;
  int32_t unk_;
  bool byte_fallback_, fuse_unk_;
  std::unordered_map<uint64_t, uint32_t> children_;
  std::vector<int32_t> node_token_;
};

}  // namespace

std::unique_ptr<Model> make_unigram(const nlohmann::json& j) { return std::make_unique<Unigram>(j); }

}  // namespace crossrank::tok
