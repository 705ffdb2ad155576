/*
 * aigw fuzzing: clang 14 knows no "sha" feature for
 * __builtin_cpu_supports() (GCC does), so src/aigw_sha256.c is compiled for
 * the fuzzers with this header forced in (-include): the check becomes a
 * CPUID query, and the SHA-NI rounds are still exercised where the CPU has
 * them.
 */

#ifndef _AIGW_FUZZ_COMPAT_CPU_H_INCLUDED_
#define _AIGW_FUZZ_COMPAT_CPU_H_INCLUDED_

#if defined(__clang__) && (defined(__x86_64__) || defined(__i386__))

#include <cpuid.h>
#include <string.h>


static inline int
aigw_fuzz_cpu_supports(const char *f)
{
    unsigned  a, b, c, d;

    if (strcmp(f, "sha") == 0) {
        if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
            return 0;
        }

        return (b >> 29) & 1;
    }

    if (strcmp(f, "sse4.1") == 0) {
        if (!__get_cpuid(1, &a, &b, &c, &d)) {
            return 0;
        }

        return (c >> 19) & 1;
    }

    return 0;
}


#define __builtin_cpu_supports(f)  aigw_fuzz_cpu_supports(f)

#endif

#endif /* _AIGW_FUZZ_COMPAT_CPU_H_INCLUDED_ */
