#pragma once
namespace thrust {
template <class T>
class counting_iterator {
 public:
  explicit counting_iterator(T start) : start_(start) {}
  T operator[](long long i) const { return static_cast<T>(start_ + i); }

 private:
  T start_;
};
}  // namespace thrust
