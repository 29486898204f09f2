#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/unicode.h"
#include "tokenizer/json_fields.h"

namespace crossrank::tok {

using nlohmann::json;

std::shared_ptr<Tokenizer> Tokenizer::from_file(const std::string& path) {
  // Only a regular file of bounded size is read: a device (/dev/zero) or FIFO would never end.
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) throw Error("ERR_FILE_NOT_FOUND", "cannot open tokenizer file " + path);
  if (!std::filesystem::is_regular_file(st)) throw Error("ERR_TOKENIZER_FILE", "tokenizer file is not a regular file: " + path);
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxFileBytes)
    throw Error("ERR_TOKENIZER_FILE", "tokenizer file " + path + " is larger than " + std::to_string(kMaxFileBytes >> 20) + " MiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("ERR_FILE_NOT_FOUND", "cannot open tokenizer file " + path);
  std::string text(static_cast<size_t>(size), '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  text.resize(static_cast<size_t>(in.gcount()));
  return from_json(text, path);
}

std::shared_ptr<Tokenizer> Tokenizer::shared_from_file(const std::string& path) {
  // Keyed by canonical path, size and mtime: an edited file is loaded afresh.
  std::error_code ec;
  std::filesystem::path canon = std::filesystem::canonical(path, ec);
  if (ec) return from_file(path);  // from_file reports the missing file
  auto mtime = std::filesystem::last_write_time(canon, ec).time_since_epoch().count();
  auto size = std::filesystem::file_size(canon, ec);
  const std::string key = canon.string() + "|" + std::to_string(size) + "|" + std::to_string(mtime);
  static std::mutex mu;
  static auto* cache = new std::map<std::string, std::weak_ptr<Tokenizer>>();
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = cache->begin(); it != cache->end();) it = it->second.expired() ? cache->erase(it) : std::next(it);
  if (auto it = cache->find(key); it != cache->end())
    if (auto live = it->second.lock()) return live;
  auto t = from_file(path);
  (*cache)[key] = t;
  return t;
}

namespace {

// The deepest nesting of arrays and objects in a JSON text (strings skipped), so that a hostile file
// is refused before any recursive reader sees it. Stops counting past `limit`.
size_t json_depth(const std::string& text, size_t limit) {
  size_t depth = 0, deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

Truncation parse_strategy(const json& v, const std::string& path) {
  const std::string s = jf::str(v, path);
  if (s == "LongestFirst" || s == "longest_first") return Truncation::LongestFirst;
  if (s == "OnlyFirst" || s == "only_first") return Truncation::OnlyFirst;
  if (s == "OnlySecond" || s == "only_second") return Truncation::OnlySecond;
  jf::fail(path, "one of \"LongestFirst\", \"OnlyFirst\", \"OnlySecond\"", v);
}

// Builds one component, naming its section in any error ("normalizer: ...").
template <typename F>
auto section(const char* name, F make) {
  try {
    return make();
  } catch (const Error& e) {
    const std::string msg = e.what();
    throw Error(e.code(), msg.compare(0, std::strlen(name), name) == 0 ? msg : std::string(name) + ": " + msg);
  } catch (const json::exception& e) {
    throw Error("ERR_TOKENIZER_CONFIG", std::string(name) + ": unexpected structure: " + e.what());
  }
}

}  // namespace

std::shared_ptr<Tokenizer> Tokenizer::from_json(const std::string& text, const std::string& origin) {
  json j;
  try {
    if (json_depth(text, kMaxJsonDepth) > kMaxJsonDepth)
      throw Error("ERR_TOKENIZER_JSON", "JSON nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    try {
      j = json::parse(text);
    } catch (const json::parse_error& e) {
      throw Error("ERR_TOKENIZER_JSON", std::string("malformed JSON: ") + e.what());
    }
    if (!j.is_object()) jf::fail("tokenizer.json", "an object", j);
    // Hugging Face's reader stops at any other key (it cannot skip its value).
    static const char* const kKeys[] = {"version", "truncation", "padding", "added_tokens", "normalizer",
                                        "pre_tokenizer", "post_processor", "decoder", "model"};
    for (auto it = j.begin(); it != j.end(); ++it)
      if (std::none_of(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return it.key() == k; }))
        throw Error("ERR_TOKENIZER_CONFIG", "unknown top-level key \"" + it.key() + "\" (known: version, truncation, padding, "
                                            "added_tokens, normalizer, pre_tokenizer, post_processor, decoder, model)");
    if (const auto* v = jf::find(j, "version"); v && jf::str(*v, "version") != "1.0")
      throw Error("ERR_TOKENIZER_CONFIG", "version \"" + v->get<std::string>() + "\" is not a known tokenizer.json version (1.0)");
    auto t = std::make_shared<Tokenizer>();
    auto part = [&](const char* key) -> const json& {
      static const json null_json;
      const json* v = jf::find(j, key);
      return v ? *v : null_json;
    };
    if (!jf::find(j, "model")) jf::missing("model");
    t->normalizer_ = section("normalizer", [&] { return make_normalizer(part("normalizer")); });
    t->pretokenizer_ = section("pre_tokenizer", [&] { return make_pretokenizer(part("pre_tokenizer")); });
    t->model_ = section("model", [&] { return make_model(j["model"]); });
    t->processor_ = section("post_processor", [&] { return make_processor(part("post_processor"), t->model_->vocab()); });
    t->decoder_ = section("decoder", [&] { return make_decoder(part("decoder")); });
    section("added_tokens", [&] { t->read_added_tokens(part("added_tokens")); return 0; });
    section("truncation", [&] {
      const json& tr = part("truncation");
      if (tr.is_null()) return 0;
      if (!tr.is_object()) jf::fail("truncation", "an object or null", tr);
      const auto* dir = jf::find(tr, "direction");
      const std::string d = dir ? jf::str(*dir, "truncation.direction") : "Right";
      if (d != "Left" && d != "Right") jf::fail("truncation.direction", "\"Left\" or \"Right\"", *dir);
      t->trunc_defaults_ = TruncationDefaults{
          static_cast<size_t>(jf::uint(jf::need(tr, "max_length", "truncation.max_length"), "truncation.max_length", SIZE_MAX)),
          parse_strategy(jf::need(tr, "strategy", "truncation.strategy"), "truncation.strategy"),
          static_cast<size_t>(jf::uint(jf::need(tr, "stride", "truncation.stride"), "truncation.stride", SIZE_MAX)), d == "Left"};
      return 0;
    });
    section("padding", [&] {
      const json& pad = part("padding");
      if (pad.is_null()) return 0;
      if (!pad.is_object()) jf::fail("padding", "an object or null", pad);
      if (const auto* id = jf::find(pad, "pad_id")) t->pad_id_ = jf::id(*id, "padding.pad_id");
      return 0;
    });
    return t;
  } catch (const Error& e) {
    throw Error(e.code(), std::string(e.what()) + " (in " + origin + ")");
  } catch (const json::exception& e) {
    throw Error("ERR_TOKENIZER_CONFIG", std::string("unexpected tokenizer.json structure in ") + origin + ": " + e.what());
  }
}

// Hugging Face ignores the ids written for added tokens: a token the model knows keeps the model's
// id, a new one gets the next id after the model's (its file ids only feed a warning). Files that
// Hugging Face wrote agree; for others, the ids are the ones it would use.
void Tokenizer::read_added_tokens(const json& list) {
  if (list.is_null()) return;
  if (!list.is_array()) jf::fail("added_tokens", "a list", list);
  const Vocab& vocab = model_->vocab();
  const size_t model_size = model_->size();
  size_t next_id = model_size;
  for (size_t k = 0; k < list.size(); ++k) {
    const json& a = list[k];
    const std::string path = "added_tokens[" + std::to_string(k) + "]";
    if (!a.is_object()) jf::fail(path, "an object", a);
    jf::id(jf::need(a, "id", path + ".id"), path + ".id");
    const std::string content = jf::str(jf::need(a, "content", path + ".content"), path + ".content");
    const bool special = jf::opt_bool(a, "special", path + ".special", false);
    AddedToken tok{content, -1, special, jf::opt_bool(a, "single_word", path + ".single_word", false),
                   jf::opt_bool(a, "lstrip", path + ".lstrip", false), jf::opt_bool(a, "rstrip", path + ".rstrip", false),
                   jf::opt_bool(a, "normalized", path + ".normalized", !special), {}};
    if (content.empty()) continue;
    int32_t id = added_.find(content);
    if (id < 0) id = vocab.find(content);
    if (id < 0) {
      if (next_id > static_cast<size_t>(std::numeric_limits<int32_t>::max()))
        throw Error("ERR_TOKENIZER_UNSUPPORTED", path + ": ids above 2147483647 are not supported");
      id = static_cast<int32_t>(next_id++);
    }
    tok.id = id;
    added_.add(std::move(tok));
  }
  added_.build(normalizer_.get());
  // Hugging Face's vocabulary size with added tokens: the model's, plus added contents it lacks.
  size_t extra = 0;
  for (const auto& a : added_.tokens())
    if (vocab.find(a.content) < 0 && added_.find(a.content) == a.id) ++extra;
  vocab_size_ = model_size + extra;
}

namespace {
// Per-thread scratch buffers keep their capacity between calls, up to a limit.
template <typename V>
void trim_scratch(V& v) {
  if (v.capacity() > (size_t{1} << 20)) V().swap(v);
  else v.clear();
}
}  // namespace

Encoding Tokenizer::encode_sequence(std::string_view text, int32_t type_id, bool utf16_offsets, size_t stop_at) const {
  thread_local std::vector<char32_t> cps;
  thread_local std::vector<Token> toks;
  thread_local PreTokenizer::Ranges ranges;
  thread_local std::vector<NStr> parts;
  unicode::decode_utf8(text, cps);
  std::vector<Piece> pieces;
  pieces.push_back(Piece{NStr::from(cps), -1});
  added_.split(pieces, false);
  for (auto& p : pieces)
    if (p.token < 0 && normalizer_) normalizer_->normalize(p.s);
  added_.split(pieces, true);
  toks.clear();
  toks.reserve(std::min(cps.size() / 3 + 4, stop_at ? stop_at + 64 : ~size_t{0}));
  Model::Words words;
  bool more = false;  // reading stopped before the end of the text
  // One word (pre-token) read: stop once the tokens reach stop_at, as Hugging Face does.
  auto reached = [&] { return stop_at && toks.size() >= stop_at; };
  for (size_t pi = 0; pi < pieces.size() && !more; ++pi) {
    const Piece& p = pieces[pi];
    const bool last_piece = pi + 1 == pieces.size();
    if (p.token >= 0) {
      toks.push_back(Token{p.token, p.s.orig_start(0), p.s.empty() ? 0 : p.s.o1.back()});
      continue;
    }
    if (!pretokenizer_) {
      if (p.s.empty()) continue;
      const auto first = static_cast<uint32_t>(toks.size());
      model_->tokenize(p.s, toks);
      words.emplace_back(first, static_cast<uint32_t>(toks.size()));
      more = reached() && !last_piece;
      continue;
    }
    const bool at_start = !p.s.empty() && p.s.o0[0] == 0;
    ranges.clear();
    if (pretokenizer_->ranges(p.s, at_start, ranges)) {  // cut in place: no copies of the words
      const size_t before = words.size();
      const size_t read = model_->tokenize_ranges(p.s, ranges, toks, &words, stop_at);
      const bool hit = words.size() > before && stop_at && words.back().second >= stop_at;
      more = hit && (read < ranges.size() || !last_piece);
    } else {
      parts.clear();
      pretokenizer_->split(p.s, at_start, parts);
      for (size_t k = 0; k < parts.size(); ++k) {
        if (parts[k].empty()) continue;
        const auto first = static_cast<uint32_t>(toks.size());
        model_->tokenize(parts[k], toks);
        words.emplace_back(first, static_cast<uint32_t>(toks.size()));
        if (reached()) {
          more = k + 1 < parts.size() || !last_piece;
          break;
        }
      }
    }
  }
  // Offsets to UTF-16 units when the text holds characters outside the BMP.
  std::vector<uint32_t> u16;
  bool astral = false;
  if (utf16_offsets)
    for (char32_t c : cps) if (c >= 0x10000) { astral = true; break; }
  if (astral) {
    u16.resize(cps.size() + 1);
    for (size_t i = 0; i < cps.size(); ++i) u16[i + 1] = u16[i] + (cps[i] >= 0x10000 ? 2 : 1);
  }
  Encoding e;
  e.ids.reserve(toks.size());
  for (const auto& t : toks)
    e.push(t.id, type_id, 0, static_cast<int8_t>(type_id), astral ? u16[t.start] : t.start, astral ? u16[t.end] : t.end);
  e.words = std::move(words);
  e.truncated = more;
  trim_scratch(cps);
  trim_scratch(toks);
  trim_scratch(parts);
  return e;
}

size_t Tokenizer::stop_at(const EncodeOptions& o, bool second) {
  if (!o.truncate || o.overflow || o.from_left) return 0;
  return (second || o.strategy != Truncation::OnlySecond) ? o.max_length : 0;
}

size_t seen_length(const Encoding& e, size_t limit, bool from_left) {
  const size_t n = e.size();
  if (n <= limit) return n;
  const auto& w = e.words;
  if (!from_left) {
    // The first word whose end reaches the limit.
    auto it = std::lower_bound(w.begin(), w.end(), limit, [](const auto& x, size_t v) { return x.second < v; });
    return it == w.end() ? n : it->second;
  }
  // From the end: the last word that starts at or before n - limit.
  auto it = std::upper_bound(w.begin(), w.end(), n - limit, [](size_t v, const auto& x) { return v < x.first; });
  return it == w.begin() ? n : n - std::prev(it)->first;
}

void truncate_pair(Encoding& a, Encoding* b, size_t room, const EncodeOptions& o) {
  // The lengths Hugging Face holds: the sequences its strategy may cut are read only up to
  // max_length tokens (whole words); the others in full.
  const bool cut_a = o.strategy != Truncation::OnlySecond;
  size_t na = cut_a ? seen_length(a, o.max_length, o.from_left) : a.size();
  size_t nb = b ? seen_length(*b, o.max_length, o.from_left) : 0;
  auto apply = [&](size_t ta, size_t tb) {
    a.truncate(ta, o.stride, o.from_left, o.overflow, o.max_windows);
    if (b) b->truncate(tb, o.stride, o.from_left, o.overflow, o.max_windows);
  };
  if (room == 0) return apply(0, 0);
  const size_t total = na + nb;
  if (total <= room) return apply(na, nb);
  const size_t to_remove = total - room;
  if (o.strategy == Truncation::LongestFirst) {
    if (!b) return apply(total - to_remove, 0);
    size_t n1 = na, n2 = nb;
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    if (n1 > room) n2 = n1;
    else n2 = std::max(n1, room - n1);
    if (n1 + n2 > room) {
      n1 = room / 2;
      n2 = n1 + room % 2;
    }
    if (swap) std::swap(n1, n2);
    return apply(n1, n2);
  }
  const bool first = o.strategy == Truncation::OnlyFirst;
  if (!first && !b) throw Error("ERR_TRUNCATION", "truncation strategy only_second needs a second sequence");
  const size_t target = first ? na : nb;
  if (target <= to_remove)
    throw Error("ERR_TRUNCATION", std::string("the ") + (first ? "first" : "second") + " sequence (" + std::to_string(target) +
                                      " tokens) is too short to remove " + std::to_string(to_remove) +
                                      " tokens and respect max_length " + std::to_string(room));
  if (first) apply(na - to_remove, nb);
  else apply(na, nb - to_remove);
}

Encoding Tokenizer::finish(Encoding a, Encoding* b, const EncodeOptions& o) const {
  if (o.truncate) {
    size_t n_added = o.add_special_tokens ? added_tokens(b != nullptr) : 0;
    if (n_added > o.max_length)
      throw Error("ERR_TRUNCATION", "max_length " + std::to_string(o.max_length) + " leaves no room: " +
                                        std::to_string(n_added) + " special tokens are added");
    truncate_pair(a, b, o.max_length - n_added, o);
    if (b && o.overflow && !a.overflowing.empty() && !b->overflowing.empty()) {
      const size_t rows = (a.overflowing.size() + 1) * (b->overflowing.size() + 1);
      if (rows > kMaxPairWindows)
        throw Error("ERR_TOO_MANY_WINDOWS", "both sides of the pair overflow: their windows combine into " + std::to_string(rows) +
                                                " rows (more than " + std::to_string(kMaxPairWindows) +
                                                "); use a larger max_length, a smaller stride, or only_first / only_second");
    }
  }
  const bool cut = a.truncated || (b && b->truncated);
  a.words = {};
  if (b) b->words = {};
  Encoding out = post_process(processor_.get(), std::move(a), b, o.add_special_tokens);
  out.truncated = cut;
  return out;
}

Encoding Tokenizer::encode(std::string_view a, const std::string_view* b, const EncodeOptions& o) const {
  Encoding ea = encode_sequence(a, 0, o.utf16_offsets, stop_at(o, false));
  if (!b) return finish(std::move(ea), nullptr, o);
  Encoding eb = encode_sequence(*b, 1, o.utf16_offsets, stop_at(o, true));
  return finish(std::move(ea), &eb, o);
}

int32_t Tokenizer::token_to_id(const std::string& token) const {
  int32_t id = added_.find(token);
  return id >= 0 ? id : model_->vocab().find(token);
}

const std::string* Tokenizer::id_to_token(int32_t id) const {
  if (const AddedToken* a = added_.by_id(id)) return &a->content;
  return model_->vocab().token(id);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int32_t id : ids) {
    const AddedToken* a = added_.by_id(id);
    if (a && a->special && skip_special) continue;
    const std::string* s = id_to_token(id);
    if (s) toks.push_back(*s);
  }
  if (decoder_) {
    decoder_->decode_chain(toks);
    std::string out;
    for (const auto& s : toks) out += s;
    return out;
  }
  std::string out;
  for (size_t i = 0; i < toks.size(); ++i) {
    if (i) out += ' ';
    out += toks[i];
  }
  return out;
}

}  // namespace crossrank::tok
