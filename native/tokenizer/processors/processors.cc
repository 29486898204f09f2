#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tokenizer/processors/processor.h"

namespace crossrank::tok {
namespace {

using nlohmann::json;

Encoding specials(const std::vector<int32_t>& ids, int32_t type) {
  Encoding e;
  for (int32_t id : ids) e.push(id, type, 1, -1, 0, 0);
  return e;
}

void set_types(Encoding& e, int32_t t) {
  std::fill(e.type_ids.begin(), e.type_ids.end(), t);
  for (auto& o : e.overflowing) set_types(o, t);
}

// Wraps an encoding (and each of its overflowing parts) between two lists of special ids.
Encoding wrap(const Encoding& e, const std::vector<int32_t>& before, const std::vector<int32_t>& after, int32_t type) {
  Encoding r = specials(before, type);
  r.append(e);
  r.append(specials(after, type));
  for (const auto& o : e.overflowing) r.overflowing.push_back(wrap(o, before, after, type));
  return r;
}

int32_t id_of(const json& pair, const Vocab&) { return pair.at(1).get<int32_t>(); }

// BertProcessing and RobertaProcessing: [CLS] A [SEP] ([SEP]) B [SEP].
class ClsSep : public PostProcessor {
 public:
  ClsSep(const json& j, const Vocab& v, bool roberta) : roberta_(roberta) {
    cls_ = id_of(j.at("cls"), v);
    sep_ = id_of(j.at("sep"), v);
  }
  size_t added_tokens(bool pair) const override { return pair ? (roberta_ ? 4 : 3) : 2; }
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    if (roberta_) for (auto& e : encs) set_types(e, 0);
    if (!add_special) return;
    for (size_t i = 0; i < encs.size(); ++i) {
      if (i == 0) encs[i] = wrap(encs[i], {cls_}, {sep_}, 0);
      else encs[i] = wrap(encs[i], roberta_ ? std::vector<int32_t>{sep_} : std::vector<int32_t>{}, {sep_}, roberta_ ? 0 : 1);
    }
  }
 private:
  bool roberta_;
  int32_t cls_, sep_;
};

class ByteLevelProc : public PostProcessor {
 public:
  size_t added_tokens(bool) const override { return 0; }
  void process_encodings(std::vector<Encoding>&, bool) const override {}
};

class Template : public PostProcessor {
 public:
  struct Item {
    bool special;
    std::string name;  // "A"/"B" or the special token's key
    int32_t type;
  };
  Template(const json& j) {
    for (auto& [name, st] : j.at("special_tokens").items()) special_[name] = st.at("ids").get<std::vector<int32_t>>();
    single_ = parse(j.at("single"));
    pair_ = parse(j.at("pair"));
  }
  std::vector<Item> parse(const json& t) {
    std::vector<Item> items;
    for (const auto& p : t) {
      if (p.contains("SpecialToken")) {
        const auto& s = p["SpecialToken"];
        Item it{true, s.at("id").get<std::string>(), s.value("type_id", 0)};
        if (!special_.count(it.name))
          throw Error("ERR_TOKENIZER_CONFIG", "TemplateProcessing uses special token \"" + it.name + "\" missing from special_tokens");
        items.push_back(it);
      } else if (p.contains("Sequence")) {
        const auto& s = p["Sequence"];
        items.push_back(Item{false, s.at("id").get<std::string>(), s.value("type_id", 0)});
      } else {
        throw Error("ERR_TOKENIZER_CONFIG", "TemplateProcessing piece is neither SpecialToken nor Sequence");
      }
    }
    return items;
  }
  size_t added_tokens(bool pair) const override {
    size_t n = 0;
    for (const auto& it : pair ? pair_ : single_) if (it.special) n += special_.at(it.name).size();
    return n;
  }
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    const auto& tmpl = encs.size() == 2 ? pair_ : single_;
    std::vector<Encoding> out;
    for (const auto& it : tmpl) {
      if (it.special) {
        if (add_special) out.push_back(specials(special_.at(it.name), it.type));
      } else {
        size_t i = it.name == "A" ? 0 : 1;
        if (i >= encs.size()) continue;
        Encoding e = encs[i];
        set_types(e, it.type);
        out.push_back(std::move(e));
      }
    }
    encs = std::move(out);
  }
 private:
  std::map<std::string, std::vector<int32_t>> special_;
  std::vector<Item> single_, pair_;
};

class SequenceProc : public PostProcessor {
 public:
  SequenceProc(const json& j, const Vocab& v) {
    for (const auto& p : j.at("processors")) parts_.push_back(make_processor(p, v));
  }
  size_t added_tokens(bool pair) const override {
    size_t n = 0;
    for (const auto& p : parts_) n += p->added_tokens(pair);
    return n;
  }
  void process_encodings(std::vector<Encoding>& encs, bool add_special) const override {
    for (const auto& p : parts_) p->process_encodings(encs, add_special);
  }
 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

void mark_seq(Encoding& e, int8_t s) {
  std::fill(e.seq.begin(), e.seq.end(), s);
  for (auto& o : e.overflowing) mark_seq(o, s);
}

}  // namespace

Encoding post_process(const PostProcessor* p, Encoding a, Encoding* b, bool add_special) {
  std::vector<Encoding> encs;
  encs.push_back(std::move(a));
  if (b) encs.push_back(std::move(*b));
  for (size_t i = 0; i < encs.size(); ++i) {
    set_types(encs[i], static_cast<int32_t>(i));
    mark_seq(encs[i], static_cast<int8_t>(i));
  }
  if (p) p->process_encodings(encs, add_special);
  Encoding out = std::move(encs[0]);
  for (size_t i = 1; i < encs.size(); ++i) out.merge_with(encs[i]);
  return out;
}

std::unique_ptr<PostProcessor> make_processor(const json& j, const Vocab& v) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "TemplateProcessing") return std::make_unique<Template>(j);
  if (type == "BertProcessing") return std::make_unique<ClsSep>(j, v, false);
  if (type == "RobertaProcessing") return std::make_unique<ClsSep>(j, v, true);
  if (type == "ByteLevel") return std::make_unique<ByteLevelProc>();
  if (type == "Sequence") return std::make_unique<SequenceProc>(j, v);
  throw Error("ERR_TOKENIZER_UNSUPPORTED", "unsupported post_processor type \"" + type + "\"");
}

}  // namespace crossrank::tok
