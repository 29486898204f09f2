// Code point helpers. Character classes follow the definitions Hugging Face tokenizers uses
// (Rust's char methods and the unicode_categories crate), answered by ICU.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace crossrank::unicode {

// Decode UTF-8; invalid sequences become U+FFFD (one per bad byte, like from_utf8_lossy).
void decode_utf8(std::string_view in, std::vector<char32_t>& out);
void append_utf8(std::string& out, char32_t c);
std::string to_utf8(const char32_t* s, size_t n);
inline size_t utf8_len(char32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }
inline size_t utf16_len(char32_t c) { return c >= 0x10000 ? 2 : 1; }

bool is_whitespace(char32_t c);     // Rust char::is_whitespace (White_Space)
bool is_alphabetic(char32_t c);     // Rust char::is_alphabetic (Alphabetic)
bool is_numeric(char32_t c);        // Rust char::is_numeric (Nd, Nl, No)
inline bool is_alphanumeric(char32_t c) { return is_alphabetic(c) || is_numeric(c); }
bool is_punctuation(char32_t c);    // general category P*
bool is_other(char32_t c);          // general category C* (Cc Cf Cs Co Cn)
bool is_nonspacing_mark(char32_t c);  // Mn
bool is_regex_word(char32_t c);     // regex crate's \w
inline bool is_ascii_punctuation(char32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
         (c >= 0x7B && c <= 0x7E);
}

// Full (unconditional) lower-casing of one code point, as Rust's char::to_lowercase.
void to_lower(char32_t c, std::vector<char32_t>& out);

enum class NormForm { NFC, NFD, NFKC, NFKD };
// True when c starts a normalization segment (no interaction with what precedes it).
bool has_boundary_before(NormForm form, char32_t c);
// Normalize one segment; returns false (leaving out untouched) when it is already normalized.
bool normalize_segment(NormForm form, const char32_t* s, size_t n, std::vector<char32_t>& out);

// Extended grapheme cluster boundaries of s (indices where a cluster starts, plus n).
void grapheme_bounds(const char32_t* s, size_t n, std::vector<size_t>& out);

}  // namespace crossrank::unicode
