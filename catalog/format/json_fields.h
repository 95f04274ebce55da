// Field lists for the JSON objects (snapshot, config), like core/codec.h for
// the binary ones: one function template names every member once, and
// JsonWriter (to_json) and JsonReader (from_json) apply it.
//
//   template <class A, codec::Of<Stats> S>
//   void StatsFields(A& a, S& s) {
//     a.Field("files", s.files);                 // plain JSON value
//     a.Field("host", s.host, TextForm{});       // a value with its own form
//     a.Object("limits", [&](auto& o) { o.Field("max", s.max); });
//   }
//
// A form is a type with `static json ToJson(const T&)` and `static bool
// FromJson(const json&, T*)` (and optionally `static constexpr const char*
// kExpected`, said when it refuses). JsonReader throws: nlohmann's exception
// for a missing member, BadField for a value of the wrong JSON type, out of
// its field's range, a string over the reader's limit, or one a form or a
// Check refuses, UnsupportedVersion from Version. The decoders turn them into
// Corruption (InvalidArgument for the version). Internal to catalog/format.
//
// The reader takes a value only when it fits its field exactly: a bool is
// true or false; an integer is a JSON integer (never a fraction or an
// exponent) within the C++ type's range, or within [lo, hi] for Number; a
// double is finite; a string is at most the reader's max_string bytes.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "core/codec.h"

namespace dr::jsonfields {

using json = nlohmann::json;

struct BadField : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct UnsupportedVersion : std::runtime_error {
  explicit UnsupportedVersion(int v) : std::runtime_error("version"), version(v) {}
  int version;
};

// The longest plain string a JsonReader accepts unless told otherwise.
inline constexpr size_t kMaxJsonStringBytes = 64u << 10;

class JsonWriter {
 public:
  explicit JsonWriter(json* j) : j_(j) {}

  template <class T>
  void Field(const char* name, const T& v) {
    (*j_)[name] = v;
  }
  template <class T, class Form>
  void Field(const char* name, const T& v, Form) {
    (*j_)[name] = Form::ToJson(v);
  }
  // An integer the reader requires to be from `lo` to `hi`.
  template <class T>
  void Number(const char* name, const T& v, T /*lo*/, T /*hi*/) {
    (*j_)[name] = v;
  }
  // Always written; absent (older objects) reads as "".
  void Defaulted(const char* name, const std::string& v) { (*j_)[name] = v; }
  // Written only when not empty; absent reads as "".
  void OmitEmpty(const char* name, const std::string& v) {
    if (!v.empty()) (*j_)[name] = v;
  }
  template <class Form>
  void OmitEmpty(const char* name, const std::string& v, Form) {
    if (!v.empty()) (*j_)[name] = Form::ToJson(v);
  }
  // Written only when `v` holds a value; absent reads as no value.
  template <class T>
  void OptionalValue(const char* name, const std::optional<T>& v) {
    if (v) (*j_)[name] = *v;
  }
  // A fixed value the reader does not look at.
  void Const(const char* name, const char* v) { (*j_)[name] = v; }
  void Version(const char* name, int v, int /*expected*/) { (*j_)[name] = v; }
  void VersionIn(const char* name, int v, int /*lo*/, int /*hi*/) { (*j_)[name] = v; }
  // A nested object; `fields(sub_archive)`.
  template <class F>
  void Object(const char* name, F&& fields) {
    json sub = json::object();
    JsonWriter w(&sub);
    fields(w);
    (*j_)[name] = std::move(sub);
  }
  // A nested object written only when `v` holds one; `fields(sub_archive, value)`.
  template <class T, class F>
  void Optional(const char* name, const std::optional<T>& v, F&& fields) {
    if (v) Object(name, [&](JsonWriter& w) { fields(w, *v); });
  }
  // The JSON encoders write what they are given: checks are for the reader.
  template <class W>
  void Check(bool, W&&) {}

 private:
  json* j_;
};

class JsonReader {
 public:
  // `max_string`: the longest plain string member, in bytes.
  explicit JsonReader(const json& j, size_t max_string = kMaxJsonStringBytes)
      : j_(j), max_string_(max_string) {}

  template <class T>
  void Field(const char* name, T& v) {
    Read(name, j_.at(name), v);
  }
  template <class T, class Form>
  void Field(const char* name, T& v, Form) {
    FromForm<Form>(name, j_.at(name), v);
  }
  template <class T>
  void Number(const char* name, T& v, T lo, T hi) {
    v = Integer<T>(name, j_.at(name), lo, hi);
  }
  void Defaulted(const char* name, std::string& v) { OmitEmpty(name, v); }
  void OmitEmpty(const char* name, std::string& v) {
    v.clear();
    if (j_.contains(name)) Read(name, j_.at(name), v);
  }
  template <class Form>
  void OmitEmpty(const char* name, std::string& v, Form) {
    v.clear();
    if (j_.contains(name)) FromForm<Form>(name, j_.at(name), v);
  }
  template <class T>
  void OptionalValue(const char* name, std::optional<T>& v) {
    v.reset();
    if (!j_.contains(name)) return;
    T value;
    Read(name, j_.at(name), value);
    v = std::move(value);
  }
  void Const(const char*, const char*) {}
  void Version(const char* name, int& v, int expected) {
    v = Integer<int>(name, j_.at(name), std::numeric_limits<int>::min(),
                     std::numeric_limits<int>::max());
    if (v != expected) throw UnsupportedVersion(v);
  }
  void VersionIn(const char* name, int& v, int lo, int hi) {
    v = Integer<int>(name, j_.at(name), std::numeric_limits<int>::min(),
                     std::numeric_limits<int>::max());
    if (v < lo || v > hi) throw UnsupportedVersion(v);
  }
  template <class F>
  void Object(const char* name, F&& fields) {
    JsonReader r(Obj(name, j_.at(name)), max_string_);
    fields(r);
  }
  template <class T, class F>
  void Optional(const char* name, std::optional<T>& v, F&& fields) {
    if (!j_.contains(name)) return;
    T value;
    JsonReader r(Obj(name, j_.at(name)), max_string_);
    fields(r, value);
    v = std::move(value);
  }
  template <class W>
  void Check(bool cond, W&& why) {
    if (cond) return;
    if constexpr (std::is_invocable_v<W>)
      throw BadField(std::string(why()));
    else
      throw BadField(std::string(why));
  }

 private:
  template <class>
  static constexpr bool kUnsupported = false;

  static const json& Obj(const char* name, const json& j) {
    if (!j.is_object()) throw BadField(std::string(name) + " is not an object");
    return j;
  }
  template <class Form, class T>
  static void FromForm(const char* name, const json& j, T& v) {
    if (Form::FromJson(j, &v)) return;
    if constexpr (requires { Form::kExpected; })
      throw BadField(std::string("bad ") + name + " (expected " + Form::kExpected + ")");
    else
      throw BadField(std::string("bad ") + name);
  }
  // An integer that fits T and lies in [lo, hi]; never a fraction, an
  // exponent or a value a cast would wrap.
  template <class T>
  static T Integer(const char* name, const json& j, T lo, T hi) {
    if (j.is_number_unsigned()) {
      const uint64_t u = j.get<uint64_t>();
      if (std::cmp_less_equal(lo, u) && std::cmp_less_equal(u, hi)) return static_cast<T>(u);
    } else if (j.is_number_integer()) {
      const int64_t i = j.get<int64_t>();
      if (std::cmp_less_equal(lo, i) && std::cmp_less_equal(i, hi)) return static_cast<T>(i);
    } else {
      throw BadField(std::string(name) + " is not an integer");
    }
    throw BadField(std::string(name) + " " + j.dump() + " is out of range " + std::to_string(lo) +
                   " to " + std::to_string(hi));
  }
  template <class T>
  void Read(const char* name, const json& j, T& v) const {
    if constexpr (std::is_same_v<T, bool>) {
      if (!j.is_boolean()) throw BadField(std::string(name) + " is not true or false");
      v = j.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      v = Integer<T>(name, j, std::numeric_limits<T>::min(), std::numeric_limits<T>::max());
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!j.is_number() || !std::isfinite(j.get<double>()))
        throw BadField(std::string(name) + " is not a finite number");
      v = j.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!j.is_string()) throw BadField(std::string(name) + " is not a string");
      const auto& s = j.get_ref<const std::string&>();
      if (s.size() > max_string_)
        throw BadField(std::string(name) + " of " + std::to_string(s.size()) +
                       " bytes is longer than " + std::to_string(max_string_) + " bytes");
      v = s;
    } else {
      static_assert(kUnsupported<T>, "JsonReader reads bool, integers, double and string");
    }
  }

  const json& j_;
  size_t max_string_;
};

}  // namespace dr::jsonfields
