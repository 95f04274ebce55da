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
// FromJson(const json&, T*)`. JsonReader throws: nlohmann's exceptions for a
// missing member or a wrong JSON type, BadField for a value a form or a Check
// refuses, UnsupportedVersion from Version. The decoders turn them into
// Corruption (InvalidArgument for the version). Internal to catalog/format.
#pragma once

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
  // Always written; absent (older objects) reads as "".
  void Defaulted(const char* name, const std::string& v) { (*j_)[name] = v; }
  // Written only when not empty; absent reads as "".
  void OmitEmpty(const char* name, const std::string& v) {
    if (!v.empty()) (*j_)[name] = v;
  }
  // Written only when `v` holds a value; absent reads as no value.
  template <class T>
  void OptionalValue(const char* name, const std::optional<T>& v) {
    if (v) (*j_)[name] = *v;
  }
  // A fixed value the reader does not look at.
  void Const(const char* name, const char* v) { (*j_)[name] = v; }
  void Version(const char* name, int v, int /*expected*/) { (*j_)[name] = v; }
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
  explicit JsonReader(const json& j) : j_(j) {}

  template <class T>
  void Field(const char* name, T& v) {
    v = j_.at(name).template get<T>();
  }
  template <class T, class Form>
  void Field(const char* name, T& v, Form) {
    if (!Form::FromJson(j_.at(name), &v)) throw BadField(std::string("bad ") + name);
  }
  void Defaulted(const char* name, std::string& v) { v = j_.value(name, ""); }
  void OmitEmpty(const char* name, std::string& v) { v = j_.value(name, ""); }
  template <class T>
  void OptionalValue(const char* name, std::optional<T>& v) {
    if (j_.contains(name)) v = j_.at(name).template get<T>();
  }
  void Const(const char*, const char*) {}
  void Version(const char* name, int& v, int expected) {
    v = j_.at(name).get<int>();
    if (v != expected) throw UnsupportedVersion(v);
  }
  template <class F>
  void Object(const char* name, F&& fields) {
    JsonReader r(j_.at(name));
    fields(r);
  }
  template <class T, class F>
  void Optional(const char* name, std::optional<T>& v, F&& fields) {
    if (!j_.contains(name)) return;
    T value;
    JsonReader r(j_.at(name));
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
  const json& j_;
};

}  // namespace dr::jsonfields
