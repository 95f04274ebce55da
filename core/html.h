// Text made safe for an HTML page (the drill and migration reports).
#pragma once

#include <string>
#include <string_view>

namespace dr {

// `text` with & < > " ' replaced by their character references, so it can
// stand in element content and in quoted attribute values.
std::string HtmlEscape(std::string_view text);

}  // namespace dr
