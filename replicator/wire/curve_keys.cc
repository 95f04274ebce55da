#include "replicator/wire/curve_keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <fstream>
#include <sstream>

#include "core/env/file_io.h"

namespace dr {

bool IsCurveKey(const std::string& z85) {
  if (z85.size() != 40) return false;
  uint8_t raw[32];
  return zmq_z85_decode(raw, z85.c_str()) != nullptr;
}

Result<CurveKeyPair> GenerateCurveKeyPair() {
  char pub[41], sec[41];
  if (zmq_curve_keypair(pub, sec) != 0)
    return Status::Unavailable(std::string("cannot generate a Curve key pair: ") +
                               zmq_strerror(zmq_errno()));
  return CurveKeyPair{pub, sec};
}

Status WriteKeyFile(const std::string& path, const CurveKeyPair& keys, const std::string& comment,
                    bool with_secret) {
  std::ostringstream text;
  text << "# drbackup CurveZMQ key: " << comment << "\n";
  text << "public-key = \"" << keys.public_key << "\"\n";
  if (with_secret) text << "secret-key = \"" << keys.secret_key << "\"\n";
  const std::string s = text.str();
  Status st = WriteFileAtomically(path, s, ReplaceMode::kCreateIfAbsent, with_secret ? 0600 : 0644);
  if (st.code() == Code::kAlreadyExists)
    return Status::AlreadyExists("key file " + path + " already exists");
  if (!st.ok()) return st.WithContext("write key file " + path);
  return Status::OK();
}

Result<CurveKeyPair> ReadKeyFile(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::FromErrno(errno, "key file " + path);
  std::ifstream in(path);
  if (!in) return Status::FromErrno(errno, "read key file " + path);
  CurveKeyPair keys;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    auto eq = line.find('=');
    auto q1 = line.find('"'), q2 = line.rfind('"');
    if (eq == std::string::npos || q1 == std::string::npos || q2 <= q1) {
      return Status::InvalidArgument("key file " + path + " line " + std::to_string(lineno) +
                                     ": expected name = \"value\"");
    }
    std::string name = line.substr(first, line.find_last_not_of(" \t", eq - 1) - first + 1);
    std::string value = line.substr(q1 + 1, q2 - q1 - 1);
    if (!IsCurveKey(value)) {
      return Status::InvalidArgument("key file " + path + " line " + std::to_string(lineno) +
                                     ": not a 40-character Z85 Curve key");
    }
    if (name == "public-key")
      keys.public_key = value;
    else if (name == "secret-key")
      keys.secret_key = value;
    else
      return Status::InvalidArgument("key file " + path + " line " + std::to_string(lineno) +
                                     ": unknown field '" + name + "'");
  }
  if (keys.public_key.empty())
    return Status::InvalidArgument("key file " + path + " has no public-key line");
  if (!keys.secret_key.empty() && (st.st_mode & 077) != 0) {
    return Status::PermissionDenied("key file " + path +
                                    " holds a secret key but others may read it; chmod 600 it");
  }
  return keys;
}

Result<std::string> PublicKeyFromArg(const std::string& arg) {
  // A path can be 40 Z85-alphabet characters too: a file that exists wins.
  struct stat st;
  if (IsCurveKey(arg) && ::stat(arg.c_str(), &st) != 0) return arg;
  ASSIGN_OR_RETURN(CurveKeyPair keys, ReadKeyFile(arg));
  return keys.public_key;
}

}  // namespace dr
