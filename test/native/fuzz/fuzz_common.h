// Shared pieces of the libFuzzer targets: an in-memory file for the loaders that take a path, the
// fixture tokenizers, and the invariants every encoding must hold. A crossrank::Error is the
// expected answer to bad input; any other exception escapes the target and libFuzzer reports it.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"
#include "common/unicode.h"
#include "tokenizer/tokenizer.h"

namespace fuzz {

[[noreturn]] inline void fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("fuzz invariant broken: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::abort();
}

// Runs f; false when it threw crossrank::Error (a typed refusal), true when it returned.
template <typename F>
bool typed(F&& f) {
  try {
    f();
    return true;
  } catch (const crossrank::Error&) {
    return false;
  }
}

// A memfd holding the input, reachable by path (/proc/self/fd/N) for loaders that open files.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("crossrank-fuzz", 0)) {
    if (fd_ < 0) fail("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  const std::string& write(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) fail("ftruncate failed");
    size_t done = 0;
    while (done < size) {
      ssize_t w = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (w <= 0) fail("pwrite failed");
      done += static_cast<size_t>(w);
    }
    return path_;
  }

 private:
  int fd_;
  std::string path_;
};

// The tokenizers named in CROSSRANK_FUZZ_TOKENIZERS (paths separated by ':'), loaded once.
// Aborts when the list is empty or a file does not load: a fuzz run never passes on nothing.
inline const std::vector<std::shared_ptr<crossrank::tok::Tokenizer>>& tokenizers() {
  static const auto all = [] {
    std::vector<std::shared_ptr<crossrank::tok::Tokenizer>> out;
    const char* env = std::getenv("CROSSRANK_FUZZ_TOKENIZERS");
    if (!env || !*env) fail("CROSSRANK_FUZZ_TOKENIZERS is not set (scripts/fuzz.sh sets it)");
    std::string_view list(env);
    while (!list.empty()) {
      size_t cut = list.find(':');
      std::string path(list.substr(0, cut));
      list = cut == std::string_view::npos ? std::string_view() : list.substr(cut + 1);
      if (path.empty()) continue;
      try {
        out.push_back(crossrank::tok::Tokenizer::from_file(path));
      } catch (const std::exception& e) {
        fail("fixture tokenizer %s did not load: %s", path.c_str(), e.what());
      }
    }
    if (out.empty()) fail("CROSSRANK_FUZZ_TOKENIZERS names no file");
    std::fprintf(stderr, "fuzz: %zu tokenizers loaded\n", out.size());
    return out;
  }();
  return all;
}

// One of the fixture tokenizers, chosen by the input.
template <typename Provider>
const crossrank::tok::Tokenizer& pick_tokenizer(Provider& in) {
  const auto& toks = tokenizers();
  return *toks[in.template ConsumeIntegralInRange<size_t>(0, toks.size() - 1)];
}

// The tokenizer targets load the fixtures once, before the first input (not timed as an input).
#define CROSSRANK_FUZZ_LOAD_TOKENIZERS_FIRST \
  extern "C" int LLVMFuzzerInitialize(int*, char***) {  \
    fuzz::tokenizers();                                  \
    return 0;                                            \
  }

// Length of a text in the units of the encoding's offsets (code points, or UTF-16 code units).
inline size_t text_length(std::string_view text, bool utf16) {
  std::vector<char32_t> cps;
  crossrank::unicode::decode_utf8(text, cps);
  size_t n = cps.size();
  if (utf16)
    for (char32_t c : cps) n += c > 0xFFFF;
  return n;
}

// Parallel arrays of one length, offsets inside their input, every id of the text a token,
// and decode answering (recursively for overflowing windows).
inline void check_encoding(const crossrank::tok::Tokenizer& t, const crossrank::tok::Encoding& e,
                           const size_t len[2]) {
  const size_t n = e.ids.size();
  if (e.type_ids.size() != n || e.special.size() != n || e.seq.size() != n || e.start.size() != n || e.end.size() != n)
    fail("encoding arrays differ in length (%zu ids)", n);
  for (size_t i = 0; i < n; ++i) {
    // The post-processor's own ids are the file's, unchecked against the vocabulary (as in Hugging
    // Face): only tokens of the text must be tokens of the tokenizer.
    if (!e.special[i] && !t.id_to_token(e.ids[i])) fail("id %d at %zu is no token of the tokenizer", e.ids[i], i);
    if (e.seq[i] < -1 || e.seq[i] > 1) fail("seq %d at %zu", e.seq[i], i);
    if (e.start[i] > e.end[i]) fail("offsets [%u, %u) reversed at %zu", e.start[i], e.end[i], i);
    if (e.seq[i] >= 0 && e.end[i] > len[e.seq[i]])
      fail("offset end %u past input %d of length %zu at %zu", e.end[i], e.seq[i], len[e.seq[i]], i);
  }
  (void)t.decode(e.ids, false);
  (void)t.decode(e.ids, true);
  for (const auto& o : e.overflowing) check_encoding(t, o, len);
}

}  // namespace fuzz
