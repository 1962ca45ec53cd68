/* SPDX-License-Identifier: MIT */
/* src/cli/duration.c */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>

#include "../src/cli/duration.h"

/* Every test is bounded: a hang fails it instead of the whole run. */
TestSuite(duration, .timeout = 30);

Test(duration, accepted)
{
        static const struct { const char *s; uint64_t ms; } ok[] = {
                { "500ms", 500 }, { "5s", 5000 }, { "2m", 120000 }, { "1h", 3600000 },
                { "3", 3000 }, { "0.5", 500 }, { "1.25s", 1250 }, { "0", 0 }, { "0ms", 0 },
                { "0.0015", 1 },
        };
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
                uint64_t ms = 12345;
                cr_assert_eq(duration_parse(ok[i].s, &ms), 0, "'%s' refused", ok[i].s);
                cr_assert_eq(ms, ok[i].ms, "'%s' gave %llu", ok[i].s, (unsigned long long)ms);
        }
}

Test(duration, refused)
{
        static const char *bad[] = {
                "", " 5s", "5s ", "-1", "+1", "5x", "5 s", ".5", "5.", "1.5.2", "ms", "s",
                "10mss", "5sec", "1d", "99999999999999999999x",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                uint64_t ms = 12345;
                cr_assert_eq(duration_parse(bad[i], &ms), -EINVAL, "'%s' accepted", bad[i]);
                cr_assert_eq(ms, 12345, "'%s' wrote the result", bad[i]);
        }
        cr_assert_eq(duration_parse(NULL, NULL), -EINVAL);
}

Test(duration, beyond_the_cap)
{
        static const char *big[] = { "99999999999999999999", "9000h", "527041m", "8784.001h" };
        uint64_t ms = 12345;

        for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
                cr_assert_eq(duration_parse(big[i], &ms), -ERANGE, "'%s' not ERANGE", big[i]);
                cr_assert_eq(ms, 12345, "'%s' wrote the result", big[i]);
        }
        cr_assert_eq(duration_parse("8784h", &ms), 0);
        cr_assert_eq(ms, DURATION_MAX_MS);
}
