#pragma once
// CLIP's text cleaning before tokenization (openai/CLIP simple_tokenizer): ftfy's
// default fixes that do not guess encodings, HTML unescaping (twice, as CLIP does),
// whitespace collapsed and trimmed, Unicode lowercase.
#include <string>

namespace concise::clip {

// UTF-8 in, UTF-8 out. Invalid UTF-8 is an InputError naming the byte offset.
std::string clean_text(const std::string& utf8);

// HTML character references: numeric (&#38; &#x26;) and the common named ones.
std::string unescape_html(const std::string& utf8);

}  // namespace concise::clip
