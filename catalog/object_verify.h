// Checks one whole repository object against its key, for a site that
// receives objects it did not write (the off-site vault, from its peer):
// "config" must decode; "data/..", "index/.." and "snapshots/.." must hash,
// under the namespace secret, to the id in their key and decode, and every
// blob of a pack must decompress to its own id. What passes is exactly what
// the sending site wrote, and is self-consistent.
#pragma once

#include <string>
#include <string_view>

#include "core/hash.h"
#include "core/status.h"

namespace dr {

// Corruption naming `key` and what is wrong; InvalidArgument for a key that
// is not a repository object. `hasher` is the namespace's (from its config);
// it may be null only for "config".
Status VerifyRepositoryObject(const std::string& key, std::string_view bytes,
                              const KeyedHasher* hasher);

// The same for an encrypted repository at a site holding no key: `names`
// (the config's clear naming secret) checks every content-addressed object
// against its name; a pack's layout and each sealed blob's size, a sealed
// snapshot's envelope, an index segment, a key slot and a keyring's size are
// checked. Whether a blob opens is known only to a key holder: a forgery
// that passes here fails authentication at restore.
Status VerifySealedRepositoryObject(const std::string& key, std::string_view bytes,
                                    const KeyedHasher& names);

}  // namespace dr
