#pragma once

// std::expected for compilers whose <expected> is empty: only the fuzz build
// (clang 14 with libstdc++ 12, whose <expected> needs C++20 conditionally
// trivial special members that clang 14 lacks) ever includes this file;
// g++ 12 and any compiler that defines __cpp_lib_expected use the real one.
// common/error.h decides.
//
// It provides the part of C++23's <expected> that libstdc++ 12 ships (no
// monadic and_then/transform: those came with GCC 13, so the code base cannot
// use them either): std::expected<T, E>, std::expected<void, E>,
// std::unexpected (with its deduction guide), std::unexpect_t / unexpect and
// std::bad_expected_access. Storage is a std::variant, which gives the right
// copy/move/destroy behaviour without the language feature clang 14 lacks.
// Declaring these in namespace std is what a standard library does; it is
// done here only where the standard library did not.

#include <exception>
#include <initializer_list>
#include <type_traits>
#include <utility>
#include <variant>

namespace std {

template <typename E>
class unexpected {
 public:
  constexpr unexpected(const unexpected&) = default;
  constexpr unexpected(unexpected&&) = default;
  template <typename Err = E>
    requires(!is_same_v<remove_cvref_t<Err>, unexpected> &&
             !is_same_v<remove_cvref_t<Err>, in_place_t> && is_constructible_v<E, Err>)
  constexpr explicit unexpected(Err&& e) : error_(std::forward<Err>(e)) {}
  template <typename... Args>
  constexpr explicit unexpected(in_place_t, Args&&... args) : error_(std::forward<Args>(args)...) {}

  constexpr unexpected& operator=(const unexpected&) = default;
  constexpr unexpected& operator=(unexpected&&) = default;

  constexpr const E& error() const& noexcept { return error_; }
  constexpr E& error() & noexcept { return error_; }
  constexpr const E&& error() const&& noexcept { return std::move(error_); }
  constexpr E&& error() && noexcept { return std::move(error_); }

  template <typename E2>
  friend constexpr bool operator==(const unexpected& x, const unexpected<E2>& y) {
    return x.error() == y.error();
  }

 private:
  E error_;
};

template <typename E>
unexpected(E) -> unexpected<E>;

struct unexpect_t {
  explicit unexpect_t() = default;
};
inline constexpr unexpect_t unexpect{};

template <typename E>
class bad_expected_access;

template <>
class bad_expected_access<void> : public exception {
 public:
  const char* what() const noexcept override { return "bad access to std::expected without expected value"; }
};

template <typename E>
class bad_expected_access : public bad_expected_access<void> {
 public:
  explicit bad_expected_access(E e) : error_(std::move(e)) {}
  const E& error() const& noexcept { return error_; }
  E& error() & noexcept { return error_; }
  E&& error() && noexcept { return std::move(error_); }

 private:
  E error_;
};

template <typename T, typename E>
class expected;

namespace expected_compat_detail {
template <typename T>
inline constexpr bool is_expected = false;
template <typename T, typename E>
inline constexpr bool is_expected<expected<T, E>> = true;
template <typename T>
inline constexpr bool is_unexpected = false;
template <typename E>
inline constexpr bool is_unexpected<unexpected<E>> = true;
}  // namespace expected_compat_detail

template <typename T, typename E>
class expected {
 public:
  using value_type = T;
  using error_type = E;
  using unexpected_type = unexpected<E>;

  constexpr expected()
    requires is_default_constructible_v<T>
      : v_(in_place_index<0>) {}
  constexpr expected(const expected&) = default;
  constexpr expected(expected&&) = default;

  template <typename U = T>
    requires(!is_same_v<remove_cvref_t<U>, in_place_t> && !is_same_v<remove_cvref_t<U>, expected> &&
             !expected_compat_detail::is_unexpected<remove_cvref_t<U>> &&
             !is_same_v<remove_cvref_t<U>, unexpect_t> && is_constructible_v<T, U>)
  constexpr explicit(!is_convertible_v<U, T>) expected(U&& v) : v_(in_place_index<0>, std::forward<U>(v)) {}

  template <typename U, typename G>
    requires(!is_same_v<expected<U, G>, expected> && is_constructible_v<T, const U&> &&
             is_constructible_v<E, const G&>)
  constexpr explicit(!is_convertible_v<const U&, T> || !is_convertible_v<const G&, E>)
      expected(const expected<U, G>& other)
      : v_(other.has_value() ? variant<T, E>(in_place_index<0>, *other)
                             : variant<T, E>(in_place_index<1>, other.error())) {}

  template <typename U, typename G>
    requires(!is_same_v<expected<U, G>, expected> && is_constructible_v<T, U> && is_constructible_v<E, G>)
  constexpr explicit(!is_convertible_v<U, T> || !is_convertible_v<G, E>) expected(expected<U, G>&& other)
      : v_(other.has_value() ? variant<T, E>(in_place_index<0>, std::move(*other))
                             : variant<T, E>(in_place_index<1>, std::move(other).error())) {}

  template <typename G>
    requires is_constructible_v<E, const G&>
  constexpr explicit(!is_convertible_v<const G&, E>) expected(const unexpected<G>& u)
      : v_(in_place_index<1>, u.error()) {}
  template <typename G>
    requires is_constructible_v<E, G>
  constexpr explicit(!is_convertible_v<G, E>) expected(unexpected<G>&& u)
      : v_(in_place_index<1>, std::move(u).error()) {}

  template <typename... Args>
  constexpr explicit expected(in_place_t, Args&&... args) : v_(in_place_index<0>, std::forward<Args>(args)...) {}
  template <typename U, typename... Args>
  constexpr explicit expected(in_place_t, initializer_list<U> il, Args&&... args)
      : v_(in_place_index<0>, il, std::forward<Args>(args)...) {}
  template <typename... Args>
  constexpr explicit expected(unexpect_t, Args&&... args) : v_(in_place_index<1>, std::forward<Args>(args)...) {}

  constexpr expected& operator=(const expected&) = default;
  constexpr expected& operator=(expected&&) = default;

  template <typename U = T>
    requires(!is_same_v<remove_cvref_t<U>, expected> && !expected_compat_detail::is_unexpected<remove_cvref_t<U>> &&
             is_constructible_v<T, U> && is_assignable_v<T&, U>)
  constexpr expected& operator=(U&& v) {
    if (has_value()) {
      std::get<0>(v_) = std::forward<U>(v);
    } else {
      v_.template emplace<0>(std::forward<U>(v));
    }
    return *this;
  }
  template <typename G>
  constexpr expected& operator=(const unexpected<G>& u) {
    v_.template emplace<1>(u.error());
    return *this;
  }
  template <typename G>
  constexpr expected& operator=(unexpected<G>&& u) {
    v_.template emplace<1>(std::move(u).error());
    return *this;
  }

  template <typename... Args>
  constexpr T& emplace(Args&&... args) {
    return v_.template emplace<0>(std::forward<Args>(args)...);
  }

  constexpr void swap(expected& other) { v_.swap(other.v_); }
  friend constexpr void swap(expected& x, expected& y) { x.swap(y); }

  constexpr bool has_value() const noexcept { return v_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }

  constexpr const T* operator->() const noexcept { return std::get_if<0>(&v_); }
  constexpr T* operator->() noexcept { return std::get_if<0>(&v_); }
  constexpr const T& operator*() const& noexcept { return *std::get_if<0>(&v_); }
  constexpr T& operator*() & noexcept { return *std::get_if<0>(&v_); }
  constexpr const T&& operator*() const&& noexcept { return std::move(*std::get_if<0>(&v_)); }
  constexpr T&& operator*() && noexcept { return std::move(*std::get_if<0>(&v_)); }

  constexpr const T& value() const& {
    if (!has_value()) throw bad_expected_access<E>(error());
    return **this;
  }
  constexpr T& value() & {
    if (!has_value()) throw bad_expected_access<E>(error());
    return **this;
  }
  constexpr const T&& value() const&& {
    if (!has_value()) throw bad_expected_access<E>(std::move(error()));
    return std::move(**this);
  }
  constexpr T&& value() && {
    if (!has_value()) throw bad_expected_access<E>(std::move(error()));
    return std::move(**this);
  }

  constexpr const E& error() const& noexcept { return *std::get_if<1>(&v_); }
  constexpr E& error() & noexcept { return *std::get_if<1>(&v_); }
  constexpr const E&& error() const&& noexcept { return std::move(*std::get_if<1>(&v_)); }
  constexpr E&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

  template <typename U>
  constexpr T value_or(U&& v) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(v));
  }
  template <typename U>
  constexpr T value_or(U&& v) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(v));
  }

  template <typename T2, typename E2>
    requires(!is_void_v<T2>)
  friend constexpr bool operator==(const expected& x, const expected<T2, E2>& y) {
    if (x.has_value() != y.has_value()) return false;
    return x.has_value() ? *x == *y : x.error() == y.error();
  }
  template <typename T2>
    requires(!expected_compat_detail::is_expected<T2>)
  friend constexpr bool operator==(const expected& x, const T2& v) {
    return x.has_value() && *x == v;
  }
  template <typename E2>
  friend constexpr bool operator==(const expected& x, const unexpected<E2>& e) {
    return !x.has_value() && x.error() == e.error();
  }

 private:
  variant<T, E> v_;
};

template <typename E>
class expected<void, E> {
 public:
  using value_type = void;
  using error_type = E;
  using unexpected_type = unexpected<E>;

  constexpr expected() noexcept : v_(in_place_index<0>) {}
  constexpr expected(const expected&) = default;
  constexpr expected(expected&&) = default;
  constexpr explicit expected(in_place_t) noexcept : v_(in_place_index<0>) {}

  template <typename G>
    requires is_constructible_v<E, const G&>
  constexpr explicit(!is_convertible_v<const G&, E>) expected(const unexpected<G>& u)
      : v_(in_place_index<1>, u.error()) {}
  template <typename G>
    requires is_constructible_v<E, G>
  constexpr explicit(!is_convertible_v<G, E>) expected(unexpected<G>&& u)
      : v_(in_place_index<1>, std::move(u).error()) {}
  template <typename... Args>
  constexpr explicit expected(unexpect_t, Args&&... args) : v_(in_place_index<1>, std::forward<Args>(args)...) {}

  template <typename G>
    requires(!is_same_v<G, E> && is_constructible_v<E, const G&>)
  constexpr explicit(!is_convertible_v<const G&, E>) expected(const expected<void, G>& other)
      : v_(other.has_value() ? variant<monostate, E>(in_place_index<0>)
                             : variant<monostate, E>(in_place_index<1>, other.error())) {}

  constexpr expected& operator=(const expected&) = default;
  constexpr expected& operator=(expected&&) = default;
  template <typename G>
  constexpr expected& operator=(const unexpected<G>& u) {
    v_.template emplace<1>(u.error());
    return *this;
  }
  template <typename G>
  constexpr expected& operator=(unexpected<G>&& u) {
    v_.template emplace<1>(std::move(u).error());
    return *this;
  }

  constexpr void emplace() noexcept { v_.template emplace<0>(); }
  constexpr void swap(expected& other) { v_.swap(other.v_); }
  friend constexpr void swap(expected& x, expected& y) { x.swap(y); }

  constexpr bool has_value() const noexcept { return v_.index() == 0; }
  constexpr explicit operator bool() const noexcept { return has_value(); }
  constexpr void operator*() const noexcept {}

  constexpr void value() const& {
    if (!has_value()) throw bad_expected_access<E>(error());
  }
  constexpr void value() && {
    if (!has_value()) throw bad_expected_access<E>(std::move(error()));
  }

  constexpr const E& error() const& noexcept { return *std::get_if<1>(&v_); }
  constexpr E& error() & noexcept { return *std::get_if<1>(&v_); }
  constexpr const E&& error() const&& noexcept { return std::move(*std::get_if<1>(&v_)); }
  constexpr E&& error() && noexcept { return std::move(*std::get_if<1>(&v_)); }

  template <typename E2>
  friend constexpr bool operator==(const expected& x, const expected<void, E2>& y) {
    if (x.has_value() != y.has_value()) return false;
    return x.has_value() || x.error() == y.error();
  }
  template <typename E2>
  friend constexpr bool operator==(const expected& x, const unexpected<E2>& e) {
    return !x.has_value() && x.error() == e.error();
  }

 private:
  variant<monostate, E> v_;
};

}  // namespace std
