// A minimal unit-test harness for the core's C++ tests (no external framework).
//
//   LF_TEST(name) { CHECK(cond); CHECK_NEAR(a, b, rtol, atol); CHECK_EQ(a, b); }
//
// Each test executable defines LF_TEST functions and includes this header once
// with LAWFIT_TEST_MAIN defined to get main().  `exe` runs every test,
// `exe word...` only the tests whose names contain one of the words, and
// `exe --list` prints the names.  The exit status is nonzero if any check failed.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace lft {

struct TestCase {
    const char* name;
    void (*fn)();
};

inline std::vector<TestCase>& registry() {
    static std::vector<TestCase> tests;
    return tests;
}

struct Counters {
    long checks = 0;
    long failures = 0;
    const char* current = "";
};
inline Counters& counters() {
    static Counters c;
    return c;
}

struct Registrar {
    Registrar(const char* name, void (*fn)()) { registry().push_back({name, fn}); }
};

inline bool report(bool ok, const char* file, int line, const std::string& what) {
    Counters& c = counters();
    ++c.checks;
    if (!ok) {
        ++c.failures;
        std::fprintf(stderr, "%s:%d: FAILED in %s: %s\n", file, line, c.current, what.c_str());
    }
    return ok;
}

inline std::string fmt(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
}

inline bool near(double a, double b, double rtol, double atol) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    if (a == b) return true;  // also equal infinities
    return std::fabs(a - b) <= atol + rtol * std::fabs(b);
}

// Distance in units in the last place between two finite doubles of any sign.
inline std::uint64_t ulp_distance(double a, double b) {
    auto key = [](double x) {
        std::int64_t i;
        std::memcpy(&i, &x, sizeof i);
        // Map the sign-magnitude bit patterns onto a monotone integer line.
        return i < 0 ? static_cast<std::int64_t>(0x8000000000000000ull - static_cast<std::uint64_t>(i)) : i;
    };
    const std::int64_t ka = key(a), kb = key(b);
    return ka > kb ? static_cast<std::uint64_t>(ka - kb) : static_cast<std::uint64_t>(kb - ka);
}

}  // namespace lft

#define LF_TEST(name)                                              \
    static void name();                                            \
    static const ::lft::Registrar name##_registrar(#name, &name); \
    static void name()

#define CHECK(cond) ::lft::report(static_cast<bool>(cond), __FILE__, __LINE__, #cond)

#define CHECK_EQ(a, b)                                                                           \
    ::lft::report((a) == (b), __FILE__, __LINE__,                                                \
                  std::string(#a " == " #b " (") + std::to_string(a) + " vs " + std::to_string(b) + ")")

#define CHECK_NEAR(a, b, rtol, atol)                                                        \
    ::lft::report(::lft::near((a), (b), (rtol), (atol)), __FILE__, __LINE__,                \
                  std::string(#a " ~ " #b " (") + ::lft::fmt(a) + " vs " + ::lft::fmt(b) + \
                      ", rtol " + ::lft::fmt(rtol) + ", atol " + ::lft::fmt(atol) + ")")

// Bit-for-bit equality of doubles (NaN equals NaN with the same payload).
#define CHECK_SAME_BITS(a, b)                                                                   \
    ::lft::report(::lft::ulp_distance((a), (b)) == 0 || ((a) != (a) && (b) != (b)), __FILE__, \
                  __LINE__, std::string(#a " bit-identical to " #b " (") + ::lft::fmt(a) +     \
                                " vs " + ::lft::fmt(b) + ")")

#ifdef LAWFIT_TEST_MAIN
int main(int argc, char** argv) {
    std::vector<const char*> filters;
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--list") == 0) {
            for (const auto& t : ::lft::registry()) std::printf("%s\n", t.name);
            return 0;
        }
        filters.push_back(argv[i]);
    }
    int run = 0, failed_tests = 0;
    for (const auto& t : ::lft::registry()) {
        bool selected = filters.empty();
        for (const char* f : filters) selected = selected || std::strstr(t.name, f) != nullptr;
        if (!selected) continue;
        ::lft::Counters& c = ::lft::counters();
        const long before = c.failures;
        c.current = t.name;
        t.fn();
        ++run;
        const bool ok = c.failures == before;
        failed_tests += !ok;
        std::printf("[%s] %s\n", ok ? "  ok  " : "FAILED", t.name);
    }
    const ::lft::Counters& c = ::lft::counters();
    std::printf("%d tests, %ld checks, %d failed tests, %ld failed checks\n", run, c.checks, failed_tests,
                c.failures);
    if (run == 0) {
        std::fprintf(stderr, "no test matched\n");
        return 2;
    }
    return failed_tests == 0 ? 0 : 1;
}
#endif
