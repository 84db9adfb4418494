#include "concise/clip/text_cleaning.hpp"

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/regex.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "concise/core/error.hpp"

namespace concise::clip {
namespace {

void check_icu(UErrorCode status, const char* what) {
  if (U_FAILURE(status)) throw Error(std::string("ICU failed to ") + what + ": " + u_errorName(status));
}

void check_utf8(const std::string& text) {
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(text.data());
  const auto length = static_cast<std::int32_t>(text.size());
  for (std::int32_t i = 0; i < length;) {
    const std::int32_t at = i;
    UChar32 c;
    U8_NEXT(bytes, i, length, c);
    if (c < 0) throw InputError("text is not valid UTF-8 (byte " + std::to_string(at) + ")");
  }
}

// ftfy's remove_control_chars: C0 controls other than tab/newline/form feed/CR,
// DEL, deprecated format characters, BOM, interlinear annotations, tags.
bool is_removed_control(UChar32 c) {
  return (c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC) || (c >= 0xE0000 && c <= 0xE007F);
}

// ftfy's fix_latin_ligatures.
const char16_t* latin_ligature(UChar32 c) {
  switch (c) {
    case 0x0132: return u"IJ";
    case 0x0133: return u"ij";
    case 0x0149: return u"\u02bcn";
    case 0x01C4: return u"D\u017d";
    case 0x01C5: return u"D\u017e";
    case 0x01C6: return u"d\u017e";
    case 0x01C7: return u"LJ";
    case 0x01C8: return u"Lj";
    case 0x01C9: return u"lj";
    case 0x01CA: return u"NJ";
    case 0x01CB: return u"Nj";
    case 0x01CC: return u"nj";
    case 0xFB00: return u"ff";
    case 0xFB01: return u"fi";
    case 0xFB02: return u"fl";
    case 0xFB03: return u"ffi";
    case 0xFB04: return u"ffl";
    case 0xFB05: return u"\u017ft";
    case 0xFB06: return u"st";
    default: return nullptr;
  }
}

// ftfy's uncurl_quotes.
UChar32 uncurled_quote(UChar32 c) {
  switch (c) {
    case 0x2018: case 0x2019: case 0x201A: case 0x201B: return u'\'';
    case 0x201C: case 0x201D: case 0x201E: case 0x201F: return u'"';
    default: return c;
  }
}

// The parts of ftfy.fix_text's defaults that do not guess at encodings: control
// characters removed, Latin ligatures split, full- and half-width forms made
// ordinary (NFKC of U+3000 and U+FF01..U+FFEF), curly quotes made straight, NFC.
icu::UnicodeString ftfy_fixes(const icu::UnicodeString& text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(status);
  const icu::Normalizer2* nfc = icu::Normalizer2::getNFCInstance(status);
  check_icu(status, "load Unicode normalization data");
  icu::UnicodeString fixed;
  for (std::int32_t i = 0; i < text.length(); i = text.moveIndex32(i, 1)) {
    const UChar32 c = text.char32At(i);
    if (is_removed_control(c)) continue;
    if (const char16_t* ligature = latin_ligature(c)) {
      fixed.append(icu::UnicodeString(ligature));
    } else if (c == 0x3000 || (c >= 0xFF01 && c <= 0xFFEF)) {
      fixed.append(nfkc->normalize(icu::UnicodeString(c), status));
    } else {
      fixed.append(uncurled_quote(c));
    }
  }
  icu::UnicodeString composed = nfc->normalize(fixed, status);
  check_icu(status, "normalize text to NFC");
  return composed;
}

// Windows-1252 meanings of &#128; .. &#159;, as Python's html.unescape reads them.
UChar32 numeric_reference(std::uint32_t value) {
  static const char16_t cp1252[32] = {
      0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  if (value >= 0x80 && value <= 0x9F) return cp1252[value - 0x80];
  if (value == 0 || (value >= 0xD800 && value <= 0xDFFF) || value > 0x10FFFF) return 0xFFFD;
  return static_cast<UChar32>(value);
}

const std::unordered_map<std::string, const char*>& named_references() {
  static const std::unordered_map<std::string, const char*> table = {
      {"amp", "&"},          {"lt", "<"},           {"gt", ">"},           {"quot", "\""},
      {"apos", "'"},         {"nbsp", "\u00a0"},    {"copy", "\u00a9"},    {"reg", "\u00ae"},
      {"trade", "\u2122"},   {"hellip", "\u2026"},  {"mdash", "\u2014"},   {"ndash", "\u2013"},
      {"lsquo", "\u2018"},   {"rsquo", "\u2019"},   {"ldquo", "\u201c"},   {"rdquo", "\u201d"},
      {"sbquo", "\u201a"},   {"bdquo", "\u201e"},   {"laquo", "\u00ab"},   {"raquo", "\u00bb"},
      {"deg", "\u00b0"},     {"times", "\u00d7"},   {"divide", "\u00f7"},  {"plusmn", "\u00b1"},
      {"euro", "\u20ac"},    {"pound", "\u00a3"},   {"yen", "\u00a5"},     {"cent", "\u00a2"},
      {"sect", "\u00a7"},    {"para", "\u00b6"},    {"middot", "\u00b7"},  {"bull", "\u2022"},
      {"iexcl", "\u00a1"},   {"iquest", "\u00bf"},  {"shy", "\u00ad"},     {"micro", "\u00b5"},
      {"frac12", "\u00bd"},  {"frac14", "\u00bc"},  {"frac34", "\u00be"},  {"sup2", "\u00b2"},
      {"sup3", "\u00b3"},    {"hearts", "\u2665"},  {"larr", "\u2190"},    {"rarr", "\u2192"},
      {"aacute", "\u00e1"},  {"eacute", "\u00e9"},  {"iacute", "\u00ed"},  {"oacute", "\u00f3"},
      {"uacute", "\u00fa"},  {"agrave", "\u00e0"},  {"egrave", "\u00e8"},  {"ograve", "\u00f2"},
      {"acirc", "\u00e2"},   {"ecirc", "\u00ea"},   {"ocirc", "\u00f4"},   {"auml", "\u00e4"},
      {"euml", "\u00eb"},    {"iuml", "\u00ef"},    {"ouml", "\u00f6"},    {"uuml", "\u00fc"},
      {"Auml", "\u00c4"},    {"Ouml", "\u00d6"},    {"Uuml", "\u00dc"},    {"Eacute", "\u00c9"},
      {"szlig", "\u00df"},   {"ntilde", "\u00f1"},  {"Ntilde", "\u00d1"},  {"ccedil", "\u00e7"},
      {"Ccedil", "\u00c7"},  {"aring", "\u00e5"},   {"Aring", "\u00c5"},   {"aelig", "\u00e6"},
      {"oslash", "\u00f8"},  {"Oslash", "\u00d8"},  {"atilde", "\u00e3"},  {"otilde", "\u00f5"},
  };
  return table;
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
std::uint64_t digit_value(char c) {
  if (is_digit(c)) return static_cast<std::uint64_t>(c - '0');
  return static_cast<std::uint64_t>(std::tolower(static_cast<unsigned char>(c)) - 'a' + 10);
}

void append_utf8(std::string& out, UChar32 c) {
  char buffer[4];
  std::int32_t length = 0;
  UBool error = false;
  U8_APPEND(reinterpret_cast<std::uint8_t*>(buffer), length, 4, c, error);
  if (!error) out.append(buffer, static_cast<std::size_t>(length));
}

// One reference starting at text[at] == '&'; returns the bytes consumed, 0 if none.
std::size_t unescape_one(const std::string& text, std::size_t at, std::string& out) {
  std::size_t i = at + 1;
  if (i < text.size() && text[i] == '#') {
    ++i;
    const bool hex = i < text.size() && (text[i] == 'x' || text[i] == 'X');
    if (hex) ++i;
    const std::size_t digits_start = i;
    std::uint64_t value = 0;
    while (i < text.size() && (hex ? is_hex(text[i]) : is_digit(text[i]))) {
      if (value <= 0x10FFFF) value = value * (hex ? 16 : 10) + digit_value(text[i]);
      ++i;
    }
    if (i == digits_start) return 0;
    if (i < text.size() && text[i] == ';') ++i;
    append_utf8(out, numeric_reference(static_cast<std::uint32_t>(std::min<std::uint64_t>(value, 0x110000))));
    return i - at;
  }
  std::size_t end = i;
  while (end < text.size() && end - i < 32 && std::isalnum(static_cast<unsigned char>(text[end]))) ++end;
  if (end == i) return 0;
  const std::string name = text.substr(i, end - i);
  const auto& table = named_references();
  const auto found = table.find(name);
  const bool has_semicolon = end < text.size() && text[end] == ';';
  const bool legacy = name == "amp" || name == "lt" || name == "gt" || name == "quot";
  if (found == table.end() || (!has_semicolon && !legacy)) return 0;
  out += found->second;
  return end + (has_semicolon ? 1 : 0) - at;
}

}  // namespace

std::string unescape_html(const std::string& utf8) {
  std::string out;
  out.reserve(utf8.size());
  for (std::size_t i = 0; i < utf8.size();) {
    if (utf8[i] == '&') {
      if (const std::size_t used = unescape_one(utf8, i, out)) {
        i += used;
        continue;
      }
    }
    out += utf8[i++];
  }
  return out;
}

std::string clean_text(const std::string& utf8) {
  check_utf8(utf8);
  std::string text;
  ftfy_fixes(icu::UnicodeString::fromUTF8(utf8)).toUTF8String(text);
  // ftfy unescapes once when the text has no '<'; CLIP then unescapes twice.
  if (text.find('<') == std::string::npos) text = unescape_html(text);
  text = unescape_html(unescape_html(text));

  UErrorCode status = U_ZERO_ERROR;
  icu::RegexMatcher whitespace(u"\\s+", 0, status);
  check_icu(status, "compile the whitespace pattern");
  const icu::UnicodeString unicode = icu::UnicodeString::fromUTF8(text);  // the matcher keeps a reference
  whitespace.reset(unicode);
  icu::UnicodeString collapsed = whitespace.replaceAll(u" ", status);
  check_icu(status, "collapse whitespace");
  if (!collapsed.isEmpty() && collapsed.charAt(0) == u' ') collapsed.remove(0, 1);
  if (!collapsed.isEmpty() && collapsed.charAt(collapsed.length() - 1) == u' ') collapsed.truncate(collapsed.length() - 1);
  collapsed.toLower(icu::Locale::getRoot());
  std::string cleaned;
  collapsed.toUTF8String(cleaned);
  return cleaned;
}

}  // namespace concise::clip
