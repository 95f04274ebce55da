#pragma once
#include <string>
namespace dr::test {
// A fresh empty directory under /tmp, removed by the caller's TearDown.
std::string MakeTempDir(const std::string& tag);
void RemoveTree(const std::string& path);
}
