// CurveZMQ key pairs and the files that hold them.
//
// A key file is text, one "name = "value"" per line:
//   # drbackup CurveZMQ key: agent records-01
//   public-key = "<40 Z85 characters>"
//   secret-key = "<40 Z85 characters>"      (absent in a .pub file)
// Files with a secret key are created mode 0600; reading one that others can
// read is refused, the way ssh refuses an open private key.
#pragma once

#include <string>

#include "core/status.h"

namespace dr {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters; empty for a public-only key
};

Result<CurveKeyPair> GenerateCurveKeyPair();
// True when `z85` is a well-formed 40-character Z85 Curve key.
bool IsCurveKey(const std::string& z85);
// Writes the pair (or only its public half) to `path`; AlreadyExists if the
// file exists, so a key is never overwritten by mistake.
Status WriteKeyFile(const std::string& path, const CurveKeyPair& keys, const std::string& comment,
                    bool with_secret);
Result<CurveKeyPair> ReadKeyFile(const std::string& path);
// A key given on the command line or in a config: a Z85 key itself, or the
// path of a key file whose public key is wanted.
Result<std::string> PublicKeyFromArg(const std::string& arg);

}  // namespace dr
